"""Loss curves: train and validation loss against step (and the learning rate), for one or more runs."""

from __future__ import annotations

from pathlib import Path

from ..errors import LanternError
from ..io import atomic_path
from .metrics import is_number, read_metrics


def _series(records: list[dict], key: str) -> list[tuple[int, float]]:
    return [(r["step"], r[key]) for r in records if is_number(r.get(key))]


def plot_runs(metrics_files: dict[str, Path], out_png: Path) -> None:
    """Draw every run's train/val loss (top) and lr (bottom) on one figure; written atomically as PNG.
    Unreadable lines are skipped; a run with nothing left to draw is an error."""
    curves = {}
    for label, path in metrics_files.items():
        records = read_metrics(path)
        curves[label] = (_series(records, "loss"), _series(records, "val_loss"), _series(records, "lr"))
        if not any(curves[label]):
            raise LanternError(f"{path}: no readable training records (nothing to plot)")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_lr) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, height_ratios=[3, 1])
    for label, (train, val, lr) in curves.items():
        if train:
            line, = ax_loss.plot(*zip(*train), label=f"{label} train", alpha=0.8)
            color = line.get_color()
        else:
            color = None
        if val:
            ax_loss.plot(*zip(*val), "o--", color=color, label=f"{label} val")
        if lr:
            ax_lr.plot(*zip(*lr), color=color)
    ax_loss.set_ylabel("cross-entropy loss (nats/token)")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend()
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("step")
    ax_lr.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
