"""`lantern tokenizer ...`: train, import, encode, decode, show and measure tokenizers (byte-level BPE, WordPiece)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional, Tuple

import typer

from ..errors import LanternError
from .app import app
from .options import MAX_WORKERS, progress_console

tokenizer_app = typer.Typer(help="Train, import, inspect and use tokenizers (byte-level BPE and BERT's WordPiece).",
                            no_args_is_help=True)
app.add_typer(tokenizer_app, name="tokenizer")

TOK_ARG = typer.Argument(..., help="Tokenizer file (.json) written by `lantern tokenizer train` or `import`.")
COLOURS = ["on #3b4252", "on #4c566a", "on #5e81ac", "on #a3be8c", "on #b48ead", "on #d08770", "on #88c0d0"]


def _progress_callback(quiet: bool):
    """A rich progress display for the two training stages; returns (context manager, callback)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console, disabled = progress_console(quiet)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, disable=disabled)
    tasks: dict[str, int] = {}

    def update(stage: str, done: int, total: Optional[int]) -> None:
        if stage not in tasks:
            label = "counting (chars read)" if stage == "count" else "merging"
            tasks[stage] = progress.add_task(label, total=total)
        progress.update(tasks[stage], completed=done, total=total)

    return progress, update


def _parse_specials(items: List[str]) -> dict[str, int]:
    specials = {}
    for item in items:
        text, sep, number = item.rpartition("=")
        if not sep or not text or not number.isdigit():
            raise LanternError(f"--special expects TEXT=ID, got {item!r}")
        specials[text] = int(number)
    return specials


