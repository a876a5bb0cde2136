"""A run's life: first training, re-runs, resumes after faults, replacement; the Python API's own errors.

A reported validation loss is always the evaluation of the step it names; a finished run re-run reports its
true final figures; a run stopped before its first checkpoint or by a non-finite loss can be continued; a
lost evaluation is made again and best.json follows it.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import pytest
import torch

from conftest import TINY_OVERRIDES
from lanternlm.cli import main
from lanternlm.config import resolve_config
from lanternlm.errors import LanternError
from lanternlm.runs import RunExistsError, RunNotFoundError
from lanternlm.train import train
from lanternlm.train.checkpoint import best_checkpoint, list_checkpoints
from lanternlm.train.metrics import read_metrics
from test_cli import one_line_error


def tiny_config(*extra: str):
    return resolve_config("shakespeare-char-cpu", overrides=TINY_OVERRIDES + ["max_iters=12", "eval_interval=6",
                                                                              "checkpoint_interval=6", *extra])


def evaluations(run) -> dict[int, float]:
    return {r["step"]: r["val_loss"] for r in read_metrics(run / "metrics.jsonl") if "val_loss" in r}


def losses(run) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in read_metrics(run / "metrics.jsonl") if "loss" in r]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 12-step run (evaluations at 0, 6, 12) and the line `lantern train` printed for it."""
    run = tmp_path_factory.mktemp("lifecycle") / "run"
    args = ["train", "--preset", "shakespeare-char-cpu", "-q", "--out", str(run)]
    args += [x for o in TINY_OVERRIDES + ["max_iters=12", "eval_interval=6", "checkpoint_interval=6"]
             for x in ("--set", o)]
    printed, threads = io.StringIO(), torch.get_num_threads()
    torch.set_num_threads(1)  # as the tests that resume it (one_thread): same kernels, same bits
    with contextlib.redirect_stdout(printed):
        assert main(args) == 0
    torch.set_num_threads(threads)
    return run, printed.getvalue().strip()


def copy_of(finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished[0], run)
    return run


def test_rerun_of_a_finished_run_reprints_its_true_figures(finished, tmp_path, capsys, one_thread):
    run, first = copy_of(finished, tmp_path), finished[1]
    assert first.startswith("trained 12 steps: val loss ")
    assert f"val loss {evaluations(run)[12]:.4f}" in first  # the evaluation of step 12, not an earlier one
    assert main(["train", "--out", str(run), "--resume", "-q"]) == 0
    again = capsys.readouterr().out.strip()
    figures = first.split(" -> ")[0].replace("trained 12 steps", "already trained to 12 steps")
    assert again == f"{figures} -> {run}"  # the same figures, no nan
    assert len(losses(run)) == 12


def test_a_lost_evaluation_is_made_again_and_best_follows(finished, tmp_path, capsys, one_thread):
    """Kill during the evaluation of the last step: its record and best.json's update are missing."""
    run = copy_of(finished, tmp_path)
    expected = evaluations(run)
    records = [r for r in read_metrics(run / "metrics.jsonl") if r["step"] < 12 or "loss" in r]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (run / "checkpoints" / "best.json").write_text(json.dumps({"checkpoint": "step-0000006", "step": 6,
                                                               "val_loss": expected[6]}))
    assert main(["train", "--out", str(run), "--resume", "-q"]) == 0
    assert f"val loss {expected[12]:.4f}" in capsys.readouterr().out
    assert evaluations(run) == expected  # the same value: evaluation batches and weights are the same
    best = min((s for s in expected if s > 0), key=expected.get)
    assert best_checkpoint(run / "checkpoints").name == f"step-{best:07d}"


def test_run_stopped_before_its_first_checkpoint_can_be_resumed(finished, tmp_path, capsys, one_thread):
    run = copy_of(finished, tmp_path)
    expected = losses(run)
    shutil.rmtree(run / "checkpoints")
    (run / "model.safetensors").unlink()
    records = [r for r in read_metrics(run / "metrics.jsonl") if r["step"] <= 3]  # killed at step 4
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    message = one_line_error(capsys, ["train", "--preset", "shakespeare-char-cpu", "--out", str(run)])
    assert "stopped before its first checkpoint" in message and "--resume" in message and "--overwrite" in message
    assert main(["train", "--out", str(run), "--resume", "-q"]) == 0
    assert losses(run) == expected  # starting again from step 0 is the same trajectory


def test_non_finite_loss_names_what_is_kept_and_resuming_recovers(tmp_path, capsys, one_thread):
    run = tmp_path / "run"
    args = ["train", "--preset", "shakespeare-char-cpu", "-q", "--out", str(run)]
    args += [x for o in TINY_OVERRIDES + ["max_iters=12", "learning_rate=1e9", "warmup_iters=0", "grad_clip=0"]
             for x in ("--set", o)]
    message = one_line_error(capsys, args)
    assert "the loss became" in message and "learning_rate" in message
    assert "nothing was checkpointed yet" in message and "checkpoints" + "/" not in message
    assert not (run / "checkpoints").exists()
    assert main(["train", "--out", str(run), "--resume", "-q", "--set", "learning_rate=1e-3"]) == 0
    assert "trained 12 steps" in capsys.readouterr().out
    assert "learning_rate = 0.001" in (run / "config.toml").read_text()  # the change is the run's config now


