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
