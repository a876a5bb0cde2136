"""metrics.jsonl: one JSON object per logged step ({"step", "loss", "lr", ...}; "val_loss" on evaluations)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..io import write_text_atomic


class MetricsLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def truncate_after(self, step: int) -> None:
        """On resume, drop records logged after the checkpoint we restart from (they will be logged again)."""
        kept = [r for r in read_metrics(self.path) if r.get("step", 0) <= step]
        write_text_atomic(self.path, "".join(json.dumps(r) + "\n" for r in kept))

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


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
