"""The student kernel's launcher for grading: resource limits, then ``bwrap`` running ipykernel.

The grading kernelspec runs ``python -m dlcourse.sandbox CONNECTION_FILE MEMORY_BYTES CPU_SECONDS
[kernel arguments...]`` once per submission, so this module imports the standard library only:
importing ``dlcourse.grading`` (nbgrader, nbconvert, SQLAlchemy) here cost about 4 s per kernel start.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import resource
import shutil
import struct
import sys
import time
from pathlib import Path


#: Thread counts of the BLAS/OpenMP libraries and of TensorFlow. Passed into the sandbox when set, so
#: that ``dlcourse grade --jobs N`` can give each of its N kernels a share of the cores.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


#: Packages a student kernel cannot import: graded answers are written in NumPy. ml_dtypes (TensorFlow's and
#: JAX's bfloat16 type for NumPy) too: chapter 6 asks for bfloat16 rounding by bit arithmetic.
BLOCKED = ("tensorflow", "keras", "tf_keras", "tensorboard", "jax", "jaxlib", "torch", "ml_dtypes")
BLOCKED_MESSAGE = "graded answers run without TensorFlow: write it in NumPy"
#: A package whose import raises ImportError(BLOCKED_MESSAGE); mounted over each of BLOCKED in the sandbox.
BLOCKED_PACKAGE = Path(__file__).resolve().parent / "_blocked"
#: A module whose import raises ImportError; mounted over the graded chapter's own and later ``dlcourse.given`` modules.
HIDDEN_MODULE = BLOCKED_PACKAGE / "hidden.py"
HIDDEN_MESSAGE = ("this module holds the solutions of the chapter being graded (or of a later one), so it is hidden "
                  "while your answers are graded: write the function yourself")
#: The environment variable (set by the grading process, read by the launcher outside the sandbox) naming the
#: chapter whose answers the kernel grades: its own and later chapters' ``dlcourse.given`` modules, solutions,
#: are hidden (``hidden_given``).
HIDE_GIVEN_ENV = "DLCOURSE_GRADED_CHAPTER"
GIVEN_DIR = Path(__file__).resolve().parent / "given"


#: Defences that a test may switch off one at a time (``DLCOURSE_SANDBOX_OFF=uid,seccomp,cgroup,namespaces,given,lifeline``,
#: read from the grading process's environment, which no student code reaches), to show that its test fails
#: without it. ``namespaces``: the network and IPC namespaces and the /dev of each sandbox's own (abstract Unix
#: sockets, SysV shared memory and /dev/shm would otherwise be shared by every kernel on the machine). ``given``:
#: the graded chapter's own and later chapters' ``dlcourse.given`` modules hidden (``hidden_given``). ``lifeline``:
#: the kernel inside the sandbox ends when its grading process does (``LIFELINE``).
DEFENCES = ("uid", "seccomp", "cgroup", "namespaces", "given", "lifeline")
#: Each student kernel runs as a uid of its own, drawn from this range (none has a name or a home).
UID_BASE, UID_SPAN = 1_900_000_000, 10_000_000
#: Processes (threads included) one kernel may have: ipykernel and the BLAS threads need about 40.
PIDS_MAX = 256


def _off(defence: str) -> bool:
    return defence in os.environ.get("DLCOURSE_SANDBOX_OFF", "").split(",")


def sandbox_available() -> bool:
    return shutil.which("bwrap") is not None


INSTALL_BWRAP = "apt-get install bubblewrap"  # Debian/Ubuntu; `make test` and .ci/run install it as root


def no_bwrap(where: str, *, restart: bool = False, no_sandbox: bool = False) -> str:
    """The one message for a machine without bwrap: ``where`` (this machine, a worker) cannot sandbox student
    code, and what to do: install it (then ``restart`` the worker), or pass --no-sandbox (``no_sandbox``)."""
    return (f"{where} has no bwrap, so student code cannot be sandboxed there: install it (Debian/Ubuntu: "
            f"{INSTALL_BWRAP})" + (" and restart the worker" if restart else "")
            + (", or pass --no-sandbox if you trust every submission" if no_sandbox else ""))


#: The system's folders, bound read-only into every sandbox (the student kernels', the classroom's servers').
SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin", "/etc", "/opt")


def python_dirs() -> list[str]:
    """The interpreter, this venv and this package: what running the course's Python needs."""
    return sorted({sys.base_prefix, sys.prefix, str(Path(__file__).resolve().parent)})


