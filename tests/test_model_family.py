"""The model family: every option (positions x norms x activations x attention kinds, plus MoE) is correct on
its own (formula or an independent PyTorch reference), the reference and fused attention paths agree, the KV
cache reproduces the full forward pass, and every combination trains on Tiny Shakespeare."""

import math
from itertools import cycle

import pytest
import torch
import torch.nn.functional as F

from lanternlm import nn
from lanternlm.config import ACTIVATION_NAMES, ModelConfig, RunConfig, apply_overrides
from lanternlm.data.text import bundled_corpus_path
from lanternlm.errors import LanternError
from lanternlm.models import build_model
from lanternlm.nn import (FeedForward, GroupedQueryAttention, MoEFeedForward, RMSNorm, RotaryEmbedding,
                          SinusoidalPositionalEncoding, alibi_bias, alibi_slopes)
from lanternlm.runs import load_weights, save_weights
from lanternlm.tokenizers import CharTokenizer

POSITIONS = ["learned", "sinusoidal", "rope", "alibi", "none"]
ACTIVATIONS = ["gelu", "gelu_tanh", "relu", "silu", "swiglu"]
KINDS = {"multi-head": 0, "multi-query": 1, "grouped-query": 2}  # n_kv_head for n_head = 4


def combinations():
    """Every (position, activation) pair once, with norm, placement, attention kind and the smaller switches
    cycling through all their values; plus three mixture-of-experts models."""
    norms = cycle([("layernorm", "pre"), ("rmsnorm", "pre"), ("layernorm", "post"), ("rmsnorm", "post")])
    kinds, flags = cycle(KINDS.values()), cycle([(False, 0, True), (True, 5, False), (False, 0, False)])
    combos = []
    for position in POSITIONS:
        for activation in ACTIVATIONS:
            norm, placement = next(norms)
            qk_norm, window, bias = next(flags)
            combos.append(dict(position=position, activation=activation, norm=norm, norm_placement=placement,
                               n_kv_head=next(kinds), qk_norm=qk_norm, sliding_window=window, bias=bias,
                               tie_embeddings=bias))
    for position, kv in (("rope", 2), ("learned", 0), ("alibi", 1)):
        combos.append(dict(position=position, activation="swiglu", norm="rmsnorm", n_kv_head=kv, n_expert=4,
                           n_expert_active=2, bias=False, tie_embeddings=False))
    return combos


COMBOS = combinations()


pytestmark = pytest.mark.usefixtures("one_thread")


def combo_id(c):
    parts = [c["position"], c["activation"], c["norm"], c.get("norm_placement", "pre")]
    return "-".join(parts + ([f"moe{c['n_expert']}"] if c.get("n_expert") else []))


def tiny(**kw):
    return ModelConfig(**{"vocab_size": 65, "block_size": 32, "n_layer": 2, "n_head": 4, "n_embd": 32, **kw})


def test_matrix_covers_every_option_value():
    assert set(ACTIVATIONS) == set(ACTIVATION_NAMES) == set(nn.ACTIVATIONS)  # config, nn and this test agree
    for key, values in [("position", POSITIONS), ("activation", ACTIVATIONS), ("norm", ["layernorm", "rmsnorm"]),
                        ("norm_placement", ["pre", "post"]), ("n_kv_head", list(KINDS.values())),
                        ("qk_norm", [False, True]), ("sliding_window", [0, 5]), ("bias", [False, True])]:
        assert {c.get(key, ModelConfig().__getattribute__(key)) for c in COMBOS} >= set(values), key


# ------------------------------------------------------------------------------------------- attention
@pytest.mark.parametrize("n_kv_head", list(KINDS.values()), ids=list(KINDS))
@pytest.mark.parametrize("extra", [{}, {"qk_norm": True}, {"sliding_window": 3}, {"alibi": True},
                                   {"rotary": True, "sliding_window": 4}],
                         ids=["plain", "qk-norm", "window", "alibi", "rope-window"])
