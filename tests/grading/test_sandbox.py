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
out = {}
try:
    from dlcourse.given.ch01_gradient_descent import sigmoid
    out["import"] = "imported"
except ImportError as e:
    out["import"] = str(e)
try:
    out["source"] = open(os.path.join(folder, "ch01_gradient_descent.py")).read()
except OSError as e:
    out["source"] = ""
cache = os.path.join(folder, "__pycache__")
out["cache"] = sorted(os.listdir(cache)) if os.path.isdir(cache) else []
from dlcourse.given.ch04_attention import layer_norm  # a later chapter's module stays
out["later"] = layer_norm.__name__
print(json.dumps(out))
'''


@pytest.mark.parametrize("sandbox, off", [(True, ""), (True, "given"), (False, ""), (False, "given")])
def test_the_graded_chapters_own_given_module_is_hidden_from_its_answers(sandbox, off, monkeypatch):
    """dlcourse.given.<chapter> holds that chapter's solutions (its #@save functions): a ch01 answer
    ``from dlcourse.given.ch01_gradient_descent import sigmoid`` would earn full marks, and the file (or its
    compiled copy in __pycache__) could be read and printed. The student's kernels for a chapter cannot import
    it, and in the sandbox cannot read it either; a later chapter's module stays importable. With the defence
    off (DLCOURSE_SANDBOX_OFF=given), the same probe imports the solution: the assertions would fail."""
    import json

    import dlcourse.given.ch01_gradient_descent  # noqa: F401  (its compiled copy is in __pycache__ now, if writable)
    from dlcourse import sandbox as sb
    from dlcourse.grading import kernels

    if sandbox and not sb.sandbox_available():
        pytest.skip("bwrap is missing (apt-get install bubblewrap)")
    monkeypatch.setenv("DLCOURSE_SANDBOX_OFF", off)
    pool = kernels.KernelPool(sandbox=sandbox, memory_gb=2, cpu_seconds=120, timeout=60, warm=False)
    try:
        kernel = pool.run(pool.take("visible", "ch01_gradient_descent"))
        try:
            cell = pool.run(kernel.run(GIVEN_PROBE))
        finally:
            pool.run(kernel.stop())
    finally:
        pool.run(pool.close())
    errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
    assert not errors, errors
    out = json.loads("".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream").splitlines()[-1])
    assert out["later"] == "layer_norm"
    if off:  # the defence switched off: the solution is imported
        assert out["import"] == "imported"
        return
    assert out["import"] != "imported" and "solutions of the chapter being graded" in out["import"], out["import"]
    if sandbox:
        assert "def sigmoid" not in out["source"], "the chapter's solution file is readable in the sandbox"
        assert not [f for f in out["cache"] if f.startswith("ch01_gradient_descent")], out["cache"]
