"""The models before attention: Bengio's fixed-context MLP (family "mlp") and a GRU / LSTM language model (family
"rnn"). Their formulas hold (the recurrence spelled out equals PyTorch's fused layers; the MLP sees exactly its
window), the RNN's state drives the one decoding loop as its cache, and both train, save, load, sample and
resume through the same trainer as GPT."""

from __future__ import annotations

import pytest
import torch

from conftest import TINY_OVERRIDES
from lanternlm.config import ModelConfig, resolve_config
from lanternlm.errors import LanternError
from lanternlm.generate import Engine, GenerationConfig
from lanternlm.interop.hf import export_hf
from lanternlm.models import build_model
from lanternlm.runs import load_run
from lanternlm.tokenizers import CharTokenizer
from lanternlm.train import train
from lanternlm.train.metrics import read_metrics

pytestmark = pytest.mark.usefixtures("one_thread")
FAMILIES = {"gru": dict(family="rnn"), "lstm": dict(family="rnn", rnn_cell="lstm"),
            "mlp": dict(family="mlp", context_tokens=4, d_ff=48)}


def tiny(**kw):
    return ModelConfig(**{"vocab_size": 65, "block_size": 24, "n_layer": 2, "n_embd": 32, **kw})


def perturbed(**kw):
    torch.manual_seed(0)
    model = build_model(tiny(**kw)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)  # decisive logits: a wrong state or window shows
    return model


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_recurrence_spelled_out_equals_pytorch(cell):
    model = perturbed(family="rnn", rnn_cell=cell)
    x = model.wte(torch.randint(65, (3, 10)))
    torch.testing.assert_close(model.rnn.reference(x), model.rnn(x), atol=1e-5, rtol=0)


def test_mlp_sees_exactly_its_window():
    model = perturbed(family="mlp", context_tokens=4, d_ff=48)
    ids = torch.randint(65, (1, 12))
    base = model(ids).logits
    for changed, seen_from in ((3, range(3, 7)), (0, range(0, 4))):  # token j reaches positions j..j+3 only
        other = ids.clone()
        other[0, changed] = (other[0, changed] + 1) % 65
        moved = (model(other).logits - base).abs().amax(-1)[0] > 1e-6
        assert moved.nonzero().flatten().tolist() == list(seen_from)
    window = model.window(model.wte(ids))  # position 5 = [e(2), e(3), e(4), e(5)]; position 0 = [0, 0, 0, e(0)]
    torch.testing.assert_close(window[0, 5], model.wte(ids[0, 2:6]).flatten())
    assert window[0, 0, :96].abs().max() == 0 and torch.equal(window[0, 0, 96:], model.wte(ids[0, 0]))
    torch.testing.assert_close(model(ids, last_logits_only=True).logits, base[:, -1:], atol=1e-6, rtol=0)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_recurrent_state_is_the_cache(cell):
    model = perturbed(family="rnn", rnn_cell=cell)
    ids = torch.randint(65, (2, 20))
    state = model.new_cache(2)
    with torch.no_grad():
        full = model(ids).logits
        steps = [model(ids[:, :9], kv_cache=state).logits]  # prefill, then one token at a time, then a chunk
        steps += [model(ids[:, t:t + 1], kv_cache=state, start_pos=t).logits for t in range(9, 16)]
        steps.append(model(ids[:, 16:], kv_cache=state, start_pos=16).logits)
        assert state.length == 20
        torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)
        before = state.nbytes()
        model(ids[:, :3], kv_cache=state, start_pos=0)  # start_pos 0 starts afresh
        assert state.length == 3 and state.nbytes() == before  # fixed size, unlike a KV cache
        with pytest.raises(ValueError, match="holds 3 positions"):
            model(ids[:, :1], kv_cache=state, start_pos=7)


def test_causal_by_construction():
    for options in FAMILIES.values():
        model = perturbed(**options)
        ids = torch.randint(65, (1, 12))
        other = ids.clone()
        other[0, 8] = (other[0, 8] + 1) % 65
        torch.testing.assert_close(model(other).logits[:, :8], model(ids).logits[:, :8], atol=0, rtol=0)


