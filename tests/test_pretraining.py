"""Issue 6: prepared data, gradient accumulation, DDP equivalence, bits per byte, best checkpoint, NaN stop."""

import json
import math
import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn.functional as F

from conftest import TINY_OVERRIDES, subprocess_env
from lanternlm.cli import main
from lanternlm.config import resolve_config
from lanternlm.data import TokenWindows
from lanternlm.errors import LanternError
from lanternlm.eval import evaluate_windows, token_byte_lengths
from lanternlm.models import build_model
from lanternlm.tokenizers import CharTokenizer
from lanternlm.train import train
from lanternlm.train.checkpoint import best_checkpoint, list_checkpoints
from lanternlm.train.flops import compile_or_eager
from lanternlm.train.metrics import read_metrics


def tiny(*extra):
    return resolve_config("shakespeare-char-cpu", overrides=TINY_OVERRIDES + list(extra))


def losses(run):
    return [r["loss"] for r in read_metrics(run / "metrics.jsonl") if "loss" in r]


def test_gradient_accumulation_matches_full_batch(tmp_path):
    full = train(tiny("max_iters=6", "batch_size=8"), tmp_path / "full", quiet=True)
    accum = train(tiny("max_iters=6", "batch_size=2", "grad_accum=4"), tmp_path / "accum", quiet=True)
    assert full.steps == accum.steps == 6
    a, b = losses(tmp_path / "full"), losses(tmp_path / "accum")
    assert len(a) == 6 and max(abs(x - y) for x, y in zip(a, b)) < 1e-5


@pytest.mark.slow
def test_torchrun_two_processes_equal_one_process_with_accumulation(tmp_path):
    overrides = TINY_OVERRIDES + ["max_iters=20", "batch_size=4", "eval_interval=20", "checkpoint_interval=20"]
    sets = [x for o in overrides for x in ("--set", o)]
    single = tmp_path / "single"
    assert main(["train", "--preset", "shakespeare-char-cpu", *sets, "--set", "grad_accum=2", "-q",
                 "--out", str(single)]) == 0
    ddp = tmp_path / "ddp"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "lanternlm", "train", "--preset", "shakespeare-char-cpu", *sets, "-q",
                           "--device", "cpu", "--out", str(ddp)],
                          capture_output=True, text=True, timeout=600, env=subprocess_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = losses(single), losses(ddp)
    assert len(a) == len(b) == 20
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-5


def test_bits_per_byte_equals_hand_computation():
    text = "café au lait, s'il vous plaît. " * 4  # é and î are two UTF-8 bytes each
    tok = CharTokenizer.train(text)
    torch.manual_seed(0)
    model = build_model(resolve_config(overrides=["vocab_size=%d" % tok.vocab_size, "block_size=16", "n_layer=1",
                                                   "n_head=1", "n_embd=8"]).model).eval()
    ids = torch.tensor(tok.encode(text))
    progress = []  # batches of two windows: the result cannot depend on batching
    result = evaluate_windows(model, TokenWindows(ids), 16, token_byte_lengths(tok), batch_tokens=32,
                              on_progress=lambda done, total: progress.append((done, total)))
    windows = math.ceil((len(ids) - 1) / 16)
    done = [d for d, _ in progress]
    assert progress[-1] == (windows, windows) and all(0 < b - a <= 2 for a, b in zip([0] + done, done))
    nll = 0.0
    for start in range(0, len(ids) - 1, 16):  # the same consecutive windows, by hand
        x, y = ids[start:start + 16], ids[start + 1:start + 17]
        x = x[: len(y)]
        nll += F.cross_entropy(model(x[None]).logits[0], y, reduction="sum").item()
    n_bytes = len(text[1:].encode("utf-8"))
    assert result.tokens == len(ids) - 1 and result.bytes == n_bytes
    assert math.isclose(result.bits_per_byte, nll / (math.log(2) * n_bytes), rel_tol=1e-5)
    assert math.isclose(result.perplexity, math.exp(nll / (len(ids) - 1)), rel_tol=1e-5)


def test_sliding_window_scores_each_token_once():
    data = TokenWindows(torch.arange(100))
    seen = []
    for x, y, n_new in data.scoring_windows(block_size=16, stride=5):
        assert len(x) <= 16 and torch.equal(y, x + 1)
        seen += y[-n_new:].tolist()
    assert seen == list(range(1, 100))


def test_char_and_bpe_models_report_comparable_bits_per_byte(tmp_path, shared_data):
    verdict = shared_data("corpora/the-verdict.txt")
    from lanternlm.tokenizers.bpe_train import train_bpe

    bpe = train_bpe([verdict], 400)
    bpe.save(tmp_path / "bpe.json")
    results = {}
    for name, tokenizer in (("char", "char"), ("bpe", str(tmp_path / "bpe.json"))):
        run = tmp_path / name
        train(tiny("max_iters=60", f"data.tokenizer={tokenizer}", f"data.input={verdict}", "eval_interval=60",
                   "checkpoint_interval=60"), run, quiet=True)
        assert main(["eval", str(run), "--input", str(verdict)]) == 0
        results[name] = run
    # both score the same bytes of text, so the per-byte figures are on one scale (untrained-ish: a few bits)
    from lanternlm.runs import load_run

    bpb = {}
    for name, run in results.items():
        loaded = load_run(run)
        ids = torch.tensor(loaded.tokenizer.encode(verdict.read_text()))
        r = evaluate_windows(loaded.model, TokenWindows(ids), 32, token_byte_lengths(loaded.tokenizer))
        bpb[name] = r.bits_per_byte
        assert abs(r.bytes - len(verdict.read_bytes())) < 8  # all bytes but the first token's are scored
    assert all(1.0 < v < 8.0 for v in bpb.values()), bpb


