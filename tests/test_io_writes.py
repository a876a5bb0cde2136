"""io.py's writers: atomic, one-line errors for bad output paths, and what a killed writer left behind is swept
by the next writer of the same target (only our own temporary names, only of processes that are gone)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
import torch

from lanternlm.errors import LanternError
from lanternlm.io import (atomic_directory, atomic_path, check_readable, remove_stale_temporaries, remove_tree,
                          write_text_atomic)
from lanternlm.runs import load_weights

ROOT = os.geteuid() == 0  # root writes through read-only permissions


@pytest.fixture(scope="module")
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_bad_output_paths_are_one_line_errors(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(LanternError, match="is a folder; give a file name"):
        write_text_atomic(tmp_path / "folder", "x")
    with pytest.raises(LanternError, match="file is a file, not a folder"):
        write_text_atomic(tmp_path / "file" / "sub" / "out.txt", "x")
    with pytest.raises(LanternError, match="is a file; give a folder name"):
        with atomic_directory(tmp_path / "file"):
            pass
    with pytest.raises(LanternError, match=r"cannot write /sys/out.txt \(permission denied\)"):
        write_text_atomic("/sys/out.txt", "x")  # read-only even for root
    write_text_atomic(tmp_path / "new" / "deeper" / "out.txt", "made")  # missing folders are created
    assert (tmp_path / "new" / "deeper" / "out.txt").read_text() == "made"
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.skipif(ROOT, reason="root writes into read-only folders")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(LanternError, match="read-only"):
            write_text_atomic(folder / "out.txt", "x")
    finally:
        folder.chmod(0o700)


def test_written_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    write_text_atomic(tmp_path / "a.txt", "x")
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600


def test_unreadable_file_says_permission_denied(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"x")
    real_open = open

    def refuse(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(LanternError, match=r"cannot read .*model.safetensors \(permission denied\)"):
        check_readable(path, "weights file")
    with pytest.raises(LanternError, match=r"permission denied"):  # not "No such file", as safetensors says
        load_weights(torch.nn.Linear(1, 1), path)
    monkeypatch.undo()
    with pytest.raises(LanternError, match="weights file .* is a folder"):
        check_readable(tmp_path, "weights file")
    with pytest.raises(LanternError, match="weights file not found"):
        check_readable(tmp_path / "nope", "weights file")


def test_stale_temporaries_of_dead_writers_only(tmp_path, dead_pid):
    dead = tmp_path / f".out.txt.0123abcd.{dead_pid}.tmp"
    alive = tmp_path / f".out.txt.0123abcd.{os.getppid()}.tmp"  # a writer still at work (our parent)
    other_target = tmp_path / f".other.txt.0123abcd.{dead_pid}.tmp"
    user_files = [tmp_path / ".out.txt.tmp", tmp_path / ".notes.tmp", tmp_path / "out.txt.0123abcd.1.tmp"]
    for path in [dead, alive, other_target, *user_files]:
        path.write_text("x")
    write_text_atomic(tmp_path / "out.txt", "new")  # sweeps its own target's leftovers
    assert not dead.exists() and alive.exists() and other_target.exists()
    assert all(p.exists() for p in user_files)
    remove_stale_temporaries(tmp_path)  # a whole folder (the trainer's run and checkpoints folders)
    assert not other_target.exists() and alive.exists() and all(p.exists() for p in user_files)


def test_interrupted_folder_swap_is_undone(tmp_path, dead_pid):
    """Killed between moving the previous version aside and moving the new one in: the previous comes back."""
    previous = tmp_path / f".data.0123abcd.{dead_pid}.old"
    previous.mkdir()
    (previous / "header.json").write_text("{}")
    half_new = tmp_path / f".data.89abcdef.{dead_pid}.tmp"
    half_new.mkdir()
    remove_stale_temporaries(tmp_path)
    assert (tmp_path / "data" / "header.json").read_text() == "{}" and not half_new.exists()


def test_atomic_directory_replaces_and_cleans(tmp_path, dead_pid):
    target = tmp_path / "data"
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("1")
    (tmp_path / f".data.0123abcd.{dead_pid}.tmp").mkdir()
    with atomic_directory(target) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"] and (target / "b").is_file()
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "f.txt"):
            raise RuntimeError("the writer failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no temporary left by a failed writer
    remove_tree(target)
    assert list(tmp_path.iterdir()) == []
