import pytest

from lanternlm.config import RunConfig, apply_overrides, load_config_file, preset_names, resolve_config
from lanternlm.errors import LanternError


def test_presets_load_and_validate():
    assert "shakespeare-char-cpu" in preset_names()
    for name in preset_names():
        resolve_config(name)


def test_baby_preset_is_nanogpt_cpu_config():
    c = resolve_config("shakespeare-char-cpu")
    assert (c.model.n_layer, c.model.n_head, c.model.n_embd, c.model.block_size) == (4, 4, 128, 64)
    assert (c.train.batch_size, c.train.max_iters, c.train.learning_rate, c.train.min_lr) == (12, 2000, 1e-3, 1e-4)
    assert (c.train.warmup_iters, c.train.beta2, c.train.weight_decay, c.train.grad_clip) == (100, 0.99, 0.1, 1.0)
    assert (c.train.eval_interval, c.train.eval_iters, c.model.dropout) == (250, 20, 0.0)


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
