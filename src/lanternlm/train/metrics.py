"""metrics.jsonl: one JSON object per logged step ({"step", "loss", "lr", ...}), one per evaluation ({"step",
"train_loss_eval", "val_loss"}), and at the end of each training session {"step", "summary": {"ms_per_iter",
"tokens_per_sec"}}. It is the run's record: a resumed or re-run run reads its evaluations and figures here.

When the `tensorboard` package is installed, the same scalars also go to RUN/tensorboard/ for
`tensorboard --logdir RUN`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from ..io import write_text_atomic


class MetricsLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._tensorboard = None
        self._tensorboard_tried = False

    def _writer(self):
        if not self._tensorboard_tried:
            self._tensorboard_tried = True
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                return None
            self._tensorboard = SummaryWriter(str(self.path.parent / "tensorboard"))
        return self._tensorboard

    def truncate_after(self, step: int) -> None:
        """On resume, drop records logged after the checkpoint we restart from (they will be logged again)."""
        kept = [r for r in read_metrics(self.path) if r.get("step", 0) <= step]
        write_text_atomic(self.path, "".join(json.dumps(r) + "\n" for r in kept))

    def write(self, record: dict[str, Any], durable: bool = False) -> None:
        """Append one record; `durable`: on disk before this returns (fsync), as evaluations are."""
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        writer = self._writer()
        if writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    writer.add_scalar(key, value, record["step"])
            writer.flush()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """All readable records: objects with an integer "step" whose numbers are finite. Anything else (a line cut
    short by a kill, bytes that are not UTF-8, a hand-edited line) is skipped, as is a file we cannot read."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if _readable(record):
            records.append(record)
    return records


def _readable(record: Any) -> bool:
    if not isinstance(record, dict) or type(record.get("step")) is not int:
        return False
    numbers = [v for v in record.values() if isinstance(v, float)]
    return all(math.isfinite(v) for v in numbers)


def run_summary(records: list[dict[str, Any]], step: int) -> dict[str, float]:
    """The figures of `step`: "loss" (logged), "val_loss" (its evaluation) and the "ms_per_iter" and
    "tokens_per_sec" of the session that trained up to it; a figure never recorded is absent."""
    summary: dict[str, float] = {}
    for record in records:
        if record["step"] != step:
            continue
        summary.update({k: record[k] for k in ("loss", "val_loss") if is_number(record.get(k))})
        speed = record.get("summary")
        if isinstance(speed, dict):
            summary.update({k: speed[k] for k in ("ms_per_iter", "tokens_per_sec") if is_number(speed.get(k))})
    return summary


def is_number(value: Any) -> bool:
    """An int or float, not a bool (JSON true is not a loss)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
