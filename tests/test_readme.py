"""The README's examples run as written, so the docs cannot rot."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import subprocess_env

README = Path(__file__).resolve().parents[1] / "README.md"
ALREADY_TESTED = {"quickstart"}  # the 2,000-step quickstart is tested by test_training.py::test_quickstart_*


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def lantern_commands() -> list[list[str]]:
    commands = []
    for block in code_blocks("bash"):
        for line in block.splitlines():
            if line.startswith("lantern "):
                argv = shlex.split(line, comments=True)[1:]
                if argv[0] not in ALREADY_TESTED:
                    commands.append(argv)
    return commands


@pytest.mark.slow
def test_readme_cli_examples_run(tmp_path, shared_data):
    """Run from a project folder whose ../shared/data is the real one, as in a checkout."""
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(shared_data("corpora").parent, target_is_directory=True)
    commands = lantern_commands()
    assert len(commands) >= 20
    for argv in commands:
        proc = subprocess.run([sys.executable, "-m", "lanternlm", *argv], cwd=project, capture_output=True,
                              text=True, timeout=600, env=subprocess_env(), stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, f"lantern {' '.join(argv)} failed:\n{proc.stderr[-2000:]}"


@pytest.mark.slow
def test_readme_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = code_blocks("python")
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
