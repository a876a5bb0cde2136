"""Data preparation: tokenize a corpus once into memory-mapped token files (see `data/tokenfile.py`).

Documents are joined by the tokenizer's real `<|endoftext|>` id: every input file is a document, and inside a
file the literal text `<|endoftext|>` (the separator the Gutenberg and TinyStories files use) is that id too.
Any other special-token text is encoded as ordinary text. Files are read in batches that end at safe cuts (see
`tokenizers/pretokenize.py`), so the ids equal encoding each file whole; batches are encoded in parallel
processes and written in order. Everything is written to a temporary directory renamed into place at the end.
"""

from __future__ import annotations

import math
import os
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import chain
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ..errors import LanternError
from ..io import atomic_directory, check_writable, input_files, write_json_atomic
from ..tokenizers import Tokenizer, load_tokenizer
from ..tokenizers.pretokenize import DEFAULT_BATCH_CHARS, read_batches
from .tokenfile import FORMAT_NAME, FORMAT_VERSION, HEADER, TOKENIZER, dtype_for

EOT = "<|endoftext|>"
PARALLEL_MIN_BATCHES = 4
MAX_WORKERS = 256  # encoding processes; each holds a tokenizer and a batch of text

_worker_tokenizer: Tokenizer | None = None


def _init_worker(tokenizer_path: str) -> None:
    global _worker_tokenizer
    _worker_tokenizer = load_tokenizer(tokenizer_path)


def encode_document_text(tok: Tokenizer, text: str) -> list[int]:
    """Ids of one batch of text: `<|endoftext|>` text becomes the real id, other special text stays text."""
    if tok.eot_id is not None and hasattr(tok, "encode_iterable"):  # byte-level BPE knows allowed_special
        return tok.encode(text, allowed_special={EOT})
    return tok.encode(text)


def _encode_batch(item: tuple[bool, str]) -> tuple[np.ndarray, int]:
    new_document, text = item
    ids = encode_document_text(_worker_tokenizer, text)
    if new_document and _worker_tokenizer.eot_id is not None:
        ids = [_worker_tokenizer.eot_id, *ids]
    return np.asarray(ids, dtype=np.int64), len(text)


def write_tokens(tokenizer_path: Path, paths: Iterable[str | Path], target: Path, dtype: np.dtype,
                 workers: int | None = None, progress: Callable[[int], None] | None = None,
                 batch_chars: int = DEFAULT_BATCH_CHARS) -> int:
    """Encode the files (documents) into `target` as raw `dtype` ids; returns the number of tokens."""
    global _worker_tokenizer
    items = ((number > 0 and first, text) for number, first, text in _mark_first(read_batches(paths, batch_chars)))
    head = [item for _, item in zip(range(PARALLEL_MIN_BATCHES), items)]
    parallel = len(head) == PARALLEL_MIN_BATCHES and (workers or os.cpu_count() or 1) > 1
    if not parallel:
        _init_worker(str(tokenizer_path))
    n_tokens, done = 0, 0
    context = get_context("fork" if os.name == "posix" else "spawn")
    with (context.Pool(workers, _init_worker, (str(tokenizer_path),)) if parallel else nullcontext()) as pool, \
            open(target, "wb") as fh:
        work = chain(head, items)
        for ids, chars in pool.imap(_encode_batch, work) if parallel else map(_encode_batch, work):
            if len(ids) and int(ids.max()) > np.iinfo(dtype).max:
                raise LanternError(f"token id {int(ids.max())} does not fit in {dtype.name}")
            fh.write(ids.astype(dtype).tobytes())
            n_tokens += len(ids)
            done += chars
            if progress:
                progress(done)
    _worker_tokenizer = None
    return n_tokens


def _mark_first(batches):
    previous = None
    for number, text in batches:
        yield number, number != previous, text
        previous = number


@dataclass
class PreparePlan:
    """Everything `prepare` needs, checked: made before any output (or progress line) appears."""

    tokenizer: Tokenizer
    train_files: list[Path]
    val_files: list[Path]
    out: Path
    val_fraction: float | None  # None: the validation split is val_files
    workers: int | None  # encoding processes; None: all cores


