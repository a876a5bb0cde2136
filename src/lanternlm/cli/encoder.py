"""`lantern fill` and `lantern embed sentences | search | similarity | contextual`: an encoder (BERT) put to use."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import LanternError
from .app import app
from .embed import embed_app
from .options import DEVICE, progress_console

RUN_ARG = typer.Argument(..., help="An encoder run (model.family = \"bert\"), e.g. all-MiniLM-L6-v2 imported with "
                                   "`lantern convert from-hf`.")
TOP = typer.Option(5, "--top", "-n", min=1, max=10_000, help="How many candidates or texts to show.")


def _encoder(run: Path, device: Optional[str]):
    from ..device import resolve_device
    from ..encode import as_encoder

    return as_encoder(run, resolve_device(device or "auto"))


def _one_line(text: str, width: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 3] + "..."


def _check_texts(texts: list[str], what: str) -> None:
    """Every text has a word: an empty one would still get a vector (of [CLS] [SEP] alone), a meaningless one."""
    for number, text in enumerate(texts, 1):
        if not text.strip():
            raise LanternError(f"{what} {number} is empty" if len(texts) > 1 else f"{what} is empty")


def read_texts(path: Path, field: Optional[str]) -> list[str]:
    """The texts of a file: one per non-blank line, or with `field` the string `field` of each JSONL object."""
    from ..io import iter_lines

    texts = []
    for number, line in enumerate(iter_lines(path), 1):
        if not line.strip():
            continue
        if field is None:
            texts.append(line.rstrip("\r\n"))
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LanternError(f"{path}:{number}: not a JSON object ({exc.msg}); drop --field for plain text lines")
        value = record.get(field) if isinstance(record, dict) else None
        if not isinstance(value, str):
            raise LanternError(f"{path}:{number}: no text field {field!r} (a string) in this record")
        texts.append(value)
    if not texts:
        raise LanternError(f"{path}: no texts to embed (the file is empty)")
    return texts


@app.command("fill")
def fill_command(
    run: Path = RUN_ARG,
    text: str = typer.Argument(..., help="Text with one or more [MASK], e.g. \"The little girl went to the [MASK].\""),
    top: int = TOP,
    device: Optional[str] = DEVICE,
) -> None:
    """Fill in the blanks: the most likely tokens at each [MASK] of the text, with their probabilities."""
    from ..encode import fill_masks

    predictions, filled = fill_masks(_encoder(run, device), text, top)
    for n, prediction in enumerate(predictions, 1):
        typer.echo(f"[MASK] {n} of {len(predictions)} (position {prediction.position}):")
        for rank, (token, _, p) in enumerate(prediction.candidates, 1):
            typer.echo(f"  {rank:>3}. {token:<16} {100 * p:6.2f}%  {'█' * round(30 * p)}")
    typer.echo(f"-> {filled}")


@embed_app.command("sentences")
def sentences_command(
    run: Path = RUN_ARG,
    input: Path = typer.Option(..., "--input", "-i", metavar="FILE", help="Texts: one per line, or JSONL with --field."),
    out: Path = typer.Option(..., "--out", "-o", metavar="VECS", help="Index folder to write (vectors.safetensors, texts.jsonl, header.json)."),
    field: Optional[str] = typer.Option(None, "--field", help="Read --input as JSONL and embed this string field of each object."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, max=65_536, help="Texts per forward pass (texts of similar length are batched together)."),
    force: bool = typer.Option(False, "--force", help="Replace an index already in --out (nothing else is ever replaced)."),
    device: Optional[str] = DEVICE,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Embed every text of a file with an encoder into a sentence index for `lantern embed search`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..encode import check_index_folder, save_index

    texts = read_texts(input, field)
    check_index_folder(out, force)
    encoder = _encoder(run, device)
    console, disabled = progress_console(quiet)
    progress = Progress(TextColumn("[bold]embedding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=console, disable=disabled, transient=True)
    task = progress.add_task("embed", total=len(texts))
    start = time.perf_counter()
    with progress:
        vectors = encoder.embed(texts, batch_size, lambda done, total: progress.update(task, completed=done))
    seconds = time.perf_counter() - start
    save_index(out, texts, vectors, str(Path(run).resolve()), encoder.model.config)
    typer.echo(f"embedded {len(texts):,} texts into {encoder.dim} dimensions (cut at {encoder.max_length} tokens) in "
               f"{seconds:.1f} s ({len(texts) / seconds:,.0f} texts/s) -> {out}")


@embed_app.command("search")
def search_command(
    run: Path = RUN_ARG,
    index: Path = typer.Option(..., "--index", metavar="VECS", help="A sentence index written by `lantern embed sentences` with this run."),
    query: str = typer.Option(..., "--query", "-q", help="The text to search for."),
    top: int = TOP,
    device: Optional[str] = DEVICE,
) -> None:
    """The texts of an index closest in meaning to the query: cosine similarity of sentence vectors."""
    from ..encode import load_index

    _check_texts([query], "--query")
    found = load_index(index)
    hits = found.search(_encoder(run, device).embed([query])[0], top)
    if found.header.get("model") != str(Path(run).resolve()):
        typer.echo(f"note: the index was made with {found.header.get('model')}", err=True)
    for rank, (row, score) in enumerate(hits, 1):
        typer.echo(f"{rank:>3}. {score:.4f}  {_one_line(found.texts[row])}")


@embed_app.command("similarity")
def similarity_command(
    run: Path = RUN_ARG,
    texts: List[str] = typer.Argument(..., help="Two or more texts to compare."),
    device: Optional[str] = DEVICE,
) -> None:
    """Cosine similarity of the texts' sentence vectors (a matrix for more than two)."""
    if len(texts) < 2:
        raise LanternError("give two or more texts to compare")
    _check_texts(texts, "text")
    matrix = _encoder(run, device).similarity(texts)
    if len(texts) == 2:
        typer.echo(f"cosine similarity {matrix[0, 1].item():.4f}")
        return
    for i, text in enumerate(texts):
        typer.echo(" ".join(f"{v:7.4f}" for v in matrix[i].tolist()) + f"  {i + 1}. {_one_line(text, 60)}")


@embed_app.command("contextual")
def contextual_command(
    run: Path = RUN_ARG,
    sentences: List[str] = typer.Argument(..., help="Two (or more) sentences that use the word."),
    word: str = typer.Option(..., "--word", "-w", help="The word to compare, e.g. bank."),
    device: Optional[str] = DEVICE,
) -> None:
    """The same word in different sentences: its contextual vectors (last layer) differ, its static
    (input-embedding) vector is one and the same."""
    from ..encode import word_in_context

    if len(sentences) < 2:
        raise LanternError("give two or more sentences that contain the word")
    _check_texts(sentences, "sentence")
    found = word_in_context(_encoder(run, device), sentences, word)
    typer.echo(f"{word!r} = {' '.join(found.pieces)}; at position {', '.join(map(str, found.positions))} "
               f"of the sentences ([CLS] is 0)")
    contextual, static = found.cosines()
    pairs = [(i, j) for i in range(len(sentences)) for j in range(i + 1, len(sentences))]
    for i, j in pairs:
        typer.echo(f"sentences {i + 1} and {j + 1}: contextual cosine {contextual[i, j].item():.4f}, "
                   f"static cosine {static[i, j].item():.4f}")
    typer.echo("contextual: the last layer's vectors (pieces averaged), which saw the whole sentence; static: the "
               "input embedding row(s), the same wherever the word appears")