def bind_argv(ro, rw) -> list[str]:
    """bwrap arguments binding each path of ``ro`` read-only (those that exist) and of ``rw`` writable, each at
    its own place. The folders bwrap makes on the way to a bound path are its own, mode 0700, which a uid
    dropped to could not pass: they are made first, readable and passable by all (their contents are the binds
    only)."""
    binds = [("--ro-bind", path) for path in ro if os.path.exists(path)] + [("--bind", path) for path in rw]
    bound = [p for _, p in binds]
    ancestors = {str(a) for _, p in binds for a in Path(p).parents if str(a) != "/"}
    argv = []
    for folder in sorted(ancestors, key=lambda a: a.count("/")):
        if not any(folder == b or folder.startswith(b + "/") for b in bound):
            argv += ["--perms", "0755", "--dir", folder]
    for flag, path in binds:
        argv += [flag, path, path]
    return argv


def graded_chapter() -> str:
    """The chapter this kernel grades (HIDE_GIVEN_ENV); "" when none is named or the name is not a plain one, and
    then every chapter's module is hidden."""
    chapter = os.environ.get(HIDE_GIVEN_ENV, "")
    return chapter if chapter.replace("_", "").isalnum() and chapter.isascii() else ""


def hidden_given(chapter: str) -> list[Path]:
    """The ``dlcourse.given`` modules a kernel grading ``chapter`` must not see: its own and every later
    chapter's (ch04's attention softmax gives ch01's softmax and sigmoid). An earlier chapter's, which the
    chapter's setup imports, stays (course chapter ids, chNN_name, sort in course order). With no chapter named,
    all of them."""
    if _off("given") or not GIVEN_DIR.is_dir():
        return []
    return [m for m in sorted(GIVEN_DIR.glob("*.py")) if m.stem != "__init__" and not (chapter and m.stem < chapter)]


def hide_given_argv(chapter: str) -> list[str]:
    """bwrap arguments hiding ``hidden_given(chapter)``, solutions, from the graded answers. The given/ folder
    becomes an empty one holding the earlier chapters' modules read-only and, in each hidden module's place, one
    that only raises ImportError. The compiled copies in given/__pycache__, which any process outside may write
    at any time (a grader kernel of a later chapter importing it), are not there at all. (given/ holds Python
    modules only: ``dlcourse generate`` writes nothing else there.)"""
    hidden = hidden_given(chapter)
    if not hidden:
        return []
    argv = ["--perms", "0755", "--tmpfs", str(GIVEN_DIR)]
    for module in sorted(GIVEN_DIR.glob("*.py")):
        argv += ["--ro-bind", str(HIDDEN_MODULE if module in hidden else module), str(module)]
    return argv + ["--remount-ro", str(GIVEN_DIR)]