def test_python_api_errors_and_overwrite(tmp_path, one_thread):
    out = tmp_path / "api-demo"
    first = train(tiny_config(), out, quiet=True)
    assert first.trained_now == 12 and first.val_loss == evaluations(out)[12]
    with pytest.raises(RunExistsError, match=r"resume=True .* overwrite=True") as caught:
        train(tiny_config(), out, quiet=True)
    assert isinstance(caught.value, FileExistsError) and "--" not in str(caught.value)
    again = train(tiny_config(), out, resume=True, quiet=True)
    assert again.trained_now == 0 and again.val_loss == first.val_loss and again.ms_per_iter == first.ms_per_iter
    replaced = train(tiny_config("seed=7"), out, overwrite=True, quiet=True)
    assert replaced.trained_now == 12 and replaced.val_loss != first.val_loss
    assert "seed = 7" in (out / "config.toml").read_text() and len(losses(out)) == 12
    with pytest.raises(ValueError, match="choose one"):
        train(tiny_config(), out, resume=True, overwrite=True)
    with pytest.raises(RunNotFoundError, match="without resume=True"):
        train(tiny_config(), tmp_path / "nothing-here", resume=True)
    with pytest.raises(TypeError, match="RunConfig"):
        train({"max_iters": 3}, tmp_path / "x")
    with pytest.raises(LanternError, match="expected int"):
        config = tiny_config()
        config.train.max_iters = "12"
        train(config, tmp_path / "y")


def test_overwrite_never_deletes_what_is_not_a_run(tmp_path, capsys):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "thesis.txt").write_text("years of work")
    assert "not a Lantern run" in one_line_error(capsys, ["train", "--out", str(folder), "--overwrite"])
    assert "not a Lantern run" in one_line_error(capsys, ["quickstart", "--out", str(folder), "--fresh"])
    assert (folder / "thesis.txt").read_text() == "years of work"
    file = tmp_path / "file.txt"
    file.write_text("x")
    assert "is a file" in one_line_error(capsys, ["train", "--out", str(file)])
    assert "drop --preset" in one_line_error(capsys, ["train", "--out", str(folder), "--resume", "--overwrite"])


def test_overwrite_checks_everything_before_deleting(finished, tmp_path, capsys):
    run = copy_of(finished, tmp_path)
    before = sorted(p.name for p in run.rglob("*"))
    assert "unknown config key" in one_line_error(capsys, ["train", "--out", str(run), "--overwrite",
                                                          "--set", "n_layerz=1"])
    assert "not found" in one_line_error(capsys, ["train", "--out", str(run), "--overwrite",
                                                 "--input", str(tmp_path / "missing.txt")])
    assert sorted(p.name for p in run.rglob("*")) == before


def test_fine_tune_stopped_before_its_first_checkpoint_restarts_from_its_source(finished, tmp_path, one_thread):
    source = finished[0]
    tuned = tmp_path / "tuned"
    config = tiny_config("max_iters=4", "checkpoint_interval=100", "eval_interval=100")
    train(config, tuned, init_from=source, quiet=True)
    assert (tuned / "config.toml").read_text().count(f'init_from = "{source.resolve()}"') == 1
    expected = losses(tuned)
    for item in ("checkpoints", "model.safetensors", "metrics.jsonl"):  # as a kill at step 2 leaves it
        shutil.rmtree(tuned / item) if item == "checkpoints" else (tuned / item).unlink()
    from lanternlm.runs import load_run_config
    train(load_run_config(tuned), tuned, resume=True, quiet=True)
    assert losses(tuned) == expected  # from the source's weights again, not from a random init


def test_flops_probe_leaves_the_global_generator_alone():
    from lanternlm.train.flops import measured_matmul_flops

    torch.manual_seed(0)
    state = torch.get_rng_state()
    measured_matmul_flops.cache_clear()
    assert measured_matmul_flops("cpu", torch.float32, n=32, repeats=1) > 0
    assert torch.equal(torch.get_rng_state(), state)


def test_checkpoint_random_state_is_complete(finished):
    state = torch.load(list_checkpoints(finished[0] / "checkpoints")[-1] / "state.pt", weights_only=True)
    assert {"python", "numpy", "torch", "data"} <= state["rng"].keys()
    assert ("cuda" in state["rng"]) == torch.cuda.is_available()
    assert "val_loss" not in state["extra"]  # evaluations live in metrics.jsonl, written after them


def test_weights_left_behind_by_a_kill_are_brought_up_to_date(finished, tmp_path, capsys, one_thread):
    """Killed while writing the run's weights after the last checkpoint: model.safetensors still holds older
    weights (found by the kill-anywhere test). Resuming, even a finished run, writes the checkpoint's."""
    run = copy_of(finished, tmp_path)
    final = (run / "model.safetensors").read_bytes()
    older = tmp_path / "older"
    train(tiny_config("max_iters=6"), older, quiet=True)
    shutil.copy(older / "model.safetensors", run / "model.safetensors")
    assert (run / "model.safetensors").read_bytes() != final
    assert main(["train", "--out", str(run), "--resume", "-q"]) == 0
    assert "already trained to 12 steps" in capsys.readouterr().out
    assert (run / "model.safetensors").read_bytes() == final
