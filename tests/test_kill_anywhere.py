"""Kill -9 at a random moment, then run again: training resumes to exactly the losses, evaluations and weights
of an uninterrupted run (with dropout and without), and the other writers (tokenizer train, prepare, word2vec
train, convert) never leave a half-written output or a temporary file behind.

The moments are drawn at random from a seeded generator, among the points a run passes (see kill_harness.py:
training steps, evaluations, atomic writes cut in half, metrics lines cut in half) and wall-clock delays.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TINY_OVERRIDES, subprocess_env
from lanternlm.train.metrics import read_metrics

HARNESS = Path(__file__).with_name("kill_harness.py")
TEMPORARY = re.compile(r"^\..+\.(tmp|old)$")
EVENTS = ["step", "eval", "checkpoint", "weights", "write", "log", "time"]  # see kill_harness.py
KILLS_PER_PRESET = len(EVENTS)  # each kind of moment once per preset, when within it drawn at random

pytestmark = pytest.mark.slow

COMMON = TINY_OVERRIDES + ["max_iters=24", "checkpoint_interval=6", "eval_interval=8", "keep_checkpoints=2",
                           "eval_iters=3"]
TRAINING = {
    "dropout": COMMON + ["dropout=0.1", "attn_dropout=0.1"],
    "no-dropout": COMMON + ["window_sampling=epoch", "grad_accum=2"],
}


def harness(event: str, n: int, args: list[str], counts: Path, kill_after: float | None = None):
    """Run `lantern ARGS` under the harness; with `kill_after`, kill -9 it from outside after that many seconds."""
    command = [sys.executable, str(HARNESS), event, str(n), str(counts), "--", *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def finished(args: list[str], counts: Path) -> tuple[dict, float, str]:
    started = time.perf_counter()
    code, out, err = harness("none", 0, args, counts)
    assert code == 0, err[-2000:]
    return json.loads(counts.read_text()), time.perf_counter() - started, out


def temporaries(root: Path) -> list[str]:
    """Temporary files and folders anywhere under `root` (the run or output and its neighbours)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if TEMPORARY.match(p.name))


def kill_at_random(rng: random.Random, event: str, args: list[str], counts: dict, seconds: float, scratch: Path):
    """Kill a fresh run of `args` at a random moment of kind `event`; returns a description of it."""
    if event == "time":
        delay = rng.uniform(0.2, 1.0) * seconds
        code, _, err = harness("none", 0, args, scratch / "counts.json", kill_after=delay)
        moment = f"after {delay:.2f} s"
    else:
        n = rng.randint(1, counts[event])
        code, _, err = harness(event, n, args, scratch / "counts.json")
        moment = f"at {event} #{n} of {counts[event]}"
    assert code in (0, -signal.SIGKILL), err[-2000:]
    if event in ("write", "checkpoint", "weights"):
        assert temporaries(scratch), "a kill while writing leaves a temporary (for the re-run to clear)"
    return moment + ("" if code else " (it finished first)")


