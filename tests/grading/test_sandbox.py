"""The student kernel's launcher (``dlcourse.sandbox``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the grading sandbox (bwrap) is Linux only")


@pytest.mark.parametrize("parent_alive", [True, False])
def test_a_kernel_launcher_whose_grading_process_is_gone_exits(parent_alive):
    """The student kernel's launcher asks to be killed with the grading process (PR_SET_PDEATHSIG); had that
    process died while the launcher started (a worker SIGKILLed as it started spare kernels), no signal
    would come, so the launcher checks the pid jupyter_client gave it (JPY_PARENT_PID) and exits."""
    code = "from dlcourse import sandbox; sandbox._die_with_parent(); print('went on')"
    parent = os.getpid() if parent_alive else 1  # 1: not our parent, as if ours had died and init adopted us
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "JPY_PARENT_PID": str(parent)},
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, "went on" in proc.stdout) == ((0, True) if parent_alive else (1, False)), proc


@pytest.mark.parametrize("sandbox", [True, False])
def test_the_graders_kernel_exits_when_its_grading_process_died_while_it_started(tmp_path, sandbox):
    """The grader's kernel (and the unsandboxed student's) are plain ipykernels, whose own parent poller forgets a
    parent that died before it started and then waits for a parent of pid 1, which never comes under a subreaper:
    in a CI run, a Dask worker killed while its grader kernel started left that kernel running. The kernelspec's
    launcher exits instead. The grading process here is a process that has already ended."""
    import json

    from dlcourse.grading.kernels import GRADER_KERNEL, write_kernelspecs

    write_kernelspecs(tmp_path / "kernels", sandbox=sandbox, memory_gb=2, cpu_seconds=60)
    name = GRADER_KERNEL if sandbox else "python3"  # without the sandbox, the student's kernel is plain too
    argv = json.loads((tmp_path / "kernels" / name / "kernel.json").read_text())["argv"]
    argv = [a.replace("{connection_file}", str(tmp_path / "kernel.json")) for a in argv]
    gone = subprocess.Popen(["true"])
    gone.wait()
    kernel = subprocess.Popen(argv, env={**os.environ, "JPY_PARENT_PID": str(gone.pid)}, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        returncode = kernel.wait(timeout=30)
    except subprocess.TimeoutExpired:
        returncode = None
    finally:
        kernel.kill()
    assert returncode is not None, f"{' '.join(argv[:4])}: the kernel ran on 30 s after its grading process ended"


GIVEN_PROBE = r'''
import json, os, importlib
import dlcourse.given as given
folder = given.__path__[0]
out = {"import": {}, "source": {}}
for ch in ("ch01_gradient_descent", "ch04_attention"):
    try:
        importlib.import_module(f"dlcourse.given.{ch}")
        out["import"][ch] = "imported"
    except ImportError as e:
        out["import"][ch] = str(e)
    try:
        out["source"][ch] = open(os.path.join(folder, ch + ".py")).read()
    except OSError as e:
        out["source"][ch] = ""
cache = os.path.join(folder, "__pycache__")
out["cache"] = sorted(os.listdir(cache)) if os.path.isdir(cache) else []
print(json.dumps(out))
'''


def _given_probe(sandbox: bool, chapter: str, off: str, monkeypatch) -> dict:
    import json

    from dlcourse.grading import kernels

    monkeypatch.setenv("DLCOURSE_SANDBOX_OFF", off)
    pool = kernels.KernelPool(sandbox=sandbox, memory_gb=2, cpu_seconds=120, timeout=60, warm=False)
    try:
        kernel = pool.run(pool.take("visible", chapter))
        try:
            cell = pool.run(kernel.run(GIVEN_PROBE))
        finally:
            pool.run(kernel.stop())
    finally:
        pool.run(pool.close())
    errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
    assert not errors, errors
    return json.loads("".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream").splitlines()[-1])


@pytest.mark.parametrize("sandbox, off", [(True, ""), (True, "given"), (False, ""), (False, "given")])
def test_a_chapters_own_and_later_given_modules_are_hidden_from_its_answers(sandbox, off, monkeypatch):
    """dlcourse.given.<chapter> holds that chapter's solutions (its #@save functions): a ch01 answer
    ``from dlcourse.given.ch01_gradient_descent import sigmoid`` would earn full marks, and so would one built on
    ch04's attention (its softmax gives ch01's softmax and sigmoid); the files, or their compiled copies in
    __pycache__, could be read and printed. A student's kernel grading ch01 can import neither, and in the sandbox
    read neither. With the defence off (DLCOURSE_SANDBOX_OFF=given), the same probe imports both: the assertions
    below would fail."""
    import dlcourse.given.ch01_gradient_descent  # noqa: F401  (compiled into __pycache__ now, if writable)
    import dlcourse.given.ch04_attention  # noqa: F401
    from dlcourse import sandbox as sb

    if sandbox and not sb.sandbox_available():
        pytest.skip("bwrap is missing (apt-get install bubblewrap)")
    out = _given_probe(sandbox, "ch01_gradient_descent", off, monkeypatch)
    if off:  # the defence switched off: the solutions are imported
        assert set(out["import"].values()) == {"imported"}, out["import"]
        return
    for ch, said in out["import"].items():
        assert "solutions of the chapter being graded" in said, (ch, said)
        if sandbox:
            assert "def " not in out["source"][ch], f"{ch}'s saved solutions are readable in the sandbox"
    if sandbox:
        assert out["cache"] == [], out["cache"]


@pytest.mark.parametrize("sandbox", [True, False])
def test_earlier_chapters_given_modules_stay_for_a_later_chapter(sandbox, monkeypatch):
    """ch05's setup imports ch04's attention and ch02's ch01's softmax: grading ch05, both modules are there."""
    from dlcourse import sandbox as sb

    if sandbox and not sb.sandbox_available():
        pytest.skip("bwrap is missing (apt-get install bubblewrap)")
    out = _given_probe(sandbox, "ch05_gpt", "", monkeypatch)
    assert set(out["import"].values()) == {"imported"}, out["import"]
    if sandbox:
        assert all("def " in text for text in out["source"].values())


def test_with_no_chapter_named_every_given_module_is_hidden(monkeypatch):
    """A student's kernel whose chapter was not named (or whose name is not a plain one) sees no solutions."""
    from dlcourse import sandbox as sb

    for value in ("", "ch01/../x", "ch01 gradient"):
        monkeypatch.setenv(sb.HIDE_GIVEN_ENV, value)
        hidden = {m.stem for m in sb.hidden_given(sb.graded_chapter())}
        every = {m.stem for m in sb.GIVEN_DIR.glob("*.py")} - {"__init__"}
        assert "ch04_attention" in every and hidden == every, (value, hidden)


