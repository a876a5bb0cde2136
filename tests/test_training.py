import math
import subprocess
import sys

import pytest

from conftest import TINY_OVERRIDES, run_and_kill, subprocess_env
from lanternlm.config import TrainConfig
from lanternlm.generate import Engine
from lanternlm.runs import load_run
from lanternlm.train import learning_rate_at
from lanternlm.train.checkpoint import list_checkpoints
from lanternlm.train.metrics import read_metrics


def test_schedule_warmup_cosine_floor():
    cfg = TrainConfig(max_iters=1000, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100)
    lrs = [learning_rate_at(i, cfg) for i in range(1200)]
    assert lrs[0] < lrs[50] < lrs[99] <= 1e-3  # linear warm-up
    assert all(a >= b for a, b in zip(lrs[100:1000], lrs[101:1000]))  # monotone decay
    assert math.isclose(lrs[550], 1e-4 + 0.5 * 0.9e-3, rel_tol=1e-6)  # halfway: midpoint of the cosine
    assert lrs[1100] == 1e-4


def test_run_directory_contents(tiny_run):
    names = {p.name for p in tiny_run.iterdir()}
    assert {"config.toml", "tokenizer.json", "model.safetensors", "metrics.jsonl", "checkpoints", "loss.png"} <= names
    records = read_metrics(tiny_run / "metrics.jsonl")
    assert all({"step", "loss", "lr"} <= r.keys() for r in records if "loss" in r)
    evaluations = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in evaluations] == [0, 20, 40]
    assert evaluations[-1]["val_loss"] < evaluations[0]["val_loss"]  # it learned something
    assert records[-1]["step"] == 40 and records[-1]["summary"]["ms_per_iter"] > 0


def test_same_seed_same_sample(tiny_run):
    run = load_run(tiny_run)
    engine = Engine(run.model, run.tokenizer)
    a = engine.generate("ROMEO:", 40, temperature=1.0, seed=7)
    b = engine.generate("ROMEO:", 40, temperature=1.0, seed=7)
    c = engine.generate("ROMEO:", 40, temperature=1.0, seed=8)
    assert a == b and a != c and len(a) == 40


def test_long_prompt_keeps_last_block(tiny_run):
    """A prompt longer than the context keeps its last block_size tokens: the model sees exactly those."""
    from lanternlm.generate.decoder import Decoder

    run = load_run(tiny_run)
    engine = Engine(run.model, run.tokenizer)
    block = run.config.model.block_size
    prompt = "To be or not to be, " * 20 + "ROMEO:"  # 406 chars > block_size 32
    ids = run.tokenizer.encode(prompt)
    decoder = Decoder(run.model)
    decoder.prefill([ids])
    assert decoder.tokens[0].tolist() == ids[-block:]
    text = engine.generate(prompt, 5, temperature=0)
    assert len(text) == 5 and text == engine.generate(prompt[-block:], 5, temperature=0)


@pytest.mark.slow
def test_hard_kill_and_resume_gives_identical_losses(tmp_path):
    overrides = TINY_OVERRIDES + ["max_iters=60", "checkpoint_interval=30", "eval_interval=30", "n_embd=64"]
    args = ["train", "--preset", "shakespeare-char-cpu", "-q"] + [x for o in overrides for x in ("--set", o)]
    straight = tmp_path / "straight"
    subprocess.run([sys.executable, "-m", "lanternlm", *args, "--out", str(straight)], check=True, capture_output=True,
                   env=subprocess_env())

    killed = tmp_path / "killed"
    run_and_kill(args, killed, after_step=33)
    assert [p.name for p in list_checkpoints(killed / "checkpoints")] == ["step-0000030"]

    subprocess.run([sys.executable, "-m", "lanternlm", "train", "--out", str(killed), "--resume", "-q"],
                   check=True, capture_output=True, env=subprocess_env())

    def losses(run):
        return [(r["step"], r["loss"]) for r in read_metrics(run / "metrics.jsonl") if "loss" in r]

    assert len(losses(straight)) == 60
    assert losses(killed) == losses(straight)  # bit-for-bit the same trajectory


def test_interrupted_checkpoint_write_is_ignored(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    partial = run / "checkpoints" / ".step-0000060.abc.tmp"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half")
    assert list_checkpoints(run / "checkpoints")[-1].name == "step-0000040"
