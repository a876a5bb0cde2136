"""A fine-tuning run killed mid-training (SIGKILL, from inside, at a chosen moment) and resumed ends exactly
where the uninterrupted run ends: same losses, same evaluations (accuracy included), same best checkpoint,
same adapter file. So a crash costs at most the steps since the last checkpoint. And two torchrun ranks fine-tune
as one process accumulating their two micro-batches."""

from __future__ import annotations

import json
import random

import pytest
import torch

from lanternlm.finetune.adapters import read_adapter
from lanternlm.train.metrics import read_metrics
from test_finetune import reviews  # noqa: F401  (the labelled-data fixture)
from test_kill_anywhere import finished, harness, temporaries

pytestmark = pytest.mark.slow

EVENTS = ["step", "eval", "checkpoint", "log"]


def arguments(base, data, out) -> list[str]:
    return ["finetune", "classify", "--base", str(base), "--data", str(data), "--out", str(out), "--method", "lora",
            "--max-length", "24", "--batch-size", "16", "--epochs", "2", "--lr", "1e-2", "-q",
            "--set", "lora_dropout=0.1", "--set", "checkpoint_interval=3", "--set", "eval_interval=6",
            "--set", "early_stopping=0"]


def adapter_contents(path) -> tuple[dict, dict]:
    """(tensor bytes by key, metadata): safetensors writes the metadata's keys in no fixed order."""
    tensors, _, metadata = read_adapter(path)
    return {key: value.numpy().tobytes() for key, value in tensors.items()}, metadata


def record(run) -> dict:
    records = read_metrics(run / "metrics.jsonl")
    return {"losses": [(r["step"], r["loss"]) for r in records if "loss" in r],
            "evaluations": [(r["step"], r["val_loss"], r["val_accuracy"]) for r in records if "val_loss" in r],
            "adapter": adapter_contents(run / "adapter.safetensors"),
            "best": json.loads((run / "checkpoints" / "best.json").read_text())}


@pytest.fixture(scope="module")
def uninterrupted(tiny_run, reviews, tmp_path_factory):  # noqa: F811
    folder = tmp_path_factory.mktemp("whole")
    counts, _, _ = finished(arguments(tiny_run, reviews, folder / "run"), folder / "counts.json")
    return record(folder / "run"), counts


@pytest.mark.parametrize("event", EVENTS)
def test_finetune_killed_mid_training_resumes_exactly(event, uninterrupted, tiny_run, reviews, tmp_path):  # noqa: F811
    expected, counts = uninterrupted
    run = tmp_path / "out" / "run"
    n = random.Random(event).randint(2, counts[event])
    code, _, err = harness(event, n, arguments(tiny_run, reviews, run), tmp_path / "counts.json")
    assert code != 0, f"the run finished before {event} #{n}"
    again = ["finetune", "classify", "--out", str(run), "--resume", "-q"]
    code, _, err = harness("none", 0, again if (run / "config.toml").is_file() else arguments(tiny_run, reviews, run),
                           tmp_path / "counts.json")
    assert code == 0, err[-2000:]
    assert record(run) == expected, f"killed at {event} #{n}"
    assert temporaries(run.parent) == []


def test_torchrun_two_processes_finetune_as_one_process_with_accumulation(tiny_run, reviews, tmp_path):  # noqa: F811
    """Fine-tuning is the one trainer's data parallelism too: 2 ranks x 8 examples = 1 process, 2 x 8 accumulated."""
    import subprocess
    import sys

    from conftest import subprocess_env
    from lanternlm.cli import main

    def args(out, *extra):
        return ["finetune", "classify", "--base", str(tiny_run), "--data", str(reviews), "--out", str(out),
                "--method", "lora", "--max-length", "24", "--batch-size", "8", "--epochs", "1", "--lr", "1e-2",
                "-q", "--set", "early_stopping=0", "--set", "eval_interval=5", *extra]

    assert main(args(tmp_path / "single", "--set", "grad_accum=2")) == 0
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "lanternlm", *args(tmp_path / "ddp", "--device", "cpu")],
                          capture_output=True, text=True, timeout=600, env=subprocess_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    single, ddp = record(tmp_path / "single"), record(tmp_path / "ddp")
    assert len(single["losses"]) == len(ddp["losses"]) > 1
    assert max(abs(a[1] - b[1]) for a, b in zip(single["losses"], ddp["losses"])) < 1e-5
    assert [(s, acc) for s, _, acc in single["evaluations"]] == [(s, acc) for s, _, acc in ddp["evaluations"]]
    for key, value in single["adapter"][0].items():
        assert torch.allclose(torch.frombuffer(bytearray(value), dtype=torch.float32),
                              torch.frombuffer(bytearray(ddp["adapter"][0][key]), dtype=torch.float32), atol=1e-5)
