"""dlcourse.lab: the warm self-check service of a real ``jupyter server`` (the course's own server extension, as
``make install`` enables it), and ``dlcourse check`` going through it.

Expected grades come from chapter 0's test-cell points (``classes``): the solution earns them all; a
``numerical_gradient`` that returns its input loses that exercise's points, with the visible test's message.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from classes import ANSWERS, CH, POINTS, ROOT, TOTAL, answered, student_nb

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the grading sandbox (bwrap) is Linux only")

REL = next(gid for gid, code in ANSWERS.items() if "def rel_error" in code)  # the answer cell's grade_id
GRAD = next(gid for gid, code in ANSWERS.items() if "def numerical_gradient" in code)
WRONG_GRADIENT = "def numerical_gradient(f, x, h=1e-5):\n    return x\n"
#: an answer cell that leaves a mark in its kernel's interpreter, and one whose function is right only if
#: that mark is there: graded after the first, the second must still fail (every check has fresh kernels)
MARKS = "import builtins\nbuiltins.DLCOURSE_MARK = True\n"
NEEDS_MARK = ("import builtins, numpy as np\n"
              "def rel_error(a, b):\n"
              "    if not getattr(builtins, 'DLCOURSE_MARK', False):\n"
              "        return -1.0\n"
              "    a, b = np.asarray(a, float), np.asarray(b, float)\n"
              "    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, token: str, root: Path, runtime: Path):
        self.url, self.token, self.root, self.runtime = url, token, root, runtime

    def call(self, method: str, body=None, token: str | None = None, timeout: float = 300):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if token is not False:
            headers["Authorization"] = f"token {token or self.token}"
        req = urllib.request.Request(f"{self.url}/dlcourse/check", data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return err.code, json.loads(raw)
            except json.JSONDecodeError:
                return err.code, {"raw": raw.decode(errors="replace")}

    def check(self, path: str) -> dict:
        status, report = self.call("POST", {"path": path})
        assert status == 200, report
        return report


def _start(tmp_path: Path, env_extra: dict) -> tuple[subprocess.Popen, Server]:
    root, runtime = tmp_path / "root", tmp_path / "runtime"
    root.mkdir()
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(runtime),
               DLCOURSE_ROOT=str(ROOT), **env_extra)
    cmd = [str(Path(sys.executable).parent / "jupyter"), "server", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--allow-root"]
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", token, root, runtime)
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, (tmp_path / "server.log").read_text()
        try:
            if server.call("GET", timeout=5)[0] == 200:
                return proc, server
        except OSError:
            pass
        assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
        time.sleep(0.5)


def _stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, server = _start(tmp_path_factory.mktemp("lab"), {})
    try:
        yield server
    finally:
        _stop(proc)


def _write(server: Server, name: str, nb) -> str:
    nbformat.write(nb, server.root / name)
    return name


def _rows(report: dict) -> dict:
    return {row["exercise"]: row for row in report["exercises"]}


def test_the_service_grades_with_the_hidden_tests_and_names_a_wrong_answer(server):
    right = _write(server, f"{CH}.ipynb", answered(student_nb()))
    status, warm = server.call("POST", {"path": right, "warm": True})
    assert status == 200 and warm == {"chapter": CH, "visible_only": False}
    report = server.check(right)
    assert (report["status"], report["score"], report["max_score"]) == ("graded", TOTAL, TOTAL)
    assert not report["visible_only"]
    assert report["table"].splitlines()[0] == f"{CH}: graded, {TOTAL:g} / {TOTAL:g} points"

    wrong = _write(server, "wrong.ipynb", answered(student_nb(), **{GRAD: WRONG_GRADIENT}))
    status, _ = server.call("POST", {"path": wrong, "chapter": CH, "warm": True})
    rows = _rows(server.call("POST", {"path": wrong, "chapter": CH})[1])
    assert rows["rel_error"]["passed"] and rows["rel_error"]["score"] == POINTS["rel_error"]
    assert not rows["numerical_gradient"]["passed"] and rows["numerical_gradient"]["score"] == 0
    assert rows["numerical_gradient"]["message"].startswith("AssertionError: gradient of")  # the visible test's own


def test_every_check_has_fresh_kernels(server):
    """A mark left in the kernels of one check is not there in the next, whichever chapter came between."""
    marking = _write(server, "marking.ipynb", answered(student_nb(), **{REL: MARKS + ANSWERS[REL]}))
    needing = _write(server, "needing.ipynb", answered(student_nb(), **{REL: NEEDS_MARK}))
    for path in (marking, needing, marking, needing):
        report = server.call("POST", {"path": path, "chapter": CH})[1]
        rel = _rows(report)["rel_error"]
        assert rel["passed"] is (path == marking), (path, report["table"])


def test_the_cli_uses_the_service_and_grades_the_same(server):
    nb = server.root / _write(server, f"{CH}.ipynb", answered(student_nb(), **{GRAD: WRONG_GRADIENT}))
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(server.runtime), DLCOURSE_ROOT=str(ROOT))
    cli = [sys.executable, "-m", "dlcourse.cli", "check", str(nb)]
    via = subprocess.run(cli, capture_output=True, text=True, timeout=600, env=env)
    here = subprocess.run(cli + ["--timeout", "59"], capture_output=True, text=True, timeout=600, env=env)
    assert via.returncode == 0 and here.returncode == 0, (via.stderr, here.stderr)
    assert f"by the check service of your JupyterLab at {server.url}" in via.stdout
    assert "check service" not in here.stdout
    table = [ln for ln in via.stdout.splitlines() if ln.startswith((CH, "  "))]
    assert table == [ln for ln in here.stdout.splitlines() if ln.startswith((CH, "  "))]
    assert table[0] == f"{CH}: graded, {POINTS['rel_error']:g} / {TOTAL:g} points"


def test_the_service_refuses_what_it_must(server, tmp_path):
    assert server.call("GET", token=False)[0] == 403
    assert server.call("POST", {"path": "x.ipynb"}, token=False)[0] == 403
    assert server.call("POST", {"path": "x.ipynb"}, token="not-the-token")[0] == 403
    outside = tmp_path / f"{CH}.ipynb"
    nbformat.write(answered(student_nb()), outside)
    (server.root / "link.ipynb").symlink_to(outside)
    for body, says in [({"path": "../" * 8 + str(outside)}, "outside the folder"),
                       ({"path": "link.ipynb", "chapter": CH}, "outside the folder"),
                       ({"path": "notes.txt"}, "name a notebook"), ({"path": 3}, "name a notebook"),
                       ({"path": "missing.ipynb"}, "no such file"),
                       ({"path": f"{CH}.ipynb", "chapter": "ch99"}, "cannot tell the chapter"),
                       ({"path": f"{CH}.ipynb", "chapter": "../../x"}, "named by its id"),
                       ({"path": f"{CH}.ipynb", "course": str(tmp_path)}, "grades")]:
        if body["path"] == f"{CH}.ipynb":
            _write(server, f"{CH}.ipynb", answered(student_nb()))
        status, answer = server.call("POST", body)
        assert status == 400 and says in answer["error"], (body, answer)


def test_the_service_can_be_off(tmp_path):
    proc, server = _start(tmp_path, {"DLCOURSE_CHECK_SERVICE": "off"})
    try:
        assert server.call("GET") == (200, {"enabled": False})
        assert server.call("POST", {"path": "x.ipynb"})[0] == 404
    finally:
        _stop(proc)


def _descendants(pid: int) -> dict[int, str]:
    """``pid``'s descendant processes: pid -> command line."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = {}, list(children.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            found[child] = (Path("/proc") / str(child) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            pass
        todo += children.get(child, [])
    return found


