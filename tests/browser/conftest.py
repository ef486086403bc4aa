"""Fixtures of the browser test: a JupyterLab server on loopback and Debian's Chromium, driven by Playwright.

These tests run only with DLCOURSE_BROWSER=1 (`make test-browser` sets it); in `make test` every
test of this folder is skipped, so that suite needs neither Playwright nor a browser.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from dlcourse import notebooks

ENABLED = os.environ.get("DLCOURSE_BROWSER") == "1"
HERE = Path(__file__).resolve().parent
SCREENSHOTS = HERE / "screenshots"

# Chromium as root, in a container, behind a closed network: no sandbox, no GPU, and none of the
# background connections (updates, sync, QUIC) that the network would refuse.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

# JupyterLab user settings for the test: every cell in the DOM (no windowing, so every prompt and
# output can be read), no autosave (the course's notebooks are run in place and must stay
# unchanged), no news or update checks (no network).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}


def pytest_collection_modifyitems(config, items):
    if ENABLED:
        return
    skip = pytest.mark.skip(reason="browser test: run `make test-browser` (or set DLCOURSE_BROWSER=1)")
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A running JupyterLab server: its URL, token, and a small REST client."""

    def __init__(self, url: str, token: str, root: Path, log: Path):
        self.url, self.token, self.root, self.log = url, token, root, log

    def api(self, method: str, path: str, body=None, timeout: float = 10):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}/api/{path}", data=data, method=method,
                                     headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - loopback only
            raw = r.read()
        return json.loads(raw) if raw else None

    def lab_url(self, path: str) -> str:
        # ?reset: start from an empty workspace, so that only this notebook opens
        return f"{self.url}/lab/tree/{path}?reset&token={self.token}"

    def kernels(self):
        return self.api("GET", "kernels")

    def shutdown_all_kernels(self):
        for session in self.api("GET", "sessions"):
            self.api("DELETE", f"sessions/{session['id']}", timeout=30)
        for kernel in self.api("GET", "kernels"):
            self.api("DELETE", f"kernels/{kernel['id']}", timeout=30)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


@pytest.fixture(scope="session")
def lab_settings():
    """LAB_SETTINGS: JupyterLab user settings path -> value (the classroom test writes them into homes)."""
    return LAB_SETTINGS


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """`jupyter lab` from this venv, on 127.0.0.1, a free port and a random token, rooted at the
    course folder (so notebooks/ and solutions/ are both reachable). Stopped at the end, whatever
    happens: the whole process group (server and kernels) gets SIGTERM, then SIGKILL."""
    root = notebooks.course_root()
    tmp = tmp_path_factory.mktemp("lab")
    settings = tmp / "settings"
    for rel, value in LAB_SETTINGS.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    log = SCREENSHOTS / "jupyter-lab.log"
    port, token = _free_port(), secrets.token_hex(16)
    jupyter = Path(sys.executable).parent / "jupyter"
    cmd = [
        str(jupyter), "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--allow-root",
    ]
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               PATH=str(jupyter.parent) + os.pathsep + os.environ.get("PATH", ""))
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = Lab(f"http://127.0.0.1:{port}", token, root, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}; its log ({log}):\n{server.log_tail()}")
            try:
                server.api("GET", "status", timeout=5)
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer /api/status within 120 s; its log ({log}):\n{server.log_tail()}")
                time.sleep(0.5)
        print(f"\n[browser] JupyterLab at {server.url} (root {root}), log {log}")
        yield server
    finally:
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium ($DLCOURSE_CHROMIUM, else `chromium` on PATH), headless, via Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: `make test-browser` installs it (pip install -e '.[browser]')")
    exe = os.environ.get("DLCOURSE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.fail("no Chromium found: install Debian's `chromium` (apt-get install chromium) or set DLCOURSE_CHROMIUM")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        print(f"\n[browser] {exe} {b.version}")
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, lab):
    """A fresh browser context per test (its own cookies, a fixed viewport); the kernels it started
    are shut down afterwards, so that one notebook's kernel at a time holds memory."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()
        try:
            lab.shutdown_all_kernels()
        except (urllib.error.URLError, OSError):
            pass
