"""Run `lantern ARGS` and kill -9 the process at a chosen moment, from inside, so the moment is exact.

    python tests/kill_harness.py EVENT N COUNTS_JSON -- ARGS...

EVENT names a point the program passes many times; the process SIGKILLs itself the N-th time it gets there:
  step   the start of a training step (trainer.learning_rate_at)
  eval   the start of an evaluation (trainer.estimate_loss)
  write  an atomic write about to be made durable (io._fsync): the file is first cut to half its length, as
         a kill in the middle of writing it would leave it
  checkpoint, weights   the same, counting only the files of a checkpoint being written / the run's weights
  log    a metrics.jsonl record: half of its line is written first
N = 0 never kills: the program runs to the end and COUNTS_JSON receives how often it passed each point, so
a test can draw N within range. SIGKILL cannot be caught: no cleanup code runs, as with `kill -9` from outside.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import torch

torch.set_num_threads(1)

import lanternlm.io as io_module  # noqa: E402
import lanternlm.train.metrics as metrics_module  # noqa: E402
import lanternlm.train.trainer as trainer_module  # noqa: E402
from lanternlm.cli import main  # noqa: E402

passed: Counter = Counter()


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def watch(event, target: int, before=None):
    """A wrapper that counts passages through `event` (a name, or a function of the call's arguments giving
    the names that apply) and dies when the chosen one, `target`, is passed for the `target[1]`-th time."""

    def wrap(function):
        def wrapper(*args, **kwargs):
            for name in event(*args, **kwargs) if callable(event) else [event]:
                passed[name] += 1
                if (name, passed[name]) == target:
                    if before is not None:
                        before(*args, **kwargs)
                    die()
            return function(*args, **kwargs)

        return wrapper

    return wrap


def cut_in_half(path, *_, **__) -> None:
    size = Path(path).stat().st_size
    os.truncate(path, size // 2)


def half_a_line(log, record, *_, **__) -> None:
    line = json.dumps(record) + "\n"
    with open(log.path, "a", encoding="utf-8") as fh:
        fh.write(line[: len(line) // 2])


def kinds_of_write(path, *_, **__) -> list[str]:
    path = Path(path)
    kinds = ["write"]
    if path.parent.name.startswith(".step-"):
        kinds.append("checkpoint")
    elif path.name.startswith(".model.safetensors.") and not path.parent.name.startswith("."):
        kinds.append("weights")
    return kinds


def install(target: tuple[str, int]) -> None:
    trainer_module.learning_rate_at = watch("step", target)(trainer_module.learning_rate_at)
    trainer_module.estimate_loss = watch("eval", target)(trainer_module.estimate_loss)
    io_module._fsync = watch(kinds_of_write, target, cut_in_half)(io_module._fsync)
    metrics_module.MetricsLog.write = watch("log", target, half_a_line)(metrics_module.MetricsLog.write)


if __name__ == "__main__":
    event, target, counts_file = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    args = sys.argv[sys.argv.index("--") + 1:]
    install((event, target))
    atexit.register(lambda: counts_file.write_text(json.dumps(passed)))
    sys.exit(main(args))