def _sandbox_argv(workdir: str, runtime_dir: str) -> list[str]:
    """bwrap arguments: what the student kernel can see."""
    shared = _off("namespaces")
    argv = ["bwrap", "--die-with-parent", *([] if shared else ["--unshare-net", "--unshare-ipc"]), "--unshare-pid",
            "--unshare-uts", "--new-session", "--cap-drop", "ALL", "--proc", "/proc",
            *(["--dev-bind", "/dev", "/dev"] if shared else ["--dev", "/dev"]), "--perms", "1777", "--tmpfs", "/tmp"]
    argv += bind_argv([*SYSTEM_DIRS, *python_dirs()], [workdir, runtime_dir])
    for folder in dict.fromkeys(p for p in sys.path if p and os.path.isdir(p)):
        for name in BLOCKED:
            if os.path.isdir(os.path.join(folder, name)):  # hidden under a package that only raises
                argv += ["--ro-bind", str(BLOCKED_PACKAGE), os.path.join(folder, name)]
    argv += hide_given_argv(graded_chapter())
    argv += ["--remount-ro", "/",  # the sandbox's own root: nothing new can be created outside the binds
             "--chdir", workdir,
             "--clearenv", "--setenv", "HOME", "/tmp", "--setenv", "MPLCONFIGDIR", "/tmp",
             "--setenv", "PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin",
             "--setenv", "LANG", "C.UTF-8", "--setenv", "TF_CPP_MIN_LOG_LEVEL", "3"]
    for var in ("NBGRADER_EXECUTION", "NBGRADER_VALIDATING", *THREAD_VARS):
        if var in os.environ:
            argv += ["--setenv", var, os.environ[var]]
    return argv



# ---------------------------------------------------------------------------- seccomp
# System calls no graded answer needs, each a channel between kernels (or a way around the sandbox):
# the kernel keyrings (add_key, request_key, keyctl: keys outlive the kernel, and one uid's keyring is shared),
# file locks and change notices on the files every sandbox binds (flock, fcntl's lock, lease and dnotify
# commands, inotify, fanotify), page-cache residency (mincore, cachestat), other processes' memory (ptrace,
# process_vm_*, kcmp), and perf_event_open, bpf, userfaultfd, handles to files outside (name_to_handle_at,
# open_by_handle_at). Each fails with EPERM, as if the kernel refused it.
_SYSCALLS = {
    "x86_64": {"arch": 0xC000003E, "fcntl": 72, "blocked": {
        "ptrace": 101, "flock": 73, "mincore": 27, "add_key": 248, "request_key": 249, "keyctl": 250,
        "inotify_init": 253, "inotify_init1": 294, "fanotify_init": 300, "perf_event_open": 298,
        "name_to_handle_at": 303, "open_by_handle_at": 304, "process_vm_readv": 310, "process_vm_writev": 311,
        "kcmp": 312, "bpf": 321, "userfaultfd": 323, "cachestat": 451}},
    "aarch64": {"arch": 0xC00000B7, "fcntl": 25, "blocked": {
        "ptrace": 117, "flock": 32, "mincore": 232, "add_key": 217, "request_key": 218, "keyctl": 219,
        "inotify_init1": 26, "fanotify_init": 262, "perf_event_open": 241, "name_to_handle_at": 264,
        "open_by_handle_at": 265, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "bpf": 280,
        "userfaultfd": 282, "cachestat": 451}},
}
#: fcntl commands refused: F_GETLK, F_SETLK, F_SETLKW, the open-file-description locks, leases, F_NOTIFY.
_FCNTL_BLOCKED = (5, 6, 7, 36, 37, 38, 1024, 1025, 1026)


def seccomp_program(machine: str | None = None) -> bytes:
    """A classic-BPF seccomp program (``struct sock_filter`` records) for bwrap's ``--seccomp FD``: EPERM for
    the system calls above and the fcntl lock commands, every other call allowed; any other ABI (x32, i386
    through int 0x80) refused whole."""
    table = _SYSCALLS.get(machine or platform.machine())
    if table is None:
        raise OSError(f"no seccomp table for {machine or platform.machine()}")
    LD, JEQ, JGE, RET = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JGE|K, BPF_RET|K
    ALLOW, DENY = 0x7FFF0000, 0x00050000 | errno.EPERM  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
    # seccomp_data: nr at 0, arch at 4, args[6] from 16 (args[1]'s low half at 24 on little-endian machines)
    prog = [(LD, 0, 0, 4), (JEQ, 0, "deny", table["arch"]),
            (LD, 0, 0, 0), (JGE, "deny", 0, 0x40000000)]  # the x32 ABI's numbers
    prog += [(JEQ, "deny", 0, nr) for nr in sorted(table["blocked"].values())]
    prog += [(JEQ, 0, "allow", table["fcntl"]), (LD, 0, 0, 24)]
    prog += [(JEQ, "deny", 0, cmd) for cmd in _FCNTL_BLOCKED]
    prog += [(RET, 0, 0, ALLOW), (RET, 0, 0, DENY)]
    at = {"allow": len(prog) - 2, "deny": len(prog) - 1}
    jump = lambda i, j: at[j] - i - 1 if isinstance(j, str) else j
    return b"".join(struct.pack("HBBI", code, jump(i, jt), jump(i, jf), k) for i, (code, jt, jf, k) in enumerate(prog))