def check_output_folder(out: Path, force: bool) -> None:
    """`out` may be written: absent, an empty folder, or prepared data (replaced only with `force`); never a
    file or a folder holding anything else (a run, a corpus), which replacing would delete."""
    check_writable(out, folder=True)
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / HEADER).is_file():
        raise LanternError(f"{out} is a folder that does not hold prepared data; refusing to replace it "
                           "(choose another output folder)")
    if not force:
        raise LanternError(f"{out} already holds prepared data; replace it with --force (force=True in Python)")


def plan_prepare(tokenizer_path: str | Path, inputs: list[str | Path], out: str | Path, val_fraction: float = 0.1,
                 val_input: str | Path | None = None, workers: int | None = None, force: bool = False) -> PreparePlan:
    """Check the arguments of `prepare` (see there) and the files they name."""
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise LanternError(f"workers must be between 1 and {MAX_WORKERS} (or all cores), got {workers}")
    if val_input is None and not (math.isfinite(val_fraction) and 0.0 <= val_fraction < 1.0):
        raise LanternError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    tok = load_tokenizer(tokenizer_path)
    train_files = input_files(inputs)
    val_files = input_files([val_input]) if val_input is not None else []
    if all(path.stat().st_size == 0 for path in train_files):
        raise LanternError("no tokens to prepare: the input is empty")
    check_output_folder(Path(out), force)
    return PreparePlan(tok, train_files, val_files, Path(out),
                       None if val_input is not None else val_fraction, workers)


def write_prepared(plan: PreparePlan, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Tokenize a checked plan into its data directory; returns the header."""
    tok = plan.tokenizer
    dtype = dtype_for(tok.vocab_size)
    with atomic_directory(plan.out) as tmp:
        tok.save(tmp / TOKENIZER)
        n_train = write_tokens(tmp / TOKENIZER, plan.train_files, tmp / "train.bin", dtype, plan.workers, progress)
        if plan.val_fraction is None:
            n_val = write_tokens(tmp / TOKENIZER, plan.val_files, tmp / "val.bin", dtype, plan.workers, progress)
        else:
            n_val = int(n_train * plan.val_fraction)
            n_train -= n_val
            tail = np.fromfile(tmp / "train.bin", dtype=dtype, offset=n_train * dtype.itemsize)
            tail.tofile(tmp / "val.bin")
            os.truncate(tmp / "train.bin", n_train * dtype.itemsize)
        if n_train == 0:
            raise LanternError("no tokens to prepare: the input is empty")
        header = {
            "format": FORMAT_NAME, "version": FORMAT_VERSION, "dtype": dtype.str, "vocab_size": tok.vocab_size,
            "eot_id": tok.eot_id, "tokenizer": TOKENIZER, "tokenizer_kind": tok.kind,
            "splits": {"train": {"file": "train.bin", "tokens": n_train}, "val": {"file": "val.bin", "tokens": n_val}},
            "sources": {"train": [str(p) for p in plan.train_files], "val": [str(p) for p in plan.val_files]},
            "val_fraction": plan.val_fraction,
        }
        write_json_atomic(tmp / HEADER, header)
    return header


def prepare(tokenizer_path: str | Path, inputs: list[str | Path], out: str | Path, val_fraction: float = 0.1,
            val_input: str | Path | None = None, workers: int | None = None,
            progress: Callable[[int], None] | None = None, force: bool = False) -> dict[str, Any]:
    """Tokenize `inputs` into the data directory `out` (train.bin, val.bin, tokenizer.json, header.json).

    Validation: the file `val_input` if given, else the last `val_fraction` of the training tokens. `out` is
    written as a whole (a kill leaves the previous version or nothing); existing prepared data there is
    replaced only with `force`, and a folder holding anything else never."""
    return write_prepared(plan_prepare(tokenizer_path, inputs, out, val_fraction, val_input, workers, force), progress)