def test_reference_path_equals_fused_path(n_kv_head, extra):
    torch.manual_seed(0)
    kw = dict(extra)
    if kw.pop("rotary", False):
        kw["rotary"] = RotaryEmbedding(8, 16)
    attn = GroupedQueryAttention(32, 4, n_kv_head or 4, **kw).eval()
    x = torch.randn(2, 11, 32)
    fused, none = attn(x)
    ref, weights = attn(x, return_attention=True)
    assert none is None and weights.shape == (2, 4, 11, 11)
    torch.testing.assert_close(fused, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 11))
    assert torch.all(weights.triu(diagonal=1) == 0)
    if extra.get("sliding_window"):
        assert torch.all(weights.tril(diagonal=-extra["sliding_window"]) == 0)  # nothing beyond the window


def test_grouped_query_heads_share_keys_and_values():
    """GQA = MHA whose K/V heads are copied to their query group (the definition, built by hand)."""
    torch.manual_seed(0)
    gqa = GroupedQueryAttention(32, 4, 2, bias=False).eval()
    mha = GroupedQueryAttention(32, 4, 4, bias=False).eval()
    wq, wk, wv = gqa.c_attn.weight.split([32, 16, 16])
    repeat = lambda w: w.view(2, 8, 32).repeat_interleave(2, dim=0).reshape(32, 32)  # noqa: E731
    with torch.no_grad():
        mha.c_attn.weight.copy_(torch.cat([wq, repeat(wk), repeat(wv)]))
        mha.c_proj.weight.copy_(gqa.c_proj.weight)
    x = torch.randn(2, 9, 32)
    torch.testing.assert_close(gqa(x)[0], mha(x)[0], atol=1e-6, rtol=0)


def test_attention_dropout_is_active_only_in_training():
    torch.manual_seed(0)
    attn = GroupedQueryAttention(32, 4, attn_dropout=0.5)
    x = torch.randn(1, 8, 32)
    assert not torch.allclose(attn(x)[0], attn(x)[0])
    attn.eval()
    torch.testing.assert_close(attn(x)[0], attn(x)[0], atol=0, rtol=0)


# ------------------------------------------------------------------------------------------- positions
def test_rope_scores_depend_only_on_relative_offset():
    torch.manual_seed(0)
    rope = RotaryEmbedding(16, 64, theta=100.0)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)

    def score(m, n):
        return (rope(q, m) * rope(k, n)).sum().item()

    for m, n in [(3, 1), (10, 2), (7, 7)]:
        for shift in (1, 5, 40):
            assert abs(score(m, n) - score(m + shift, n + shift)) < 1e-4
    assert abs(score(3, 1) - score(4, 1)) > 1e-3  # but a different offset changes it
    torch.testing.assert_close(rope(q, 5).norm(), q.norm())  # a rotation keeps lengths


@pytest.mark.parametrize("position", POSITIONS)
def test_shifting_all_positions(position):
    """Relative schemes (RoPE, ALiBi, none) give the same logits at any start position; absolute ones do not."""
    torch.manual_seed(0)
    model = build_model(tiny(position=position)).eval()
    idx = torch.randint(65, (2, 12))
    with torch.no_grad():
        same = torch.allclose(model(idx).logits, model(idx, start_pos=9).logits, atol=1e-5)
    assert same == (position in ("rope", "alibi", "none"))


def test_sinusoidal_and_alibi_formulas():
    pe = SinusoidalPositionalEncoding(50, 8).table
    pos, i = 17, 3
    assert abs(pe[pos, 2 * i].item() - math.sin(pos / 10000 ** (2 * i / 8))) < 1e-6
    assert abs(pe[pos, 2 * i + 1].item() - math.cos(pos / 10000 ** (2 * i / 8))) < 1e-6
    assert alibi_slopes(8).tolist() == [2.0 ** -k for k in range(1, 9)]  # the paper's 1/2 ... 1/256
    assert len(alibi_slopes(6)) == 6 and alibi_slopes(6)[0] == 2.0 ** -2
    bias = alibi_bias(alibi_slopes(8), 3, 5)  # 3 queries at positions 2, 3, 4 of 5 keys
    assert bias[0, 2, 1].item() == -0.5 * 3 and bias[7, 0, 2].item() == 0.0