def test_training_from_prepared_data_and_vocab_mismatch(tmp_path, shared_data, capsys):
    verdict = shared_data("corpora/the-verdict.txt")
    from lanternlm.data.prepare import prepare
    from lanternlm.tokenizers.bpe_train import train_bpe

    train_bpe([verdict], 300).save(tmp_path / "bpe.json")
    prepare(tmp_path / "bpe.json", [verdict], tmp_path / "data", val_fraction=0.2, workers=1)
    result = train(tiny("max_iters=10", f"data.data_dir={tmp_path / 'data'}", "eval_interval=10"), tmp_path / "run",
                   quiet=True)
    assert result.steps == 10 and json.loads((tmp_path / "run" / "tokenizer.json").read_text())["kind"] == "bpe"
    assert main(["eval", str(tmp_path / "run")]) == 0
    assert "bits/byte" in capsys.readouterr().out
    char_run = tmp_path / "char"
    train(tiny("max_iters=2", "eval_interval=2"), char_run, quiet=True)
    with pytest.raises(LanternError, match="prepared with a 300-token tokenizer"):
        train(tiny("max_iters=4", f"data.data_dir={tmp_path / 'data'}"), tmp_path / "ft", init_from=char_run)
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2


def test_best_checkpoint_survives_pruning(tmp_path):
    run = tmp_path / "run"
    train(tiny("max_iters=30", "eval_interval=10", "checkpoint_interval=10", "keep_checkpoints=1"), run, quiet=True)
    best = best_checkpoint(run / "checkpoints")
    kept = list_checkpoints(run / "checkpoints")
    assert best in kept and kept[-1].name == "step-0000030"
    vals = {r["step"]: r["val_loss"] for r in read_metrics(run / "metrics.jsonl") if "val_loss" in r and r["step"]}
    assert best.name == f"step-{min(vals, key=vals.get):07d}"


def test_nan_loss_stops_with_message_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    from lanternlm.models.gpt import GPT

    real_forward = GPT.forward
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        out = real_forward(self, *args, **kwargs)
        if self.training:
            calls["n"] += 1
            if calls["n"] > 12 and out.loss is not None:
                out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(GPT, "forward", poisoned)
    run = tmp_path / "run"
    with pytest.raises(LanternError, match="loss became nan at step 13"):
        train(tiny("max_iters=30", "checkpoint_interval=10", "eval_interval=10"), run, quiet=True)
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["step-0000010"]


def test_compile_falls_back_to_eager(monkeypatch):
    def broken_compile(module):
        def fail(*args, **kwargs):
            raise RuntimeError("no compiler here")
        return fail

    monkeypatch.setattr(torch, "compile", broken_compile)
    layer = torch.nn.Linear(3, 2)
    wrapped = compile_or_eager(layer)
    x = torch.randn(4, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert torch.equal(wrapped(x), layer(x))
    assert any("eagerly" in str(w.message) for w in caught)


def test_plot_command(tiny_run, tmp_path, capsys):
    out = tmp_path / "curves.png"
    assert main(["plot", str(tiny_run), str(tiny_run), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", str(tmp_path / "missing")]) == 2


def test_tensorboard_scalars_mirror_metrics(tiny_run):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    events = event_accumulator.EventAccumulator(str(tiny_run / "tensorboard"))
    events.Reload()
    logged = [r for r in read_metrics(tiny_run / "metrics.jsonl") if "loss" in r]
    scalars = events.Scalars("loss")
    assert [s.step for s in scalars] == [r["step"] for r in logged]
    assert [round(s.value, 5) for s in scalars] == [round(r["loss"], 5) for r in logged]


@pytest.mark.slow
def test_fp16_uses_loss_scaling_and_resumes_exactly(tmp_path):
    """fp16 autocast trains through a GradScaler whose state travels in the checkpoint, so resume is exact."""
    fp16 = ["dtype=float16", "eval_interval=4", "checkpoint_interval=4"]
    train(tiny("max_iters=8", *fp16), tmp_path / "straight", quiet=True)
    train(tiny("max_iters=4", *fp16), tmp_path / "split", quiet=True)
    state = torch.load(tmp_path / "split" / "checkpoints" / "step-0000004" / "state.pt", weights_only=True)
    assert state["extra"]["grad_scaler"]["scale"] > 1  # starts at 2**16, halves only on overflow
    train(tiny("max_iters=8", *fp16), tmp_path / "split", resume=True, quiet=True)  # lr_decay_iters is fixed
    a, b = losses(tmp_path / "straight"), losses(tmp_path / "split")
    assert len(a) == len(b) == 8 and all(math.isfinite(x) for x in a)
    assert a == b


@pytest.mark.parametrize("bf16, expected", [(True, torch.bfloat16), (False, torch.float16)])
def test_auto_dtype_is_bf16_or_fp16_on_gpus_and_fp32_on_cpu(monkeypatch, bf16, expected):
    from lanternlm.device import resolve_dtype

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)
    assert resolve_dtype("auto", torch.device("cuda")) == expected
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(LanternError, match="unknown dtype"):
        resolve_dtype("fp8", torch.device("cpu"))
