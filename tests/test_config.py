import pytest

from lanternlm.config import RunConfig, apply_overrides, load_config_file, preset_names, resolve_config
from lanternlm.errors import LanternError


def test_presets_load_and_validate():
    assert "shakespeare-char-cpu" in preset_names()
    for name in preset_names():
        resolve_config(name)


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_builds_the_model_its_sizing_describes(name):
    """The parameter count `lantern inspect params` computes from a preset equals the built model's."""
    import torch

    from lanternlm.inspect.params import count_parameters
    from lanternlm.models import build_model

    c = resolve_config(name)
    c.model.vocab_size = c.model.vocab_size or 65
    with torch.device("meta"):  # shapes only: a 124M-parameter preset costs nothing
        model = build_model(c.model)
    assert model.num_parameters() == count_parameters(c.model).total


def test_baby_preset_is_the_readme_model():
    """The README promises a 4-layer, 4-head, 128-dim, 0.8 M-parameter model over 2,000 steps."""
    import torch

    from lanternlm.models import build_model

    c = resolve_config("shakespeare-char-cpu")
    c.model.vocab_size = 65  # Tiny Shakespeare's characters
    with torch.device("meta"):
        params = build_model(c.model).num_parameters()
    assert round(params / 1e6, 1) == 0.8 and c.train.max_iters == 2000
    assert (c.model.n_layer, c.model.n_head, c.model.n_embd) == (4, 4, 128)


def test_overrides_bare_and_dotted_keys():
    c = apply_overrides(RunConfig(), ["n_layer=3", "train.learning_rate=3e-4", "bias=false", "max_iters=1e3",
                                      "data.input=a.txt,b.txt"])
    assert c.model.n_layer == 3 and c.train.learning_rate == 3e-4 and c.model.bias is False
    assert c.train.max_iters == 1000 and c.data.input == ["a.txt", "b.txt"]


@pytest.mark.parametrize("item, message", [("n_layers=3", "unknown config key"), ("n_layer=three", "expected int"),
                                           ("n_layer=2.5", "expected int"), ("bias=maybe", "expected bool"),
                                           ("n_layer", "key=value")])
def test_bad_overrides(item, message):
    with pytest.raises(LanternError, match=message):
        apply_overrides(RunConfig(), [item])


def test_validation_errors():
    with pytest.raises(LanternError, match="divisible"):
        resolve_config(overrides=["n_embd=100", "n_head=3"])
    with pytest.raises(LanternError, match="unknown preset"):
        resolve_config("nope")


def test_toml_round_trip(tmp_path):
    c = resolve_config("shakespeare-char-cpu", overrides=["data.input=x y.txt", 'data.tokenizer=a"b'])
    path = tmp_path / "config.toml"
    path.write_text(c.to_toml())
    assert load_config_file(path) == c
