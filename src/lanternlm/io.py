"""File input and output in one place: reading text, lines, TOML and versioned JSON with one-line errors,
and atomic writes.

Reading: every reader turns a missing, unreadable or malformed file into a one-line LanternError that names
the file. Text files are UTF-8, plain or gzip-compressed (`.gz`).

Writing: write to a temporary file in the same directory, then rename over the target. A rename within one
file system is atomic, so a reader (or a resumed run after a hard kill) sees either the old file or the
complete new one, never a half-written file.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
import tomllib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import LanternError


def _existing_file(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise LanternError(f"{what} not found: {path}")
    return path


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn decoding and OS errors met while reading `path` into one-line LanternErrors."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise LanternError(f"{path}: not UTF-8 text (bad byte near offset {exc.start})") from None
    except (OSError, EOFError) as exc:
        raise LanternError(f"{path}: cannot read ({exc.strerror or exc.__class__.__name__})") from None


def iter_lines(path: str | os.PathLike, what: str = "input file") -> Iterator[str]:
    """Lines of a UTF-8 .txt or .gz file, line endings kept as they are (`newline=""`), read lazily."""
    path = _existing_file(path, what)
    opener = gzip.open if path.suffix == ".gz" else open
    with _reading(path), opener(path, "rt", encoding="utf-8", newline="") as fh:
        yield from fh


def read_text(path: str | os.PathLike, what: str = "input file", allow_empty: bool = False) -> str:
    """A whole UTF-8 text file (or .gz); an empty file is an error unless `allow_empty`."""
    path = _existing_file(path, what)
    opener = gzip.open if path.suffix == ".gz" else open
    with _reading(path), opener(path, "rt", encoding="utf-8") as fh:
        text = fh.read()
    if not allow_empty and not text.strip():
        raise LanternError(f"{path}: the file is empty")
    return text


def input_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand directories into their .txt/.gz files (sorted); keep files as given."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in (".txt", ".gz"))
            if not found:
                raise LanternError(f"{p}: no .txt or .gz files in this directory")
            files.extend(found)
        elif not p.is_file():
            raise LanternError(f"input file not found: {p}")
        else:
            files.append(p)
    if not files:
        raise LanternError("no input files given")
    return files


def read_toml(path, what: str = "config file") -> dict[str, Any]:
    """A TOML file as a dict (`path` may be a package resource)."""
    if not path.is_file():
        raise LanternError(f"{what} not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LanternError(f"{path}: not valid TOML ({exc})") from None


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `target`; on success fsync it and rename it over `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Parse a JSON file; a missing, unreadable or invalid file is a one-line LanternError."""
    path = _existing_file(path, what)
    with _reading(path):
        text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LanternError(f"{path}: not a valid {what} (bad JSON: {exc.msg} at line {exc.lineno})") from None


def read_versioned_json(path: str | os.PathLike, format_name: str, version: int, what: str) -> dict[str, Any]:
    """A JSON object whose header says {"format": format_name, "version": version} (Lantern's own file formats)."""
    data = read_json(path, what)
    if not isinstance(data, dict) or data.get("format") != format_name:
        raise LanternError(f"{path}: not a Lantern {what}")
    if data.get("version") != version:
        raise LanternError(f"{path}: {what} format version {data.get('version')} is not supported")
    return data


def write_json_atomic(target: str | os.PathLike, obj, indent: int | None = 2) -> None:
    write_text_atomic(target, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


@contextmanager
def atomic_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory; on success rename it to `target` (replacing an older one)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        for child in tmp.rglob("*"):  # files in subdirectories too (a sentence-transformers export has some)
            if child.is_file():
                with open(child, "rb") as fh:
                    os.fsync(fh.fileno())
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
