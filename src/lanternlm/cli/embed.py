"""`lantern embed tfidf`: find the documents most similar to a query by TF-IDF and cosine similarity."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List

import typer

from .app import app

embed_app = typer.Typer(help="Classic sparse text vectors (bag of words, TF-IDF) and search with them.",
                        no_args_is_help=True)
app.add_typer(embed_app, name="embed")


def _documents(paths: List[Path], split: str) -> list[tuple[str, str]]:
    """(location, text) for every non-empty line, paragraph or file of the inputs."""
    from ..io import read_text
    from ..errors import LanternError

    if split not in ("line", "paragraph", "file"):
        raise LanternError(f"--split must be line, paragraph or file, not {split!r}")
    docs = []
    for path in paths:
        text = read_text(path)
        if split == "file":
            docs.append((str(path), text))
            continue
        units = text.splitlines() if split == "line" else re.split(r"\n\s*\n", text)
        label = "line" if split == "line" else "paragraph"
        docs.extend((f"{path}:{label} {n}", unit) for n, unit in enumerate(units, 1) if unit.strip())
    return docs


@embed_app.command("tfidf")
def tfidf_command(
    input: List[Path] = typer.Option(..., "--input", "-i", metavar="DOCS", help="Text file(s) holding the documents (repeatable)."),
    query: str = typer.Option(..., "--query", "-q", help="The text to search for."),
    top: int = typer.Option(5, "--top", "-n", min=1, help="How many documents to show."),
    split: str = typer.Option("line", "--split", help="What one document is: line | paragraph | file."),
) -> None:
    """Rank documents by cosine similarity of TF-IDF vectors (smooth idf, l2-normalised) to the query."""
    from ..classic.bow import TfidfIndex

    docs = _documents(input, split)
    index = TfidfIndex([text for _, text in docs])
    typer.echo(f"{len(docs):,} documents, {index.tokenizer.vocab_size - 1:,} distinct words")
    for rank, match in enumerate(index.search(query, top), 1):
        where, text = docs[match.index]
        snippet = " ".join(text.split())
        snippet = snippet if len(snippet) <= 90 else snippet[:87] + "..."
        typer.echo(f"{rank:>3}. {match.score:.4f}  {where}  {snippet}")
