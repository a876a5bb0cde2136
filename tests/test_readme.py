"""The README's examples run as written, so the docs cannot rot."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import subprocess_env

README = Path(__file__).resolve().parents[1] / "README.md"
ALREADY_TESTED = {"quickstart"}  # the 2,000-step quickstart (`make demo`) is tested by test_fresh_clone.py


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


def inline_commands() -> list[list[str]]:
    """`lantern ...` written inside running text (long runs, placeholders such as RUN or DIR)."""
    text = re.sub(r"```.*?```", "", README.read_text(encoding="utf-8"), flags=re.S)
    return [shlex.split(span)[1:] for span in re.findall(r"`(lantern [^`]+)`", text)]


def test_readme_inline_commands_parse():
    """Commands too long to run in a test (or written with placeholders) at least name real subcommands and
    options and give every required argument: parsed exactly as the CLI would, without running them."""
    import typer

    from lanternlm.cli import app

    def parse(argv: list[str]) -> None:
        command = typer.main.get_command(app)
        context = command.make_context("lantern", list(argv))
        while hasattr(command, "resolve_command"):  # a command group: go down to the subcommand
            name, command, rest = command.resolve_command(context, context._protected_args + context.args)
            context = command.make_context(name, rest, parent=context)  # raises on a bad option or missing argument

    commands = inline_commands()
    assert len(commands) >= 8
    for argv in commands:
        try:
            parse(argv)
        except typer.Exit as exc:  # --help
            assert exc.exit_code == 0
        except Exception as exc:
            pytest.fail(f"README: `lantern {' '.join(argv)}` does not parse: {exc}")


@pytest.mark.slow
def test_readme_python_examples_run_twice(tmp_path, monkeypatch):
    """A reader runs the example, then runs it again: the second run must work too (overwrite=True)."""
    monkeypatch.chdir(tmp_path)
    blocks = code_blocks("python")
    assert blocks
    for _ in range(2):
        for block in blocks:
            exec(compile(block, "README.md", "exec"), {})
