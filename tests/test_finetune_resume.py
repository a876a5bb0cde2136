"""A fine-tuning run killed mid-training (SIGKILL, from inside, at a chosen moment) and resumed ends exactly
where the uninterrupted run ends: same losses, same evaluations (accuracy included), same best checkpoint,
same adapter file. So a crash costs at most the steps since the last checkpoint."""

from __future__ import annotations

import json
import random

import pytest

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