def _seccomp_fd() -> int | None:
    """A pipe's read end holding the program, inheritable, for ``bwrap --seccomp FD``; None where there is
    no table for this machine (the sandbox then runs without the filter)."""
    try:
        program = seccomp_program()
    except OSError:
        return None
    r, w = os.pipe()
    os.write(w, program)
    os.close(w)
    os.set_inheritable(r, True)
    return r


# ---------------------------------------------------------------------------- a uid per kernel
def kernel_uid(folder: Path) -> int:
    """The uid of the kernel whose folder this is (its name is a random hex id): one uid per kernel, so that
    keyrings, process limits and signals are the kernel's own."""
    try:
        n = int(folder.name[:12], 16)
    except ValueError:
        n = abs(hash(folder.name))
    return UID_BASE + n % UID_SPAN


#: The first command inside the sandbox when grading runs as root: become the kernel's uid (setresuid from 0 to a
#: non-zero uid clears every capability), then run ipykernel in this same process.
#: ``DROP_TO_UID``, then ipykernel (the classroom's jailed servers use ``DROP_TO_UID`` too).
DROP_TO_UID = "import os, runpy, sys; os.setgroups([]); os.setresgid({uid}, {uid}, {uid}); os.setresuid({uid}, {uid}, {uid}); "
KERNEL_MAIN = "import runpy, sys; sys.argv[0] = 'ipykernel_launcher'; runpy.run_module('ipykernel_launcher', run_name='__main__', alter_sys=True)"
DROP_THEN_KERNEL = DROP_TO_UID + KERNEL_MAIN
#: The first lines of a sandboxed kernel: it ends when its grading process does. bwrap's --die-with-parent misses a
#: grading process killed while the sandbox starts: the process inside sets its parent-death signal only after the
#: clone, too late if bwrap has died by then (bubblewrap #633; a Dask worker SIGKILLed as it started kernels left
#: one running, orphaned). The kernel inherits the read end of a pipe whose write end only the grading process holds
#: (``grading.kernels.Kernel``, which never writes to it; the fd is named in LIFELINE_ENV), so end of file there means
#: that process is gone, however it ended.
LIFELINE = ("import os, stat, threading\n"
            "if stat.S_ISFIFO(os.fstat({fd}).st_mode):\n"
            "    threading.Thread(target=lambda: (os.read({fd}, 1), os._exit(1)), daemon=True).start()\n")
LIFELINE_ENV = "DLCOURSE_LIFELINE_FD"


def _give_to(uid: int, *paths: Path) -> None:
    for path in paths:
        for p in [path, *path.rglob("*")]:
            os.chown(p, uid, uid, follow_symlinks=False)


# ---------------------------------------------------------------------------- a cgroup per kernel
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PREFIX = "dlcourse-"


def _own_cgroups() -> dict[str, Path]:
    """controller -> this process's cgroup folder, for memory and pids: v1's hierarchies, or v2's one."""
    found = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(","):
            if c in ("memory", "pids") and (CGROUP_ROOT / c).is_dir():
                found[c] = CGROUP_ROOT / c / path.lstrip("/")
        if controllers == "" and (CGROUP_ROOT / "cgroup.controllers").is_file():
            for c in ("memory", "pids"):
                found.setdefault("v2-" + c, CGROUP_ROOT / path.lstrip("/"))
    return found


