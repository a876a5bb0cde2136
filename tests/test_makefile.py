"""The Makefile's torch source: pip's own configuration when it names one, else PyTorch's CPU wheel index on a
machine without an NVIDIA GPU, else PyPI; TORCH_INDEX overrides. Checked with `make -n` (nothing installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "--index-url https://download.pytorch.org/whl/cpu"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def torch_install_line(tmp_path: Path, env: dict[str, str], *variables: str) -> str:
    """The pip command `make` would run to install torch into a venv whose pip is this interpreter's."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    if not (venv / "bin" / "python").exists():
        (venv / "bin" / "python").symlink_to(sys.executable)
    proc = subprocess.run(["make", "-n", "-B", "-C", str(ROOT), f"VENV={venv}", *variables, f"{venv}/.core"],
                          capture_output=True, text=True, env=env, check=True)
    return next(line for line in proc.stdout.splitlines() if "pip install" in line and "torch==" in line)


def clean_env(tmp_path: Path) -> dict[str, str]:
    """No pip configuration at all (no config files, no PIP_* variables) and no nvidia-smi on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    return env


def test_stock_machine_without_gpu_gets_the_cpu_wheel(tmp_path):
    if shutil.which("nvidia-smi", path=clean_env(tmp_path)["PATH"]):
        pytest.skip("this machine has an NVIDIA GPU")
    assert torch_install_line(tmp_path, clean_env(tmp_path)).endswith(CPU_INDEX)


def test_configured_wheel_source_is_honoured(tmp_path):
    env = {**clean_env(tmp_path), "PIP_FIND_LINKS": str(tmp_path)}
    assert "--index-url" not in torch_install_line(tmp_path, env)
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nextra-index-url = file:///opt/mirror/simple\n")
    assert "--index-url" not in torch_install_line(tmp_path, {**clean_env(tmp_path), "PIP_CONFIG_FILE": str(config)})


def test_explicit_choice_wins(tmp_path):
    line = torch_install_line(tmp_path, clean_env(tmp_path), "TORCH_INDEX=https://download.pytorch.org/whl/cu128")
    assert line.endswith("--index-url https://download.pytorch.org/whl/cu128")
    assert "--index-url" not in torch_install_line(tmp_path, clean_env(tmp_path), "TORCH_INDEX=")
