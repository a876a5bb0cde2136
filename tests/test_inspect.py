"""`lantern inspect params`: counts equal the built model's (and transformers' for GPT-2/Llama/Mixtral), the
GPT-3 shape gives the textbook figures, and the command prints them."""

import pytest
import torch

from lanternlm.cli import main
from lanternlm.config import ModelConfig, resolve_config
from lanternlm.inspect.params import count_parameters, flops_per_token, kv_cache_bytes_per_token, matmul_parameters
from lanternlm.models import build_model

OPTION_SETS = [{}, {"position": "rope", "norm": "rmsnorm", "activation": "swiglu", "n_kv_head": 2, "bias": False,
                    "tie_embeddings": False, "qk_norm": True},
               {"position": "sinusoidal", "norm_placement": "post", "d_ff": 40},
               {"position": "alibi", "n_kv_head": 1, "norm": "rmsnorm"},
               {"position": "none", "n_expert": 4, "n_expert_active": 2, "activation": "swiglu", "bias": False}]


@pytest.mark.parametrize("options", OPTION_SETS)
def test_counts_equal_the_built_model(options):
    config = ModelConfig(vocab_size=50, block_size=16, n_layer=2, n_head=4, n_embd=32, **options)
    counts = count_parameters(config)
    model = build_model(config)
    assert counts.total == sum(p.numel() for p in model.parameters())
    attention = sum(p.numel() for n, p in model.named_parameters() if ".attn." in n)
    mlp = sum(p.numel() for n, p in model.named_parameters() if ".mlp." in n)
    assert (counts.attention, counts.mlp) == (attention, mlp)


def test_counts_equal_transformers():
    transformers = pytest.importorskip("transformers")
    from lanternlm.interop.hf_families import FAMILIES

    shapes = {"gpt2": transformers.GPT2Config(),  # the real 124M shape
              "llama": transformers.LlamaConfig(vocab_size=32000, hidden_size=512, intermediate_size=1376,
                                                num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2),
              "mixtral": transformers.MixtralConfig(vocab_size=32000, hidden_size=256, intermediate_size=512,
                                                    num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=2,
                                                    num_local_experts=8)}
    for name, hf_config in shapes.items():
        with torch.device("meta"):  # shapes only, no memory
            hf = transformers.AutoModelForCausalLM.from_config(hf_config)
        family = FAMILIES[name]
        ours = ModelConfig(**{**{k: v for k, v in family.fixed.items() if not isinstance(v, tuple)
                                 and k in ModelConfig.__dataclass_fields__}, **family.from_hf(hf_config.to_dict())})
        assert count_parameters(ours).total == hf.num_parameters(), name
    assert count_parameters(resolve_config("gpt2").model).total == 124_439_808


def test_gpt3_shape():
    gpt3 = ModelConfig(vocab_size=50257, block_size=2048, n_layer=96, n_head=96, n_embd=12288)
    assert kv_cache_bytes_per_token(gpt3, "float16") == 2 * 96 * 96 * 128 * 2 == 4_718_592  # ≈ 4.7 MB
    counts = count_parameters(gpt3)
    assert abs(counts.total - 175e9) / 175e9 < 0.01
    assert abs(counts.attention / (counts.attention + counts.mlp) - 1 / 3) < 0.001
    forward, training = flops_per_token(gpt3)
    assert training == 3 * forward
    assert abs(training - 6 * matmul_parameters(gpt3)) / training < 0.05  # attention term is small at T=2048


def test_gqa_shrinks_the_kv_cache():
    mha = ModelConfig(vocab_size=10, n_head=8, n_embd=512)
    assert kv_cache_bytes_per_token(mha, "float32") == 4 * kv_cache_bytes_per_token(ModelConfig(
        vocab_size=10, n_head=8, n_kv_head=2, n_embd=512), "float32")


def test_command_prints_breakdown(capsys, tmp_path):
    assert main(["inspect", "params", "--preset", "gpt2", "--dtype", "float16"]) == 0
    out = capsys.readouterr().out
    assert "124,439,808" in out and "73,728 bytes per token" not in out and "36,864 bytes per token" in out
    for part in ("embedding", "attention", "MLP", "norms", "LM head (tied)", "2·|V|·d", "6N + 12·L·T·d"):
        assert part in out
    config = tmp_path / "c.toml"
    config.write_text(resolve_config("tiny-mixtral").to_toml())
    assert main(["inspect", "params", str(config), "--set", "n_layer=3"]) == 0
    out = capsys.readouterr().out
    assert "3 layers" in out and "assuming 65" in out and "active parameters" in out


@pytest.mark.parametrize("args, message", [(["--preset", "gpt2", "--dtype", "float8"], "--dtype must be"),
                                           ([], "give a config file"),
                                           (["--preset", "gpt2", "--set", "n_kv_head=5"], "divisible")])
def test_command_errors(capsys, args, message):
    assert main(["inspect", "params", *args]) == 2
    assert message in capsys.readouterr().err