def _write(path: Path, value) -> None:
    with open(path, "w") as f:
        f.write(f"{value}\n")


def join_kernel_cgroup(name: str, memory_bytes: int, pids: int = PIDS_MAX) -> str | None:
    """Put this process (the kernel's launcher, before it execs bwrap) in a new cgroup of its own under each
    of its memory and pids cgroups, bounded to ``memory_bytes`` (swap included where the host counts it) and
    ``pids`` processes: the bound holds for the kernel and every child it forks. Returns a description of the
    bound, or None where no cgroup can be made (not root, read-only, or v2 without delegation)."""
    made = []
    own = _own_cgroups()
    try:
        if "memory" in own and "pids" in own:  # v1
            mem, pid = own["memory"] / (CGROUP_PREFIX + name), own["pids"] / (CGROUP_PREFIX + name)
            mem.mkdir()
            made.append(mem)
            _write(mem / "memory.limit_in_bytes", memory_bytes)
            if (mem / "memory.memsw.limit_in_bytes").exists():
                try:
                    _write(mem / "memory.memsw.limit_in_bytes", memory_bytes)
                except OSError:
                    pass
            pid.mkdir()
            made.append(pid)
            _write(pid / "pids.max", pids)
            _write(mem / "cgroup.procs", os.getpid())
            _write(pid / "cgroup.procs", os.getpid())
            return "cgroup v1 (memory, pids) per kernel"
        if "v2-memory" in own:
            group = own["v2-memory"] / (CGROUP_PREFIX + name)
            group.mkdir()
            made.append(group)
            _write(group / "memory.max", memory_bytes)
            _write(group / "memory.swap.max", 0)
            _write(group / "pids.max", pids)
            _write(group / "cgroup.procs", os.getpid())
            return "cgroup v2 (memory, pids) per kernel"
    except OSError:
        for folder in reversed(made):
            try:
                folder.rmdir()
            except OSError:
                pass
    return None


def sweep_cgroups(min_age: float = 60.0) -> int:
    """Remove this process's empty kernel cgroups older than ``min_age`` seconds (a kernel's group is empty once
    the kernel has ended; a young one may be a launcher's that has not joined it yet). Returns how many."""
    removed = 0
    for folder in {p for p in _own_cgroups().values()}:
        try:
            children = list(folder.glob(CGROUP_PREFIX + "*"))
        except OSError:
            continue
        for child in children:
            try:
                if time.time() - child.stat().st_mtime >= min_age:
                    child.rmdir()  # fails on a group that still holds a process
                    removed += 1
            except OSError:
                pass
    return removed


