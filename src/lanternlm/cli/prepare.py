"""`lantern prepare`: tokenize a corpus once into memory-mapped token files, or sentence pairs for translation."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import LanternError
from .app import app
from .options import progress_console


@app.command("prepare")
def prepare_command(
    tokenizer: Optional[Path] = typer.Option(None, "--tokenizer", "-t", help="Tokenizer file (.json); with --pairs, optional (default: train a BPE on the pairs)."),
    input: List[Path] = typer.Option([], "--input", "-i", metavar="FILE|DIR", help="Text files (.txt/.gz) or directories; each file is a document."),
    out: Path = typer.Option(..., "--out", "-o", help="Data directory to write (train.bin, val.bin, header.json, tokenizer.json; with --pairs train/val .npz and .tsv)."),
    val_fraction: Optional[float] = typer.Option(None, "--val-fraction", help="Last fraction of the tokens kept for validation; default 0.1 (with --pairs: a seeded 0.05 of the pairs)."),
    val: Optional[Path] = typer.Option(None, "--val", help="A separate validation file instead of --val-fraction."),
    workers: int = typer.Option(0, "--workers", min=0, help="Encoding processes; 0 = all cores."),
    pairs: Optional[Path] = typer.Option(None, "--pairs", metavar="FILE.tsv", help="Sentence pairs for translation, one tab-separated pair per line (instead of --input)."),
    source_column: int = typer.Option(0, "--source-column", help="With --pairs: the column (from 0) holding the source sentence."),
    target_column: int = typer.Option(1, "--target-column", help="With --pairs: the column (from 0) holding the target sentence."),
    vocab_size: int = typer.Option(8000, "--vocab-size", "-v", help="With --pairs: size of the BPE vocabulary trained on the training pairs."),
    separate_vocabularies: bool = typer.Option(False, "--separate-vocabularies", help="With --pairs: one BPE per language instead of one joint vocabulary for both."),
    max_words: int = typer.Option(0, "--max-words", help="With --pairs: drop pairs with more words than this on a side; 0 = no limit."),
    max_tokens: int = typer.Option(64, "--max-tokens", help="With --pairs: drop pairs with more tokens than this on a side (end token included)."),
    seed: int = typer.Option(0, "--seed", help="With --pairs: seed of the validation split."),
    force: bool = typer.Option(False, "--force", help="Replace prepared data already in --out (nothing else is ever replaced)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Tokenize text into uint16/uint32 token files (documents joined by <|endoftext|>, or [SEP] for WordPiece),
    or, with --pairs, sentence pairs into a translation data set (length filtering reported, validation split by
    a fixed seed)."""
    import time

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    if pairs is not None:
        if input or val is not None:
            raise LanternError("--pairs prepares sentence pairs; drop --input/--val (the validation pairs are drawn "
                               "from the file by --val-fraction and --seed)")
        return prepare_pairs_command(pairs, out, tokenizer, val_fraction, source_column, target_column, vocab_size,
                                     separate_vocabularies, max_words, max_tokens, seed, force, quiet)
    if tokenizer is None or not input:
        raise LanternError("give --tokenizer and --input (or --pairs FILE.tsv for translation data)")

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


def prepare_pairs_command(pairs: Path, out: Path, tokenizer: Optional[Path], val_fraction: Optional[float],
                          source_column: int, target_column: int, vocab_size: int, separate: bool, max_words: int,
                          max_tokens: int, seed: int, force: bool, quiet: bool) -> None:
    import time

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ..data.prepare_pairs import prepare_pairs

    start = time.perf_counter()
    console, disabled = progress_console(quiet)
    progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[stage]}"), TimeElapsedColumn(),
                        console=console, disable=disabled, transient=True)
    task = progress.add_task("pairs", total=None, stage="reading pairs")
    with progress:
        header, report = prepare_pairs(pairs, out, source_column, target_column, vocab_size, tokenizer, separate,
                                       max_words, max_tokens, 0.05 if val_fraction is None else val_fraction, seed,
                                       lambda stage: progress.update(task, stage=stage), force)
    vocabulary = (f"vocabularies {header['source_vocab_size']:,} + {header['vocab_size']:,}" if separate
                  else f"vocabulary {header['vocab_size']:,}")
    typer.echo(f"{pairs}: {report.summary()}")
    typer.echo(f"prepared {header['splits']['train']['source_tokens'] + header['splits']['train']['target_tokens']:,} "
               f"train tokens ({vocabulary}) in {time.perf_counter() - start:.1f} s -> {out}")
