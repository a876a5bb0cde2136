"""Bad input gives one line on stderr and exit code 2, never a traceback, never a damaged run."""

import hashlib

import pytest

from conftest import run_cli
from lanternlm.cli import main


def one_line_error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def digest(folder):
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_missing_run_dir(capsys, tmp_path):
    assert "not found" in one_line_error(capsys, ["sample", str(tmp_path / "nope")])
    assert "not found" in one_line_error(capsys, ["eval", str(tmp_path / "nope")])


def test_unknown_preset_and_keys(capsys, tmp_path):
    out = str(tmp_path / "r")
    assert "unknown preset" in one_line_error(capsys, ["train", "--preset", "nope", "--out", out])
    assert "unknown config key" in one_line_error(capsys, ["train", "--set", "n_layerz=2", "--out", out])
    assert "expected int" in one_line_error(capsys, ["train", "--set", "n_layer=x", "--out", out])
    assert "No such option" in one_line_error(capsys, ["train", "--bogus"])
    assert not (tmp_path / "r").exists()


def test_bad_corpus_files(capsys, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9 au lait".encode("latin-1"))
    out = str(tmp_path / "r")
    assert "empty" in one_line_error(capsys, ["train", "--input", str(empty), "--out", out])
    assert "not UTF-8" in one_line_error(capsys, ["train", "--input", str(latin), "--out", out])
    assert "not found" in one_line_error(capsys, ["train", "--input", str(tmp_path / "x.txt"), "--out", out])
    assert not (tmp_path / "r").exists()


def test_bad_sampling_input_leaves_run_intact(capsys, tiny_run):
    before = digest(tiny_run)
    assert "temperature" in one_line_error(capsys, ["sample", str(tiny_run), "--temperature", "-1"])
    assert "not in the vocabulary" in one_line_error(capsys, ["sample", str(tiny_run), "--prompt", "日本"])
    assert "empty" in one_line_error(capsys, ["sample", str(tiny_run), "--prompt", ""])
    assert "already holds a run" in one_line_error(capsys, ["train", "--out", str(tiny_run)])
    assert "resume" in one_line_error(capsys, ["train", "--out", str(tiny_run), "--resume", "--preset", "x"])
    assert digest(tiny_run) == before


def test_sample_and_eval_commands(capsys, tiny_run):
    assert main(["sample", str(tiny_run), "--prompt", "ROMEO:", "-n", "20", "--seed", "1"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("ROMEO:") and len(out.out.rstrip("\n")) == len("ROMEO:") + 20
    assert "tokens/s" in out.err
    assert main(["eval", str(tiny_run)]) == 0
    assert "perplexity" in capsys.readouterr().out


def test_python_dash_m_and_exit_code():
    proc = run_cli("train", "--preset", "nope", "--out", "x")
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: unknown preset")
    assert "Traceback" not in proc.stderr


def _commands():
    from lanternlm.cli.app import app
    import typer

    root = typer.main.get_command(app)
    for name, cmd in root.commands.items():
        if hasattr(cmd, "commands"):
            for sub in cmd.commands:
                yield [name, sub]
        else:
            yield [name]


@pytest.mark.parametrize("path", list(_commands()), ids=lambda p: " ".join(p))
def test_every_option_has_help(capsys, path):
    assert main([*path, "--help"]) == 0
    text = capsys.readouterr().out
    from lanternlm.cli.app import app
    import typer

    cmd = typer.main.get_command(app)
    for part in path:
        cmd = cmd.commands[part]
    for param in cmd.params:
        if param.param_type_name == "option":
            assert param.help, f"{' '.join(path)} {param.opts} has no help text"
            assert param.opts[0] in text


def test_version_and_bare_command(capsys):
    from lanternlm import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"lantern {__version__}"
    assert main([]) == 0  # a bare `lantern` shows what it can do, on stdout, and is not an error
    captured = capsys.readouterr()
    assert "Commands:" in captured.out and "quickstart" in captured.out and captured.err == ""
