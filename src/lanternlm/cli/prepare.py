"""`lantern prepare`: tokenize a corpus once into memory-mapped token files for training."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import LanternError
from .app import app
from .options import progress_console


@app.command("prepare")
def prepare_command(
    tokenizer: Path = typer.Option(..., "--tokenizer", "-t", help="Tokenizer file (.json)."),
    input: List[Path] = typer.Option(..., "--input", "-i", metavar="FILE|DIR", help="Text files (.txt/.gz) or directories; each file is a document."),
    out: Path = typer.Option(..., "--out", "-o", help="Data directory to write (train.bin, val.bin, header.json, tokenizer.json)."),
    val_fraction: Optional[float] = typer.Option(None, "--val-fraction", help="Last fraction of the tokens kept for validation; default 0.1."),
    val: Optional[Path] = typer.Option(None, "--val", help="A separate validation file instead of --val-fraction."),
    workers: int = typer.Option(0, "--workers", min=0, help="Encoding processes; 0 = all cores."),
    force: bool = typer.Option(False, "--force", help="Replace prepared data already in --out (nothing else is ever replaced)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Tokenize text into uint16/uint32 token files (documents joined by <|endoftext|>, or [SEP] for WordPiece)."""
    import time

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ..data.prepare import plan_prepare, write_prepared

    if val_fraction is not None and val is not None:
        raise LanternError("give --val-fraction or --val, not both")
    plan = plan_prepare(tokenizer, input, out, 0.1 if val_fraction is None else val_fraction, val, workers or None,
                        force)
    start = time.perf_counter()
    console, disabled = progress_console(quiet)
    progress = Progress(SpinnerColumn(), TextColumn("[bold]tokenizing[/] {task.fields[chars]} characters"),
                        TimeElapsedColumn(), console=console, disable=disabled, transient=True)
    task = progress.add_task("prepare", total=None, chars="0")
    with progress:
        header = write_prepared(plan, lambda done: progress.update(task, chars=f"{done:,}"))
    splits = header["splits"]
    typer.echo(f"prepared {splits['train']['tokens']:,} train + {splits['val']['tokens']:,} val tokens "
               f"({header['dtype']}) in {time.perf_counter() - start:.1f} s -> {out}")