@tokenizer_app.command("train")
def train_command(
    input: List[Path] = typer.Option(..., "--input", "-i", metavar="FILE", help="Training text: .txt or .gz files, or directories of them."),
    vocab_size: int = typer.Option(..., "--vocab-size", "-v", help="Total ids. bpe: 256 bytes + merges + special tokens; wordpiece: 5 special tokens + characters + merged pieces."),
    out: Path = typer.Option(..., "--out", "-o", help="Tokenizer file to write (JSON)."),
    kind: str = typer.Option("bpe", "--kind", help="bpe (byte-level BPE, GPT) | wordpiece (BERT's WordPiece)."),
    pattern: Optional[str] = typer.Option(None, "--pattern", help="bpe: pre-tokenization regex gpt2 | gpt4 (default gpt2)."),
    special: Optional[List[str]] = typer.Option(None, "--special", help="bpe: special token text (repeatable), given ids after the merges; default <|endoftext|>."),
    lowercase: bool = typer.Option(True, "--lowercase/--no-lowercase", help="wordpiece: lower-case and strip accents before splitting (BERT uncased)."),
    workers: int = typer.Option(0, "--workers", min=0, max=MAX_WORKERS, help="bpe: processes that count chunks; 0 = all cores."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a byte-level BPE (default) or a WordPiece tokenizer on text files."""
    import time

    from ..io import check_writable

    if kind not in ("bpe", "wordpiece"):
        raise LanternError(f"--kind must be bpe or wordpiece, got {kind!r}")
    if kind == "wordpiece" and (pattern is not None or special is not None):
        raise LanternError("--pattern and --special are for --kind bpe; WordPiece splits words BERT's way and "
                           "has [PAD] [UNK] [CLS] [SEP] [MASK]")
    pattern = pattern or "gpt2"
    if pattern not in ("gpt2", "gpt4"):
        raise LanternError(f"--pattern must be gpt2 or gpt4, got {pattern!r}")
    check_writable(out)
    start = time.perf_counter()
    progress, update = _progress_callback(quiet)
    with progress:
        if kind == "wordpiece":
            from ..tokenizers.wordpiece_train import train_wordpiece

            tok = train_wordpiece(input, vocab_size, lowercase=lowercase, progress=update)
        else:
            from ..tokenizers.bpe_train import train_bpe

            tok = train_bpe(input, vocab_size, pattern, ["<|endoftext|>"] if special is None else special,
                            workers or None, update)
    tok.save(out)
    what = (f"{tok.vocab_size:,} WordPiece ids, {'lower-cased' if lowercase else 'cased'}" if kind == "wordpiece"
            else f"{len(tok.merges):,} merges ({tok.vocab_size:,} ids, pattern {pattern})")
    typer.echo(f"trained {what} in {time.perf_counter() - start:.1f} s -> {out}")


@tokenizer_app.command("import")
def import_command(
    out: Path = typer.Option(..., "--out", "-o", help="Tokenizer file to write (JSON)."),
    gpt2: Optional[Tuple[Path, Path]] = typer.Option(None, "--gpt2", metavar="ENCODER_JSON VOCAB_BPE", help="GPT-2's encoder.json and vocab.bpe."),
    tiktoken: Optional[Path] = typer.Option(None, "--tiktoken", metavar="FILE", help="A .tiktoken rank file."),
    pattern: str = typer.Option("gpt2", "--pattern", help="Regex for a .tiktoken file: gpt2 (r50k/p50k) | gpt4 (cl100k) | o200k."),
    special: List[str] = typer.Option([], "--special", metavar="TEXT=ID", help="Special tokens for a .tiktoken file; default: OpenAI's for --pattern."),
    wordpiece: Optional[Path] = typer.Option(None, "--wordpiece", metavar="DIR_OR_VOCAB_TXT", help="A BERT WordPiece tokenizer: a Hugging Face model directory or a vocab.txt."),
    lowercase: Optional[bool] = typer.Option(None, "--lowercase/--no-lowercase", help="--wordpiece: lower-case and strip accents (default: the directory's config; for a bare vocab.txt, lower-case)."),
) -> None:
    """Import GPT-2's files, an OpenAI .tiktoken rank file or a BERT WordPiece vocabulary as a Lantern tokenizer."""
    from ..io import check_writable
    from ..tokenizers.bpe import BPETokenizer

    if sum(option is not None for option in (gpt2, tiktoken, wordpiece)) != 1:
        raise LanternError("give exactly one of --gpt2 ENCODER_JSON VOCAB_BPE, --tiktoken FILE or --wordpiece DIR")
    check_writable(out)
    if wordpiece is not None:
        _import_wordpiece(wordpiece, lowercase, out)
        return
    if gpt2 is not None:
        tok = BPETokenizer.from_gpt2_files(*gpt2)
    else:
        tok = BPETokenizer.from_tiktoken_file(tiktoken, pattern, _parse_specials(special) if special else None)
    tok.save(out)
    typer.echo(f"imported {len(tok.merges):,} merges ({tok.vocab_size:,} ids, "
               f"{len(tok.special_tokens)} special tokens) -> {out}")


def _import_wordpiece(source: Path, lowercase: Optional[bool], out: Path) -> None:
    from ..tokenizers.wordpiece import WordPieceTokenizer

    if source.is_dir():
        overrides = {} if lowercase is None else {"lowercase": lowercase, "strip_accents": None}
        tok = WordPieceTokenizer.from_hf_directory(source, **overrides)
    else:
        tok = WordPieceTokenizer.from_vocab(source, lowercase=True if lowercase is None else lowercase)
    tok.save(out)
    typer.echo(f"imported {tok.vocab_size:,} WordPiece ids ({'lower-cased' if tok.pre.lowercase else 'cased'}, "
               f"{len(tok.special_tokens)} special tokens) -> {out}")


@tokenizer_app.command("encode")
def encode_command(
    tok: Path = TOK_ARG,
    text: Optional[str] = typer.Argument(None, help="Text to encode (or use --input)."),
    input: Optional[Path] = typer.Option(None, "--input", "-i", help="Encode this file (.txt or .gz), streamed."),
    allow_special: bool = typer.Option(False, "--allow-special", help="Turn special-token text into its id (default: ordinary text)."),
) -> None:
    """Print the token ids of TEXT (or of --input FILE), separated by spaces."""
    from ..tokenizers import load_tokenizer
    from ..io import iter_lines

    if (text is None) == (input is None):
        raise LanternError("give either TEXT or --input FILE")
    tokenizer = load_tokenizer(tok)
    kwargs = {"allowed_special": "all"} if allow_special else {}
    if input is None:
        typer.echo(" ".join(map(str, tokenizer.encode(text, **kwargs))))
        return
    if not hasattr(tokenizer, "encode_iterable"):
        raise LanternError(f"--input needs a BPE or WordPiece tokenizer; {tok} is kind {tokenizer.kind!r}")
    ids = tokenizer.encode_iterable(iter_lines(input), **kwargs)
    line: list[str] = []
    for i in ids:
        line.append(str(i))
        if len(line) == 4096:
            sys.stdout.write(" ".join(line) + " ")
            line = []
    sys.stdout.write(" ".join(line) + "\n")


@tokenizer_app.command("decode")
def decode_command(
    tok: Path = TOK_ARG,
    ids: List[int] = typer.Argument(..., help="Token ids."),
) -> None:
    """Print the text of token ids."""
    from ..tokenizers import load_tokenizer

    typer.echo(load_tokenizer(tok).decode(ids))


@tokenizer_app.command("show")
def show_command(
    tok: Path = TOK_ARG,
    text: str = typer.Argument(..., help="Text to show token by token."),
    allow_special: bool = typer.Option(False, "--allow-special", help="Turn special-token text into its id."),
) -> None:
    """Print TEXT with each token on its own colour, then tokens, characters and bytes per token."""
    from rich.console import Console
    from rich.text import Text

    from ..tokenizers import load_tokenizer

    tokenizer = load_tokenizer(tok)
    ids = tokenizer.encode(text, **({"allowed_special": "all"} if allow_special else {}))
    # WordPiece shows its decoded pieces (" word", "ing"), so word boundaries stay visible.
    pieces = tokenizer.decode_pieces(ids) if hasattr(tokenizer, "decode_pieces") else map(tokenizer.token_text, ids)
    shown = Text()
    for n, piece in enumerate(pieces):
        shown.append(piece, style=COLOURS[n % len(COLOURS)])
    console = Console(highlight=False)
    console.print(shown)
    n_bytes = len(text.encode("utf-8"))
    console.print(f"{len(ids)} tokens, {len(text)} characters, {n_bytes} bytes, "
                  f"{n_bytes / max(len(ids), 1):.2f} bytes/token")
    console.print("ids: " + " ".join(map(str, ids)))


@tokenizer_app.command("stats")
def stats_command(
    tok: Path = TOK_ARG,
    file: Path = typer.Argument(..., help="Text file (.txt or .gz) to measure on."),
    top: int = typer.Option(10, "--top", min=1, help="How many frequent and long tokens to list."),
) -> None:
    """Compression of a text file: bytes/token, tokens/word, the most frequent and the longest tokens."""
    from collections import Counter

    from ..io import read_text
    from ..tokenizers import load_tokenizer

    tokenizer = load_tokenizer(tok)
    text = read_text(file)
    ids = tokenizer.encode(text)
    counts = Counter(ids)
    n_bytes = len(text.encode("utf-8"))
    typer.echo(f"{file}: {n_bytes:,} bytes, {len(text.split()):,} words -> {len(ids):,} tokens "
               f"({len(counts):,} distinct of {tokenizer.vocab_size:,})")
    typer.echo(f"bytes/token {n_bytes / len(ids):.3f}   tokens/word {len(ids) / max(len(text.split()), 1):.3f}")
    typer.echo("most frequent: " + "  ".join(f"{tokenizer.token_text(i)!r}×{n:,}" for i, n in counts.most_common(top)))
    longest = sorted(counts, key=lambda i: (-len(tokenizer.token_bytes(i)), i))[:top]
    typer.echo("longest: " + "  ".join(repr(tokenizer.token_text(i)) for i in longest))