@pytest.mark.parametrize("name", FAMILIES)
def test_one_loop_decodes_them_cached_or_not(name):
    """The engine's one loop drives them: with the cache (RNN state; the MLP needs none) and without it, and
    past the context window, greedy and beam search give the same tokens."""
    model = perturbed(**FAMILIES[name])
    tokenizer = CharTokenizer.train("".join(chr(48 + i) for i in range(65)))
    engine = Engine(model, tokenizer)
    prompts = ["abc", "ABCDEFGHIJ"]  # ragged: the longer prompt is fed while the shorter one generates
    for options in (dict(temperature=0), dict(num_beams=3)):
        config = engine.settings(max_new_tokens=30, **options)  # 40 tokens > block_size 24: the window slides
        cached = engine.generate_batch(prompts, config=config)
        assert cached == engine.generate_batch(prompts, config=engine.settings(config, use_cache=False))
        assert all(len(text) == 30 for text in cached)


def test_bad_options_are_one_line_errors():
    with pytest.raises(LanternError, match="context_tokens must be positive"):
        tiny(family="mlp", context_tokens=0).validate()
    with pytest.raises(LanternError, match="rnn_cell must be one of gru, lstm"):
        tiny(family="rnn", rnn_cell="lsmt").validate()
    tiny(family="rnn", n_embd=30, n_head=4).validate()  # heads do not apply: no divisibility rule


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_trains_saves_loads_samples_and_resumes(name, tmp_path):
    options = [f"{k}={v}" for k, v in FAMILIES[name].items()]
    overrides = TINY_OVERRIDES + options + ["lr_decay_iters=20", "checkpoint_interval=10", "eval_interval=10"]

    straight = train(resolve_config("shakespeare-char-cpu", overrides=overrides + ["max_iters=20"]),
                     tmp_path / "straight", quiet=True)
    half = resolve_config("shakespeare-char-cpu", overrides=overrides + ["max_iters=10"])
    train(half, tmp_path / "resumed", quiet=True)
    half.train.max_iters = 20
    resumed = train(half, tmp_path / "resumed", resume=True, quiet=True)

    def losses(run):
        return [(r["step"], r["loss"]) for r in read_metrics(run / "metrics.jsonl") if "loss" in r]

    assert losses(tmp_path / "resumed") == losses(tmp_path / "straight")  # exactly as if never stopped
    val = [r["val_loss"] for r in read_metrics(tmp_path / "resumed" / "metrics.jsonl") if "val_loss" in r]
    assert resumed.val_loss == straight.val_loss == val[-1] < val[0]  # and it learned something

    run = load_run(tmp_path / "resumed")
    assert type(run.model).__name__ == {"mlp": "FixedContextMLP"}.get(name, "RecurrentLM")
    engine = Engine(run.model, run.tokenizer)
    config = GenerationConfig(max_new_tokens=20, temperature=0.8, seed=3)
    sample = engine.generate("ROMEO:", config=config)
    assert len(sample) == 20 and sample == engine.generate("ROMEO:", config=config)
    with pytest.raises(LanternError, match="no Hugging Face equivalent"):  # nothing to export to
        export_hf(tmp_path / "resumed", tmp_path / "hf")


@pytest.mark.parametrize("name", FAMILIES)
def test_sizing_formulas_count_the_built_model(name):
    from lanternlm.inspect.params import baseline_parts, cache_bytes, flops_per_token, report

    for tie, bias in ((True, True), (False, False)):
        config = tiny(tie_embeddings=tie, bias=bias, **FAMILIES[name])
        assert sum(baseline_parts(config).values()) == build_model(config).num_parameters()
    model = build_model(config)
    assert cache_bytes(config, 10) == cache_bytes(config, 10_000)  # no cache that grows with the context
    assert cache_bytes(config, 1, "float32") == (model.new_cache(1).nbytes() if name != "mlp" else 0)
    assert flops_per_token(config, 10) == flops_per_token(config, 10_000)  # no attention term
    assert "whatever the context length" in report(config)
