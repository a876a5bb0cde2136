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
import re
import secrets
import shutil
import tomllib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import LanternError


def _existing_file(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if path.is_dir():
        raise LanternError(f"{what} {path} is a folder, not a file")
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


def _os_error(exc: OSError) -> str:
    """'permission denied', 'no space left on device', ...: the reason of an OSError, in words."""
    return (exc.strerror or exc.__class__.__name__).lower()


def check_readable(path: str | os.PathLike, what: str = "file") -> Path:
    """`path` is an existing file we may open; otherwise a one-line LanternError that says which it is not."""
    path = _existing_file(path, what)
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise LanternError(f"cannot read {path} ({_os_error(exc)})") from None
    return path


def check_writable(target: str | os.PathLike, folder: bool = False) -> Path:
    """Before long work: can `target` (a file, or a folder if `folder`) be written? Missing parent folders
    are fine (writers create them) as long as the nearest existing one is a folder we may write in."""
    target = Path(target)
    if target.is_dir() and not folder:
        raise LanternError(f"{target} is a folder; give a file name")
    if target.exists() and not target.is_dir() and folder:
        raise LanternError(f"{target} is a file; give a folder name")
    parent = target.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise LanternError(f"cannot write {target}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise LanternError(f"cannot write {target}: {parent} is read-only (permission denied)")
    return target


# Temporary names: ".NAME.XXXXXXXX.PID.tmp" next to NAME, and ".NAME.XXXXXXXX.PID.old" for the previous version
# of a folder while it is being replaced. The PID tells a writer that was killed from one still at work.
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}\.(?P<pid>\d+)\.(?P<kind>tmp|old)$")


def _temporary_name(target: Path, kind: str = "tmp") -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}.{os.getpid()}.{kind}")


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to another user
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_stale_temporaries(folder: str | os.PathLike, name: str | None = None) -> None:
    """Delete what writers killed mid-write left in `folder` (for target `name` only, if given).

    Only our own temporary names match, and only those of processes that are gone, so a writer still at work
    keeps its file and user files are never touched. A folder swap cut short (the previous version moved aside
    and the new one not yet in place) is undone: the previous version goes back.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        match = _TEMPORARY.match(path.name)
        if not match or (name is not None and match["name"] != name) or _process_alive(int(match["pid"])):
            continue
        target = folder / match["name"]
        try:
            if match["kind"] == "old" and not target.exists():
                os.replace(path, target)
            else:
                _remove(path)
        except OSError:  # best effort: a leftover we cannot remove does no harm
            pass


@contextmanager
def _writing(target: Path, tmp: Path, body: bool = False) -> Iterator[None]:
    """OS errors met while creating, filling or renaming `tmp` become one line that names `target`. In the
    caller's `body`, only errors about `tmp` itself do: others are the caller's to report."""
    try:
        yield
    except OSError as exc:
        if body and not str(exc.filename or "").startswith(str(tmp)):
            raise
        raise LanternError(f"cannot write {target} ({_os_error(exc)})") from None


def make_folder(path: str | os.PathLike) -> Path:
    """mkdir -p, with a one-line error."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LanternError(f"cannot create the folder {path} ({_os_error(exc)})") from None
    return path


def _prepare_target(target: Path, folder: bool) -> None:
    check_writable(target, folder)
    make_folder(target.parent)
    remove_stale_temporaries(target.parent, target.name)


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `target`; on success fsync it and rename it over `target`."""
    target = Path(target)
    _prepare_target(target, folder=False)
    tmp = _temporary_name(target)
    try:
        with _writing(target, tmp):
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # mode as the umask says
        with _writing(target, tmp, body=True):
            yield tmp
        with _writing(target, tmp):
            _fsync(tmp)
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def remove_tree(path: str | os.PathLike) -> None:
    """Delete a folder so that a kill midway leaves nothing half-deleted under its name: it is first renamed to a
    temporary name (removed by the next writer of `path` if the kill fell during the deletion)."""
    path = Path(path)
    doomed = _temporary_name(path)
    try:
        os.replace(path, doomed)
    except OSError as exc:
        raise LanternError(f"cannot replace {path} ({_os_error(exc)})") from None
    shutil.rmtree(doomed)


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
    """Yield a temporary folder; on success rename it to `target` (replacing an older one)."""
    target = Path(target)
    _prepare_target(target, folder=True)
    tmp = _temporary_name(target)
    try:
        with _writing(target, tmp):
            tmp.mkdir()
        with _writing(target, tmp, body=True):
            yield tmp
        with _writing(target, tmp):
            for child in tmp.rglob("*"):  # files in subdirectories too (a sentence-transformers export has some)
                if child.is_file():
                    _fsync(child)
            if target.exists():
                old = _temporary_name(target, "old")
                os.replace(target, old)
                os.replace(tmp, target)
                shutil.rmtree(old)
            else:
                os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