@pytest.mark.parametrize("off", ["", "lifeline"])
def test_a_sandboxed_kernel_ends_when_its_grading_process_does_without_bwraps_help(off, monkeypatch):
    """bwrap's --die-with-parent misses a grading process killed while the sandbox starts (bubblewrap #633: a Dask
    worker SIGKILLed as it started kernels left one running). So the kernel inside also watches a pipe whose write
    end only the grading process holds: here that end is closed while the grading process (this one) lives on, so
    bwrap's parent-death signal plays no part, and the kernel must end all the same; with the lifeline off it runs
    on (the test's control)."""
    import shutil
    import time

    from dlcourse.grading import kernels

    if not shutil.which("bwrap"):
        pytest.skip("needs bwrap")
    monkeypatch.setenv("DLCOURSE_SANDBOX_OFF", off)
    pool = kernels.KernelPool(sandbox=True, memory_gb=2, cpu_seconds=120, timeout=60, warm=False)
    try:
        kernel = pool.run(pool.take("visible", "ch00_start"))
        process = kernel.client.km.provisioner.process
        assert pool.run(kernel.responsive()), "the kernel must be up before its lifeline is cut"
        read_end, write_end = kernel.lifeline
        os.close(write_end)  # as the grading process's death would
        kernel.lifeline = (read_end,)
        deadline = time.monotonic() + (20 if not off else 5)
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        ended = process.poll() is not None
        pool.run(kernel.stop())
    finally:
        pool.run(pool.close())
    assert ended == (not off), ("the sandboxed kernel ran on after its grading process's end of the pipe closed"
                                if not off else "the control: without the lifeline the kernel should run on")