def memory_bound(memory_gb: float, sandbox: bool = True) -> str:
    """The bound in force on a submission's memory, in words, for the batch summary."""
    if not sandbox:
        return f"none enforced (--no-sandbox): student code runs unconfined"
    own = _own_cgroups()
    can = os.geteuid() == 0 and (("memory" in own and "pids" in own and os.access(own["memory"], os.W_OK))
                                 or ("v2-memory" in own and os.access(own["v2-memory"], os.W_OK)))
    if can and not _off("cgroup"):
        return f"{memory_gb:g} GB and {PIDS_MAX} processes per kernel (a cgroup per kernel)"
    return (f"{memory_gb:g} GB per process (RLIMIT_AS) and {512} processes per kernel's uid (RLIMIT_NPROC): "
            "a kernel that forks can hold more (no cgroup could be made here)")


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
    workdir = os.getcwd()
    folder = Path(workdir).parent  # the kernel's own folder: work/ (this) and sockets/
    if os.geteuid() == 0:
        sweep_cgroups()
        if not _off("cgroup"):
            join_kernel_cgroup(folder.name, memory_bytes)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (512 * 2**20, 512 * 2**20))  # no file over 512 MB
    resource.setrlimit(resource.RLIMIT_NPROC, (512, 512))  # a fork bomb stops here (counted per real uid)
    # The ZeroMQ ipc sockets live under the connection's "ip" path prefix, in the job's private
    # runtime folder; the connection file is copied there so the sandbox sees nothing else.
    info = json.loads(Path(connection_file).read_text())
    if info.get("transport") != "ipc" or not os.path.isabs(info.get("ip", "")):
        raise SystemExit("the sandboxed kernel needs ipc transport with an absolute ip path prefix")
    runtime_dir = str(Path(info["ip"]).parent)
    inside = Path(runtime_dir) / Path(connection_file).name
    if Path(connection_file).resolve() != inside.resolve():
        shutil.copyfile(connection_file, inside)
    argv = _sandbox_argv(workdir, runtime_dir)
    seccomp = None if _off("seccomp") else _seccomp_fd()
    if seccomp is not None:
        argv += ["--seccomp", str(seccomp)]
    fd = os.environ.get(LIFELINE_ENV, "")
    lifeline = LIFELINE.format(fd=int(fd)) if fd.isdigit() and not _off("lifeline") else ""
    main = KERNEL_MAIN
    if os.geteuid() == 0 and not _off("uid"):  # student code never runs as root: a uid of the kernel's own
        uid = kernel_uid(folder)
        _give_to(uid, Path(workdir), Path(runtime_dir))
        # bwrap, as root, sets up the mounts (it reads the interpreter even under a root-only home), keeping only
        # the two capabilities that the first command inside needs to become that uid for good, which drops
        # them; then it is ipykernel.
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        main = DROP_THEN_KERNEL.format(uid=uid)
    argv += [sys.executable, "-c", lifeline + main, "-f", str(inside), *kernel_args]
    with open(os.devnull, "wb") as devnull:  # the kernel's console chatter; its real output goes over ZeroMQ
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
    _die_with_parent()
    os.execvp(argv[0], argv)


class _Blocker:
    """A meta path finder that refuses BLOCKED: the same rule for a kernel run without the sandbox
    (``dlcourse check`` where bwrap is missing), where nothing stops a determined student anyway."""

    hidden: frozenset = frozenset()  # dlcourse.given.<the graded chapter, and every later one>

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(BLOCKED_MESSAGE)
        if name in cls.hidden:
            raise ImportError(HIDDEN_MESSAGE)
        return None


def launch_unsandboxed_kernel(kernel_args) -> None:
    """A student kernel without the sandbox, TensorFlow and Keras refused all the same."""
    _Blocker.hidden = frozenset(f"dlcourse.given.{m.stem}" for m in hidden_given(graded_chapter()))
    sys.meta_path.insert(0, _Blocker())
    launch_plain_kernel(kernel_args)


def launch_plain_kernel(kernel_args) -> None:
    """An ipykernel that dies with the grading process (the grader's kernel, and the unsandboxed student's).
    ipykernel's own parent poller is not enough: when the parent dies before the poller starts (a Dask worker
    killed while the kernel imports), the poller forgets the parent and waits for a parent of pid 1, which never
    comes under a subreaper; that kernel ran on, orphaned (a fresh-clone CI run of test_cluster)."""
    _die_with_parent()
    from ipykernel import kernelapp

    kernelapp.launch_new_instance(argv=list(kernel_args))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--unsandboxed"]:
        launch_unsandboxed_kernel(sys.argv[2:])
        sys.exit(0)
    if sys.argv[1:2] == ["--plain"]:
        launch_plain_kernel(sys.argv[2:])
        sys.exit(0)
    if len(sys.argv) < 4:
        raise SystemExit("usage: python -m dlcourse.sandbox CONNECTION_FILE MEMORY_BYTES CPU_SECONDS [kernel args...]")
    launch_sandboxed_kernel(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