def _running(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _kernels(proc) -> int:
    return sum("dlcourse.sandbox" in cmd for cmd in _descendants(proc.pid).values())


def test_the_started_kernels_stop_when_the_service_is_unused(tmp_path):
    """A warm service holds about 0.9 GB of kernels; after DLCOURSE_CHECK_IDLE_MINUTES unused they are stopped,
    and the next check starts them again."""
    # 30 s unused: the three kernels start one after the other (the grader's first, with TensorFlow's import), and
    # on a loaded machine (make test's other worker) that took more than the 6 s of an earlier version of this test,
    # so that the service stopped them before the last one was seen
    proc, server = _start(tmp_path, {"DLCOURSE_CHECK_IDLE_MINUTES": "0.5"})
    try:
        nb = _write(server, f"{CH}.ipynb", answered(student_nb()))
        assert server.call("POST", {"path": nb, "warm": True})[0] == 200
        deadline = time.monotonic() + 60
        while _kernels(proc) < 3:  # a grader and two student kernels, being started
            assert time.monotonic() < deadline, f"started: {_kernels(proc)} kernels of 3"
            time.sleep(0.2)
        deadline = time.monotonic() + 90
        while _kernels(proc):
            assert time.monotonic() < deadline, f"{_kernels(proc)} kernels still running after 90 s"
            time.sleep(1)
        assert server.check(nb)["score"] == TOTAL
    finally:
        _stop(proc)


def test_the_worker_and_its_kernels_end_when_the_server_is_killed(tmp_path):
    """The service grades in a worker process with kernels of its own; a server killed outright (SIGKILL: no
    exit hook runs) must not leave them running, holding their 0.9 GB."""
    proc, server = _start(tmp_path, {})
    try:
        nb = _write(server, f"{CH}.ipynb", answered(student_nb()))
        assert server.call("POST", {"path": nb, "warm": True})[0] == 200
        deadline = time.monotonic() + 60
        while _kernels(proc) < 3:
            assert time.monotonic() < deadline, f"started: {_kernels(proc)} kernels of 3"
            time.sleep(0.2)
        left = _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while running := {pid: cmd[:80] for pid, cmd in left.items() if _running(pid)}:
            assert time.monotonic() < deadline, f"still running 30 s after the server was killed: {running}"
            time.sleep(0.5)
    finally:
        _stop(proc)
