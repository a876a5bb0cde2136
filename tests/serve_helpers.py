"""Start `lantern serve` as a real subprocess on a free loopback port (for the live-server and browser tests), and
open the playground in headless chromium."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import subprocess_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(*args: str, startup_timeout: float = 120.0):
    """Yield the base URL of `lantern serve ARGS --port P`; the process is stopped (by its pid) afterwards."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "lanternlm", "serve", *args, "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=subprocess_env())
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"lantern serve exited with {process.returncode}:\n{process.stdout.read()}")
            try:
                if httpx.get(url + "/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("lantern serve did not start in time")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "playground"  # the browser tests' screenshots
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_chromium() -> None:
    """Skip a browser test on a machine without Debian's chromium (CI installs it); make the screenshot folder."""
    import pytest  # benchmarks/serve_load.py uses this module without pytest

    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("chromium is not installed (apt-get install chromium)")
    SHOTS.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def playground_page(url: str):
    """A chromium page (Playwright) on the playground at `url`, once it has loaded its models; a JavaScript
    error on the page fails the test at the end."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        yield page
        browser.close()
        assert not errors, errors
