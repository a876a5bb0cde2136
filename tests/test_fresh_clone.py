"""The newcomer's first hour, as a user types it: a fresh clone of the repository, `make demo` (a new .venv, the
install, the 2,000-step quickstart, a sample), `make demo` again (the finished run says so and reprints its true
figures), then the README's first commands through the activated .venv.

It clones the committed state of this repository (what CI checks out), with nothing installed but Python."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import subprocess_env
from lanternlm.train.metrics import read_metrics

ROOT = Path(__file__).resolve().parents[1]


def user_env() -> dict[str, str]:
    """The caller's environment minus anything pointing Python at this checkout or its venv."""
    env = {k: v for k, v in subprocess_env().items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    return env


def shell(command: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=user_env())


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None or shutil.which("git") is None, reason="needs make and git")
def test_fresh_clone_make_demo_then_the_readme_first_commands(tmp_path):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "lantern"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=300)

    demo = shell("make demo", clone, timeout=2400)
    assert demo.returncode == 0, demo.stdout[-1500:] + demo.stderr[-2500:]
    val = [r["val_loss"] for r in read_metrics(clone / "runs" / "quickstart" / "metrics.jsonl") if "val_loss" in r]
    assert val[-1] <= 1.90  # the README's promise: about 1.89 nats per character
    trained = re.search(r"^trained 2000 steps: val loss [\d.]+.*$", demo.stdout, re.M)
    assert trained and f"val loss {val[-1]:.4f}" in trained.group(0), demo.stdout[-1500:]
    sample = demo.stdout.split("--- sample", 1)[1]
    speakers = [line for line in sample.splitlines()[1:] if line.rstrip().endswith(":") and line[:1].isupper()]
    assert len(speakers) >= 2, sample  # speaker names on their own lines, as in a play

    again = shell("make demo", clone, timeout=600)  # a finished run: no training, no stale loss, no nan
    assert again.returncode == 0, again.stderr[-2000:]
    assert "already " + trained.group(0).replace("trained 2000", "trained to 2000") in again.stdout, again.stdout

    first = shell("source .venv/bin/activate && lantern --version && "
                  "lantern sample runs/quickstart --prompt 'ROMEO:' --max-new-tokens 40 --seed 1 && "
                  "lantern next runs/quickstart 'ROMEO:' --top 3 && lantern eval runs/quickstart -q && "
                  "lantern serve --help", clone, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.startswith("lantern ") and "ROMEO:" in first.stdout and "bits/byte" in first.stdout