def run_record(run: Path) -> dict:
    records = read_metrics(run / "metrics.jsonl")
    return {
        "losses": [(r["step"], r["loss"]) for r in records if "loss" in r],
        "evaluations": [(r["step"], r["train_loss_eval"], r["val_loss"]) for r in records if "val_loss" in r],
        "weights": (run / "model.safetensors").read_bytes(),
        "best": json.loads((run / "checkpoints" / "best.json").read_text()),
        "checkpoints": sorted(p.name for p in (run / "checkpoints").iterdir()),
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Per preset: the uninterrupted run's record, its harness counts, its wall time and its report line."""
    results = {}
    for name, overrides in TRAINING.items():
        folder = tmp_path_factory.mktemp(name)
        args = ["train", "--preset", "shakespeare-char-cpu", "-q", "--out", str(folder / "run")]
        args += [x for o in overrides for x in ("--set", o)]
        counts, seconds, out = finished(args, folder / "counts.json")
        results[name] = (run_record(folder / "run"), counts, seconds, out)
    return results


@pytest.mark.parametrize("case", range(KILLS_PER_PRESET))
@pytest.mark.parametrize("preset", TRAINING)
def test_training_killed_anywhere_resumes_exactly(preset, case, uninterrupted, tmp_path):
    expected, counts, seconds, report = uninterrupted[preset]
    run = tmp_path / "out" / "run"
    args = ["train", "--preset", "shakespeare-char-cpu", "-q", "--out", str(run)]
    args += [x for o in TRAINING[preset] for x in ("--set", o)]
    rng = random.Random(f"{preset}/{case}")
    event = EVENTS[case]
    moment = kill_at_random(rng, event, args, counts, seconds, tmp_path)

    # what a user does next: --resume a run that exists, else the same command again
    again = ["train", "--out", str(run), "--resume", "-q"] if (run / "config.toml").is_file() else args
    code, out, err = harness("none", 0, again, tmp_path / "counts.json")
    assert code == 0, f"{moment}: {err[-2000:]}"
    got = run_record(run)
    for key in expected:
        assert got[key] == expected[key], f"killed {moment}: {key} differ"
    assert out.split(":", 1)[1].split(",")[0] == report.split(":", 1)[1].split(",")[0], (moment, out, report)
    assert temporaries(run.parent) == [], moment


WRITERS = {
    "tokenizer train": lambda d: ["tokenizer", "train", "-i", str(d / "corpus.txt"), "-v", "400", "-q",
                                  "--workers", "1", "-o", str(d / "out" / "tok.json")],
    "prepare": lambda d: ["prepare", "-t", str(d / "tok.json"), "-i", str(d / "corpus.txt"), "--workers", "1", "-q",
                          "-o", str(d / "out" / "data")],
    "word2vec train": lambda d: ["word2vec", "train", "-i", str(d / "corpus.txt"), "--dim", "8", "--epochs", "1",
                                 "--min-count", "1", "--workers", "1", "-q", "-o", str(d / "out" / "vectors.txt")],
    "convert to-hf": lambda d: ["convert", "to-hf", str(d / "run"), "-o", str(d / "out" / "hf")],
    "convert from-hf": lambda d: ["convert", "from-hf", str(d / "hf"), "-o", str(d / "out" / "run")],
}


def contents(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def writer_inputs(tmp_path_factory, tiny_run):
    folder = tmp_path_factory.mktemp("writers")
    text = (Path(__file__).resolve().parents[1] / "src/lanternlm/assets/tinyshakespeare.txt").read_text()
    (folder / "corpus.txt").write_text(text[:200_000])
    shutil.copytree(tiny_run, folder / "run")
    for name in ("tokenizer train", "convert to-hf"):  # the inputs of prepare and from-hf
        code, _, err = harness("none", 0, WRITERS[name](folder), folder / "counts.json")
        assert code == 0, err
    (folder / "out" / "tok.json").rename(folder / "tok.json")
    (folder / "out" / "hf").rename(folder / "hf")
    return folder


@pytest.mark.parametrize("writer", WRITERS)
def test_writers_killed_anywhere_leave_no_half_output(writer, writer_inputs, tmp_path):
    for item in writer_inputs.iterdir():
        if item.name != "out":
            (tmp_path / item.name).symlink_to(item)
    args = WRITERS[writer](tmp_path)
    output = Path(args[args.index("-o") + 1])
    counts, seconds, _ = finished(args, tmp_path / "counts.json")
    reference = contents(output)
    rng = random.Random(writer)
    for event in ("write", "time"):
        shutil.rmtree(output.parent)
        moment = kill_at_random(rng, event, args, counts, seconds, tmp_path)
        assert not output.exists() or contents(output) == reference, f"half-written output after a kill {moment}"
        if output.exists():  # the kill fell after the output was complete: a re-run would refuse to replace it
            shutil.rmtree(output) if output.is_dir() else output.unlink()
        code, _, err = harness("none", 0, args, tmp_path / "counts.json")
        assert code == 0, f"{moment}: {err[-2000:]}"
        assert contents(output) == reference, moment
        assert temporaries(output.parent) == [], moment
