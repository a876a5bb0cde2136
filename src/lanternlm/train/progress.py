"""A terminal progress bar for training: step, loss, lr, tokens/s and ETA, plus one line per evaluation."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class TrainingProgress:
    def __init__(self, total: int, start: int, enabled: bool = True) -> None:
        self.console = Console(stderr=True, quiet=not enabled)
        self.progress = Progress(
            TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  lr {task.fields[lr]}  {task.fields[tps]} tok/s"),
            TimeRemainingColumn(), console=self.console, disable=not enabled,
        )
        self.task = self.progress.add_task("train", total=total, completed=start, loss="-", lr="-", tps="-")

    def __enter__(self) -> "TrainingProgress":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def update(self, step: int, loss: float, lr: float, tokens_per_sec: float) -> None:
        self.progress.update(self.task, completed=step, loss=f"{loss:.4f}", lr=f"{lr:.2e}", tps=f"{tokens_per_sec:,.0f}")

    def announce(self, text: str) -> None:
        self.console.print(text)

    def log_eval(self, step: int, losses: dict[str, float]) -> None:
        self.console.print(f"step {step:>6}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
