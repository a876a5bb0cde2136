"""Lantern == Hugging Face transformers: GPT-2, Llama (grouped-query attention), Mistral (sliding window) and
Mixtral (mixture of experts), built small with random weights; import -> same logits; export -> transformers
loads it -> same logits again. Plus the MoE auxiliary loss against transformers' own function."""

import json
import warnings

import pytest
import torch

transformers = pytest.importorskip("transformers")

from conftest import randomise  # noqa: E402
from lanternlm.cli import main  # noqa: E402
from lanternlm.config import ModelConfig, RunConfig  # noqa: E402
from lanternlm.errors import LanternError  # noqa: E402
from lanternlm.models import build_model  # noqa: E402
from lanternlm.interop import export_hf, import_hf  # noqa: E402
from lanternlm.interop.hf import load_hf_model  # noqa: E402
from lanternlm.runs import load_run, load_run_config, save_weights  # noqa: E402

TOL = 1e-4


pytestmark = pytest.mark.usefixtures("one_thread")

LLAMA_SHAPE = dict(vocab_size=97, hidden_size=48, intermediate_size=80, num_hidden_layers=2, num_attention_heads=6,
                   num_key_value_heads=2, max_position_embeddings=64, rope_theta=500.0, rms_norm_eps=1e-5)


def gpt2():
    return transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=97, n_positions=64, n_embd=48, n_layer=2, n_head=4, bos_token_id=0, eos_token_id=0))


def llama():
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(**LLAMA_SHAPE))


def mistral():
    return transformers.MistralForCausalLM(transformers.MistralConfig(**LLAMA_SHAPE, sliding_window=7))


def mixtral():
    return transformers.MixtralForCausalLM(transformers.MixtralConfig(
        **LLAMA_SHAPE, num_local_experts=4, num_experts_per_tok=2, sliding_window=None))


def hf_logits(model, idx):
    with torch.no_grad():
        return model(idx).logits


@pytest.mark.parametrize("make", [gpt2, llama, mistral, mixtral], ids=["gpt2", "llama-gqa", "mistral", "mixtral"])
def test_import_export_round_trip_matches_transformers(make, tmp_path):
    hf = randomise(make())
    hf.save_pretrained(tmp_path / "hf")
    idx = torch.randint(97, (3, 20), generator=torch.Generator().manual_seed(1))
    expected = hf_logits(hf, idx)

    family, ours = load_hf_model(tmp_path / "hf")
    assert family.model_type == hf.config.model_type
    with torch.no_grad():
        got = ours(idx).logits
    assert (got - expected).abs().max().item() <= TOL

    import_hf(tmp_path / "hf", tmp_path / "run")
    config = load_run_config(tmp_path / "run").model
    assert config.kv_heads == getattr(hf.config, "num_key_value_heads", config.n_head)
    export_hf(tmp_path / "run", tmp_path / "back")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "back").eval()
    assert type(again) is type(hf)
    assert (hf_logits(again, idx) - expected).abs().max().item() <= TOL


def test_gpt2_tokenizer_travels_and_sample_runs(tmp_path, shared_data):
    hf = randomise(transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=50257, n_positions=32, n_embd=16, n_layer=1, n_head=2)))
    hf.save_pretrained(tmp_path / "hf")
    (tmp_path / "hf" / "vocab.json").write_bytes(shared_data("tokenizers/gpt2_encoder.json").read_bytes())
    (tmp_path / "hf" / "merges.txt").write_bytes(shared_data("tokenizers/gpt2_vocab.bpe").read_bytes())
    reference = transformers.GPT2TokenizerFast(str(tmp_path / "hf" / "vocab.json"), str(tmp_path / "hf" / "merges.txt"))

    family, has_tokenizer = import_hf(tmp_path / "hf", tmp_path / "run")
    assert has_tokenizer
    run = load_run(tmp_path / "run")
    text = "Hello world, it's 2024!\n  Spaces  and ünïcode."
    assert run.tokenizer.encode(text) == reference(text)["input_ids"]

    export_hf(tmp_path / "run", tmp_path / "back")
    exported = transformers.AutoTokenizer.from_pretrained(tmp_path / "back")
    assert exported(text)["input_ids"] == reference(text)["input_ids"]
    assert main(["sample", str(tmp_path / "run"), "-p", "Hello", "-n", "3", "--seed", "1"]) == 0

    # the same vocabulary as a `tokenizers` tokenizer.json only (no vocab.json / merges.txt)
    reference.save_pretrained(tmp_path / "tj")
    for name in ("vocab.json", "merges.txt"):
        (tmp_path / "tj" / name).unlink(missing_ok=True)
    for name in ("config.json", "model.safetensors"):
        (tmp_path / "tj" / name).write_bytes((tmp_path / "hf" / name).read_bytes())
    import_hf(tmp_path / "tj", tmp_path / "run2")
    assert load_run(tmp_path / "run2").tokenizer.encode(text) == reference(text)["input_ids"]


def test_convert_commands(tmp_path, capsys):
    randomise(llama()).save_pretrained(tmp_path / "hf")
    assert main(["convert", "from-hf", str(tmp_path / "hf"), "--out", str(tmp_path / "run")]) == 0
    assert "imported LlamaForCausalLM without a tokenizer" in capsys.readouterr().out
    assert main(["convert", "to-hf", str(tmp_path / "run"), "--out", str(tmp_path / "back")]) == 0
    assert {"config.json", "model.safetensors"} <= {p.name for p in (tmp_path / "back").iterdir()}
    assert main(["convert", "to-hf", str(tmp_path / "run"), "--out", str(tmp_path / "back")]) == 2
    assert "not empty" in capsys.readouterr().err

    config = RunConfig(model=ModelConfig(vocab_size=20, block_size=16, n_layer=1, n_head=2, n_embd=8, position="alibi"))
    (tmp_path / "alibi").mkdir()
    (tmp_path / "alibi" / "config.toml").write_text(config.to_toml())
    save_weights(build_model(config.model), tmp_path / "alibi" / "model.safetensors")
    assert main(["convert", "to-hf", str(tmp_path / "alibi"), "--out", str(tmp_path / "x")]) == 2
    assert "no Hugging Face equivalent: position='alibi'" in capsys.readouterr().err


def test_mixtral_router_and_aux_loss_equal_transformers(tmp_path):
    from transformers.models.mixtral.modeling_mixtral import load_balancing_loss_func

    hf = randomise(transformers.MixtralForCausalLM(transformers.MixtralConfig(
        **{**LLAMA_SHAPE, "num_hidden_layers": 1}, num_local_experts=4, num_experts_per_tok=2)))
    hf.save_pretrained(tmp_path / "hf")
    idx = torch.randint(97, (2, 16), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = load_balancing_loss_func(hf(idx, output_router_logits=True).router_logits, 4, 2)
        _, ours = load_hf_model(tmp_path / "hf")
        out = ours(idx)
    assert abs(out.aux_loss.item() - expected.item()) < 1e-5
    assert out.expert_load.shape == (1, 4) and abs(out.expert_load.sum().item() - 1) < 1e-6


def test_bad_hf_directories(tmp_path):
    with pytest.raises(LanternError, match="no config.json"):
        load_hf_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5"}))
    with pytest.raises(LanternError, match="unsupported model family 't5'"):
        load_hf_model(tmp_path)

    hf = randomise(llama())
    hf.save_pretrained(tmp_path / "hf")
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    (tmp_path / "hf" / "config.json").write_text(json.dumps({**config, "intermediate_size": 96}))
    with pytest.raises(LanternError, match="shapes do not match its config.json"):
        load_hf_model(tmp_path / "hf")