# ------------------------------------------------------------------------------------------- norms, activations
def test_rmsnorm_equals_torch():
    torch.manual_seed(0)
    ours, theirs = RMSNorm(16, eps=1e-5), torch.nn.RMSNorm(16, eps=1e-5)
    with torch.no_grad():
        ours.weight.normal_()
        theirs.weight.copy_(ours.weight)
    x = torch.randn(4, 7, 16) * 3
    torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_feedforward_formulas(activation):
    torch.manual_seed(0)
    ff = FeedForward(8, 12, activation)
    x = torch.randn(3, 8)
    h = x @ ff.c_fc.weight.T + ff.c_fc.bias
    phi = lambda z: 0.5 * (1 + torch.erf(z / math.sqrt(2)))  # noqa: E731  standard normal CDF
    act = {"gelu": lambda z: z * phi(z),
           "gelu_tanh": lambda z: 0.5 * z * (1 + torch.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3))),
           "relu": lambda z: z.clamp_min(0), "silu": lambda z: z * torch.sigmoid(z),
           "swiglu": lambda z: F.silu(z[:, :12]) * z[:, 12:]}[activation]
    torch.testing.assert_close(ff(x), act(h) @ ff.c_proj.weight.T + ff.c_proj.bias, atol=1e-6, rtol=0)


@pytest.mark.parametrize("activation", ["gelu", "swiglu"])
def test_feedforward_hidden_dropout_drops_the_d_ff_activations(activation):
    """ff_dropout: W_2·drop(act(W_1 x)) in training (torch.nn.Transformer's place for it), the plain FFN in eval."""
    torch.manual_seed(0)
    ff = FeedForward(8, 12, activation, hidden_dropout=0.5)
    plain = FeedForward(8, 12, activation)
    plain.load_state_dict(ff.state_dict())  # dropout holds no weights: the same checkpoint either way
    x = torch.randn(3, 8)
    ff.eval()
    torch.testing.assert_close(ff(x), plain(x))
    ff.train()
    h = ff.c_fc(x)
    hidden = F.silu(h[:, :12]) * h[:, 12:] if activation == "swiglu" else F.gelu(h)
    torch.manual_seed(1)
    out = ff(x)
    torch.manual_seed(1)
    expected = F.dropout(hidden, p=0.5) @ ff.c_proj.weight.T + ff.c_proj.bias
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    assert not torch.allclose(out, plain(x))  # half the hidden units are gone, the rest doubled


@pytest.mark.parametrize("family", ["gpt", "seq2seq", "bert"])
def test_init_schemes(family):
    """gpt2: N(0, 0.02²) with c_proj scaled by 1/√branches (not for BERT); xavier: U(±√(6/(fan_in+fan_out))) on
    every Linear matrix, embeddings and the tied output projection N(0, 0.02²)."""
    shape = dict(family=family, vocab_size=500, block_size=16, n_layer=2, n_head=4, n_embd=128)
    torch.manual_seed(0)
    gpt2 = build_model(ModelConfig(**shape))
    torch.manual_seed(0)
    xavier = build_model(ModelConfig(**shape, init="xavier"))
    branches = {"gpt": 4, "seq2seq": 4, "bert": 1}[family]  # 2 sublayers x 2 layers (seq2seq: its encoder)
    fc, proj = ("encoder." if family == "seq2seq" else "blocks.") + "0.mlp.c_fc", "0.mlp.c_proj"
    weights = {name: p for name, p in gpt2.named_parameters()}
    assert weights[fc + ".weight"].std().item() == pytest.approx(0.02, rel=0.05)
    c_proj = next(p for name, p in weights.items() if name.endswith(proj + ".weight"))
    assert c_proj.std().item() == pytest.approx(0.02 / math.sqrt(branches), rel=0.1)
    for name, module in xavier.named_modules():
        if isinstance(module, torch.nn.Linear) and module.weight is not xavier.token_embeddings():
            fan_out, fan_in = module.weight.shape
            bound = math.sqrt(6 / (fan_in + fan_out))
            assert module.weight.abs().max().item() <= bound, name
            assert module.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1), name
            assert module.bias is None or not module.bias.any()
    assert xavier.token_embeddings().std().item() == pytest.approx(0.02, rel=0.05)


