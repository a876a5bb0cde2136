"""metrics.jsonl: one JSON object per logged step ({"step", "loss", "lr", ...}; "val_loss" on evaluations).

When the `tensorboard` package is installed, the same scalars also go to RUN/tensorboard/ for
`tensorboard --logdir RUN`.
"""

from __future__ import annotations

import json
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

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        writer = self._writer()
        if writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    writer.add_scalar(key, value, record["step"])
            writer.flush()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """All complete records (a line cut short by a kill is skipped)."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
