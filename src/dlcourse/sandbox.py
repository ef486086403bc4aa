"""The student kernel's launcher for grading: resource limits, then ``bwrap`` running ipykernel.

The grading kernelspec runs ``python -m dlcourse.sandbox CONNECTION_FILE MEMORY_BYTES CPU_SECONDS
[kernel arguments...]`` once per submission, so this module imports the standard library only:
importing ``dlcourse.grading`` (nbgrader, nbconvert, SQLAlchemy) here cost about 4 s per kernel start.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
from pathlib import Path


#: Thread counts of the BLAS/OpenMP libraries and of TensorFlow. Passed into the sandbox when set, so
#: that ``dlcourse grade --jobs N`` can give each of its N kernels a share of the cores.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


#: Packages a student kernel cannot import: graded answers are written in NumPy.
BLOCKED = ("tensorflow", "keras", "tf_keras", "tensorboard", "jax", "jaxlib", "torch")
BLOCKED_MESSAGE = "graded answers run without TensorFlow: write it in NumPy"
#: A package whose import raises ImportError(BLOCKED_MESSAGE); mounted over each of BLOCKED in the sandbox.
BLOCKED_PACKAGE = Path(__file__).resolve().parent / "_blocked"


def sandbox_available() -> bool:
    return shutil.which("bwrap") is not None


def _sandbox_argv(workdir: str, runtime_dir: str) -> list[str]:
    """bwrap arguments: what the student kernel can see."""
    ro = ["/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin", "/etc", "/opt"]
    python_dirs = {sys.base_prefix, sys.prefix, str(Path(__file__).resolve().parent)}
    argv = ["bwrap", "--die-with-parent", "--unshare-net", "--unshare-ipc", "--unshare-pid", "--unshare-uts",
            "--new-session", "--cap-drop", "ALL", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for path in ro + sorted(python_dirs):
        if os.path.exists(path):
            argv += ["--ro-bind", path, path]
    for folder in dict.fromkeys(p for p in sys.path if p and os.path.isdir(p)):
        for name in BLOCKED:
            if os.path.isdir(os.path.join(folder, name)):  # hidden under a package that only raises
                argv += ["--ro-bind", str(BLOCKED_PACKAGE), os.path.join(folder, name)]
    argv += ["--bind", workdir, workdir, "--bind", runtime_dir, runtime_dir,
             "--remount-ro", "/",  # the sandbox's own root: nothing new can be created outside the binds
             "--chdir", workdir,
             "--clearenv", "--setenv", "HOME", "/tmp", "--setenv", "MPLCONFIGDIR", "/tmp",
             "--setenv", "PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin",
             "--setenv", "LANG", "C.UTF-8", "--setenv", "TF_CPP_MIN_LOG_LEVEL", "3"]
    for var in ("NBGRADER_EXECUTION", "NBGRADER_VALIDATING", *THREAD_VARS):
        if var in os.environ:
            argv += ["--setenv", var, os.environ[var]]
    return argv


def _die_with_parent() -> None:
    """Be killed when the grading process that started us dies, even by SIGKILL (a Dask worker killed
    mid-task, a client killed): Linux's PR_SET_PDEATHSIG outlives the exec of bwrap, and bwrap's
    --die-with-parent takes the kernel down with it. Without it, the kernel ran on, orphaned."""
    import ctypes
    import signal

    # The grading process: jupyter_client's launcher names it in JPY_PARENT_PID. os.getppid() here would be
    # too late: had the grading process died while this interpreter started, it would already be 1.
    parent = int(os.environ.get("JPY_PARENT_PID") or os.getppid())
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux's libc: nothing to do
        return
    if os.getppid() != parent:  # the parent died before prctl: no signal will come
        os._exit(1)


def launch_sandboxed_kernel(connection_file: str, memory_bytes: int, cpu_seconds: int, kernel_args=()) -> None:
    """Kernel launcher (the kernelspec's argv): set limits, then exec bwrap running ipykernel.

    The kernel manager starts us in the notebook's folder, which becomes the sandbox's
    only writable folder.
    """
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (512 * 2**20, 512 * 2**20))  # no file over 512 MB
    resource.setrlimit(resource.RLIMIT_NPROC, (512, 512))  # a fork bomb stops here (not for root)
    workdir = os.getcwd()
    # The ZeroMQ ipc sockets live under the connection's "ip" path prefix, in the job's private
    # runtime folder; the connection file is copied there so the sandbox sees nothing else.
    info = json.loads(Path(connection_file).read_text())
    if info.get("transport") != "ipc" or not os.path.isabs(info.get("ip", "")):
        raise SystemExit("the sandboxed kernel needs ipc transport with an absolute ip path prefix")
    runtime_dir = str(Path(info["ip"]).parent)
    inside = Path(runtime_dir) / Path(connection_file).name
    if Path(connection_file).resolve() != inside.resolve():
        shutil.copyfile(connection_file, inside)
    argv = _sandbox_argv(workdir, runtime_dir) + [sys.executable, "-m", "ipykernel_launcher", "-f", str(inside),
                                                  *kernel_args]
    with open(os.devnull, "wb") as devnull:  # the kernel's console chatter; its real output goes over ZeroMQ
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
    _die_with_parent()
    os.execvp(argv[0], argv)


class _Blocker:
    """A meta path finder that refuses BLOCKED: the same rule for a kernel run without the sandbox
    (``dlcourse check`` where bwrap is missing), where nothing stops a determined student anyway."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(BLOCKED_MESSAGE)
        return None


def launch_unsandboxed_kernel(kernel_args) -> None:
    """A student kernel without the sandbox, TensorFlow and Keras refused all the same."""
    sys.meta_path.insert(0, _Blocker())
    from ipykernel import kernelapp

    kernelapp.launch_new_instance(argv=list(kernel_args))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--unsandboxed"]:
        launch_unsandboxed_kernel(sys.argv[2:])
        sys.exit(0)
    if len(sys.argv) < 4:
        raise SystemExit("usage: python -m dlcourse.sandbox CONNECTION_FILE MEMORY_BYTES CPU_SECONDS [kernel args...]")
    launch_sandboxed_kernel(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