# ------------------------------------------------------------------------------------------- mixture of experts
def test_router_choices_and_output_match_manual_computation():
    torch.manual_seed(0)
    moe = MoEFeedForward(16, 24, n_expert=5, top_k=2, activation="silu", bias=True)
    x = torch.randn(2, 6, 16)
    out, routing = moe(x)
    flat = x.reshape(-1, 16)
    for t in range(flat.size(0)):
        logits = [sum(flat[t, j].item() * moe.router.weight[e, j].item() for j in range(16)) for e in range(5)]
        z = sum(math.exp(v) for v in logits)
        probs = [math.exp(v) / z for v in logits]
        chosen = sorted(range(5), key=lambda e: -probs[e])[:2]
        assert routing.experts[t].tolist() == chosen
        weights = [probs[e] / sum(probs[c] for c in chosen) for e in chosen]
        expected = sum(w * moe.experts[e](flat[t:t + 1])[0] for w, e in zip(weights, chosen))
        torch.testing.assert_close(out.reshape(-1, 16)[t], expected, atol=1e-5, rtol=0)


def test_aux_loss_equals_its_formula():
    torch.manual_seed(0)
    moe = MoEFeedForward(16, 24, n_expert=4, top_k=2)
    _, routing = moe(torch.randn(3, 10, 16))
    n = 30
    counts = [sum(int(e in routing.experts[t].tolist()) for t in range(n)) for e in range(4)]
    mean_prob = [sum(routing.probs[t, e].item() for t in range(n)) / n for e in range(4)]
    expected = 4 * sum(c / n * p for c, p in zip(counts, mean_prob))  # E · Σ f_e · P_e
    assert abs(routing.aux_loss.item() - expected) < 1e-5
    assert routing.expert_load.tolist() == pytest.approx([c / (2 * n) for c in counts])
    balanced = type(routing)(torch.full((4, 4), 0.25), torch.tensor([[0, 1], [2, 3], [0, 1], [2, 3]]), None)
    assert balanced.aux_loss.item() == pytest.approx(2.0)  # perfectly balanced: L_aux = k


def test_moe_loss_adds_weighted_aux_loss_in_training_only():
    torch.manual_seed(0)
    model = build_model(tiny(n_expert=4, activation="swiglu", moe_aux_loss_coef=0.5))
    x, y = torch.randint(65, (2, 16)), torch.randint(65, (2, 16))
    out = model(x, y)
    ce = F.cross_entropy(out.logits.view(-1, 65), y.view(-1))
    torch.testing.assert_close(out.loss, ce + 0.5 * out.aux_loss)
    assert out.expert_load.shape == (2, 4)
    model.eval()
    out = model(x, y)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits.view(-1, 65), y.view(-1)))


# ------------------------------------------------------------------------------------------- KV cache
@pytest.mark.parametrize("options", COMBOS, ids=[combo_id(c) for c in COMBOS])
def test_kv_cache_matches_full_forward(options):
    torch.manual_seed(0)
    model = build_model(tiny(**options)).eval()
    idx = torch.randint(65, (2, 20))
    cache = model.new_cache(batch_size=2)
    with torch.no_grad():
        full = model(idx).logits
        steps = [model(idx[:, :9], kv_cache=cache, start_pos=0).logits]  # prefill
        steps += [model(idx[:, t:t + 1], kv_cache=cache, start_pos=t).logits for t in range(9, 16)]  # decode
        steps.append(model(idx[:, 16:], kv_cache=cache, start_pos=16).logits)  # a chunk of 4
    assert cache.length == 20
    assert (torch.cat(steps, dim=1) - full).abs().max().item() <= 1e-5


def test_kv_cache_rolls_back_and_refuses_gaps():
    torch.manual_seed(0)
    model = build_model(tiny(position="rope", n_kv_head=2)).eval()
    idx = torch.randint(65, (1, 12))
    cache = model.new_cache(1)
    assert cache.nbytes() == 2 * 2 * 2 * 32 * 8 * 4  # K and V, layers, kv heads, block, d_head, fp32
    with torch.no_grad():
        model(torch.randint(65, (1, 12)), kv_cache=cache)
        last = model(idx[:, 6:], kv_cache=cache, start_pos=0)  # overwrite from the start
        model(idx[:, :6], kv_cache=cache, start_pos=0)
        again = model(idx[:, 6:], kv_cache=cache, start_pos=6)
        torch.testing.assert_close(again.logits, model(idx).logits[:, 6:], atol=1e-5, rtol=0)
        del last
        with pytest.raises(ValueError, match="cannot write"):
            model(idx[:, :1], kv_cache=cache, start_pos=20)
        with pytest.raises(ValueError, match="exceed block_size"):
            model(idx, kv_cache=cache, start_pos=25)


# ------------------------------------------------------------------------------------------- training matrix
@pytest.fixture(scope="module")
def shakespeare_ids():
    text = bundled_corpus_path().read_text(encoding="utf-8")[:50_000]
    tokenizer = CharTokenizer.train(text)
    return torch.tensor(tokenizer.encode(text)), tokenizer.vocab_size


@pytest.mark.parametrize("options", COMBOS, ids=[combo_id(c) for c in COMBOS])
def test_every_combination_trains(options, shakespeare_ids):
    ids, vocab = shakespeare_ids
    torch.manual_seed(0)
    model = build_model(tiny(vocab_size=vocab, dropout=0.1, attn_dropout=0.1, **options))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(20):
        starts = torch.randint(len(ids) - 33, (8,), generator=generator)
        x = torch.stack([ids[s:s + 32] for s in starts])
        y = torch.stack([ids[s + 1:s + 33] for s in starts])
        loss = model(x, y).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-5:]) / 5 < losses[0] - 0.5, losses


# ------------------------------------------------------------------------------------------- defaults, bad input
def test_default_gpt_keeps_its_state_dict_names():
    """Runs saved before the family existed still load: same tensor names and shapes as the spine's GPT."""
    names = set(build_model(tiny(n_layer=1)).state_dict())
    assert names == {"wte.weight", "wpe.weight", "lm_head.weight", "ln_f.weight", "ln_f.bias"} | {
        f"blocks.0.{n}" for n in ("ln_1.weight", "ln_1.bias", "ln_2.weight", "ln_2.bias", "attn.c_attn.weight",
                                  "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias", "mlp.c_fc.weight",
                                  "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias")}


def test_post_norm_has_no_final_norm_and_untied_head():
    model = build_model(tiny(norm_placement="post", norm="rmsnorm", tie_embeddings=False, bias=False))
    assert isinstance(model.ln_f, torch.nn.Identity) and isinstance(model.blocks[0].ln_1, RMSNorm)
    assert model.lm_head.weight is not model.wte.weight
    assert not any(name.endswith(".bias") for name, _ in model.named_parameters())


@pytest.mark.parametrize("overrides, message", [
    (["n_embd=100", "n_head=3"], "divisible by model.n_head"),
    (["n_head=6", "n_kv_head=4"], "divisible by model.n_kv_head"),
    (["position=alibl"], "did you mean 'alibi'"),
    (["norm=batchnorm"], "model.norm must be one of layernorm, rmsnorm"),
    (["activation=geglu"], "model.activation must be one of"),
    (["norm_placement=middle"], "model.norm_placement"),
    (["n_expert=4", "n_expert_active=5"], "n_expert_active"),
    (["positions=rope"], "unknown config key 'positions'"),
])
def test_bad_options_are_clear_errors(overrides, message):
    with pytest.raises(LanternError, match=message):
        apply_overrides(RunConfig(), overrides).validate()


def test_checkpoint_not_matching_config(tmp_path):
    save_weights(build_model(tiny(n_kv_head=2)), tmp_path / "m.safetensors")
    with pytest.raises(LanternError, match="do not match the model config"):
        load_weights(build_model(tiny()), tmp_path / "m.safetensors")


@pytest.mark.slow
def test_tiny_moe_model_learns_and_logs_expert_load(tmp_path):
    from lanternlm.config import resolve_config
    from lanternlm.train import train
    from lanternlm.train.metrics import read_metrics

    config = resolve_config("tiny-mixtral", overrides=["max_iters=40", "log_interval=10", "eval_interval=40",
                                                      "checkpoint_interval=40", "eval_iters=4"])
    result = train(config, tmp_path / "moe", quiet=True)
    records = read_metrics(tmp_path / "moe" / "metrics.jsonl")
    vals = [r["val_loss"] for r in records if "val_loss" in r]
    assert vals[-1] < vals[0] - 0.5 and result.steps == 40
    loads = [r["expert_load"] for r in records if "expert_load" in r]
    assert len(loads) == 4 and all(len(x) == 4 and abs(sum(x) - 1) < 1e-3 for x in loads)
    assert all(math.isfinite(r["moe_aux_loss"]) for r in records if "moe_aux_loss" in r)
