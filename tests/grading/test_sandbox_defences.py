"""The sandbox's defences, each on its own: a uid per kernel (never root), the seccomp filter, the cgroup per
kernel. Each test runs a probe a student could write in a real sandboxed kernel, and again with that one
defence switched off (``DLCOURSE_SANDBOX_OFF``), to show that the test fails without it."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from dlcourse import sandbox
from dlcourse.grading import kernels

pytestmark = [
    pytest.mark.skipif(not sandbox.sandbox_available(), reason="bwrap is missing (apt-get install bubblewrap)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the uid and cgroup defences are a root grader's"),
]


def _probe(code: str, *, off: str = "", memory_gb: float = 2, kernels_wanted: int = 1, monkeypatch=None) -> list:
    """Run ``code`` in ``kernels_wanted`` fresh sandboxed kernels, one after the other in the same pool (each
    kernel sees what the earlier left behind); return what each printed last, parsed as JSON."""
    monkeypatch.setenv("DLCOURSE_SANDBOX_OFF", off)
    pool = kernels.KernelPool(sandbox=True, memory_gb=memory_gb, cpu_seconds=120, timeout=60, warm=False)
    results = []
    try:
        for _ in range(kernels_wanted):
            kernel = pool.run(pool.take("visible"))
            try:
                cell = pool.run(kernel.run(code))
                text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
                errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
                assert not errors, errors
                results.append(json.loads(text.strip().splitlines()[-1]))
            finally:
                pool.run(kernel.stop())
    finally:
        pool.run(pool.close())
    return results


WHO = r'''
import json, os
caps = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0]
print(json.dumps({"uid": os.getuid(), "euid": os.geteuid(), "caps": caps}))
'''


@pytest.mark.parametrize("off", ["", "uid"])
def test_student_code_never_runs_as_root(off, monkeypatch):
    a, b = _probe(WHO, off=off, kernels_wanted=2, monkeypatch=monkeypatch)
    if off:  # the defence switched off: the test below would fail
        assert a["uid"] == 0
        return
    assert a["uid"] != 0 and a["euid"] != 0 and int(a["caps"], 16) == 0, a
    assert a["uid"] != b["uid"], "each kernel has a uid of its own"


KEYRING = r'''
import ctypes, json
libc = ctypes.CDLL(None, use_errno=True)
ADD_KEY, KEYCTL = {{"x86_64": (248, 250), "aarch64": (217, 219)}}[__import__("platform").machine()]
KEY_SPEC_USER_KEYRING, KEYCTL_SEARCH, KEYCTL_READ = -4, 10, 11
def search():
    serial = libc.syscall(KEYCTL, KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, b"user", b"dlcourse-probe", 0)
    if serial < 0:
        return None
    buf = ctypes.create_string_buffer(256)
    n = libc.syscall(KEYCTL, KEYCTL_READ, serial, buf, 256)
    return buf.raw[:max(n, 0)].decode()
found = search()
made = libc.syscall(ADD_KEY, b"user", b"dlcourse-probe", b"{secret}", len(b"{secret}"), KEY_SPEC_USER_KEYRING)
print(json.dumps({{"found": found, "made": made, "errno": ctypes.get_errno()}}))
'''


@pytest.mark.parametrize("off", ["", "seccomp", "uid,seccomp"])
def test_the_keyring_carries_nothing_between_kernels(off, monkeypatch):
    """The attack of the issue: a kernel stores what it saw in the kernel keyring, a later kernel reads it."""
    first, second = _probe(KEYRING.format(secret="HIDDEN-INPUT"), off=off, kernels_wanted=2, monkeypatch=monkeypatch)
    try:
        if off == "uid,seccomp":  # no defence: the second kernel reads what the first stored
            assert second["found"] == "HIDDEN-INPUT"
            return
        assert second["found"] is None
        if off == "":
            assert first["made"] == -1 and first["errno"] == 1, "add_key is refused (EPERM)"
        else:  # seccomp off: the key is made, but in the first kernel's own uid's keyring
            assert first["made"] > 0
    finally:
        os.system("keyctl purge user dlcourse-probe >/dev/null 2>&1")


LOCKS = r'''
import ctypes, errno, fcntl, json, os
libc = ctypes.CDLL(None, use_errno=True)
def inotify(f):
    fd = libc.inotify_init1(0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1")
    os.close(fd)
out = {}
for name, call in [("flock", lambda f: fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)),
                   ("lockf", lambda f: fcntl.lockf(f, fcntl.LOCK_SH | fcntl.LOCK_NB)),
                   ("inotify", inotify)]:
    try:
        with open(os.__file__, "rb") as f:  # a read-only file every sandbox binds
            call(f)
        out[name] = "allowed"
    except OSError as e:
        out[name] = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps(out))
'''


@pytest.mark.parametrize("off", ["", "seccomp"])
def test_locks_and_change_notices_on_shared_files_are_refused(off, monkeypatch):
    """flock/fcntl locks and inotify on the files every sandbox binds would be a channel between two kernels
    graded at once (one bit per poll)."""
    (got,) = _probe(LOCKS, off=off, monkeypatch=monkeypatch)
    if off:
        assert got == {"flock": "allowed", "lockf": "allowed", "inotify": "allowed"}
    else:
        assert got == {"flock": "EPERM", "lockf": "EPERM", "inotify": "EPERM"}


FORKS = r'''
import json, os, time
MB = 2**20
children = []
for i in range(5):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            block = bytearray(900 * MB)
            for j in range(0, len(block), 4096):
                block[j] = 1
            os.write(w, b"1")
            time.sleep(30)
        finally:
            os._exit(0)
    os.close(w)
    children.append((pid, r))
time.sleep(4)
held = 0
for pid, r in children:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done == 0 and os.read(r, 1) == b"1":
        held += 1
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass
print(json.dumps({"held_mb": held * 900}))
'''


@pytest.mark.parametrize("off", ["", "cgroup"])
def test_memory_is_bounded_per_kernel_not_per_process(off, monkeypatch):
    """The attack of the issue: 5 children of 900 MB each held 4.5 GB with --memory 2."""
    (got,) = _probe(FORKS, off=off, memory_gb=2, monkeypatch=monkeypatch)
    if off:
        assert got["held_mb"] == 4500
    else:
        assert got["held_mb"] <= 2 * 1024, got


FORK_BOMB = r'''
import json, os, time
pids = []
for i in range(600):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(5)
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.kill(pid, 9)
print(json.dumps({"forked": len(pids)}))
'''


@pytest.mark.parametrize("off", ["", "cgroup", "uid,cgroup"])
def test_a_fork_bomb_is_bounded(off, monkeypatch):
    (got,) = _probe(FORK_BOMB, off=off, monkeypatch=monkeypatch)
    if off == "uid,cgroup":  # root, no cgroup: RLIMIT_NPROC does not apply to root
        assert got["forked"] == 600
    elif off == "cgroup":  # the uid's RLIMIT_NPROC still holds
        assert got["forked"] < 512
    else:
        assert got["forked"] < sandbox.PIDS_MAX


def test_kernel_cgroups_are_removed():
    """Empty kernel cgroups older than a minute go (the launcher sweeps them at each start, the pool at its end)."""
    own = sandbox._own_cgroups()
    if "memory" not in own:
        pytest.skip("no cgroup v1 here")
    stale = own["memory"] / (sandbox.CGROUP_PREFIX + "stale-probe")
    stale.mkdir(exist_ok=True)
    os.utime(stale, (0, 0))
    assert sandbox.sweep_cgroups() >= 1
    assert not stale.exists()


def test_seccomp_program_is_well_formed():
    """Every record is 8 bytes, every jump lands inside the program, and the last two are the returns."""
    import struct

    for machine in sandbox._SYSCALLS:
        prog = sandbox.seccomp_program(machine)
        assert len(prog) % 8 == 0
        ins = [struct.unpack("HBBI", prog[i:i + 8]) for i in range(0, len(prog), 8)]
        for i, (code, jt, jf, k) in enumerate(ins):
            if code & 0x07 == 0x05:  # a jump
                assert i + 1 + max(jt, jf) < len(ins)
        assert ins[-2] == (0x06, 0, 0, 0x7FFF0000) and ins[-1][0] == 0x06


SHARE = r'''
import ctypes, json, os, socket, threading
libc = ctypes.CDLL(None, use_errno=True)
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind("\0dlcourse-probe")  # an abstract socket: no file, one name space per network namespace
server.listen(4)
def serve():
    while True:
        conn, _ = server.accept()
        conn.sendall(b"hidden inputs")
        conn.close()
threading.Thread(target=serve, daemon=True).start()
try:
    with open("/dev/shm/dlcourse-probe", "w") as f:
        f.write("hidden inputs")
    os.chmod("/dev/shm/dlcourse-probe", 0o666)
    wrote = True
except OSError:  # the sandbox's /dev/shm is not writable by the kernel's uid
    wrote = False
print(json.dumps({"devshm": wrote, "sysv": libc.shmget(0x5EED, 4096, 0o1000 | 0o666)}))  # IPC_CREAT
'''
PEEK = r'''
import ctypes, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
found = {}
try:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect("\0dlcourse-probe")
    found["socket"] = client.recv(64).decode()
except OSError:
    found["socket"] = None
try:
    found["devshm"] = open("/dev/shm/dlcourse-probe").read()
except OSError:
    found["devshm"] = None
found["sysv"] = libc.shmget(0x5EED, 0, 0) >= 0
print(json.dumps(found))
'''


@pytest.mark.parametrize("off", ["", "namespaces"])
def test_two_kernels_at_once_share_no_socket_or_memory(off, monkeypatch):
    """A hidden kernel graded beside another submission's visible kernel (``--jobs 2``; or, at ``--jobs 1`` and
    in the self-check service, beside the next submission's kernels, started early and idle until their turn)
    offers what it saw on an abstract Unix socket, in /dev/shm and in SysV shared memory; the other kernel finds
    none of them."""
    monkeypatch.setenv("DLCOURSE_SANDBOX_OFF", off)
    pool = kernels.KernelPool(sandbox=True, memory_gb=2, cpu_seconds=120, timeout=60, warm=False)
    live = []
    try:
        outputs = []
        for code in (SHARE, PEEK):  # both kernels alive at once
            live.append(pool.run(pool.take("visible")))
            cell = pool.run(live[-1].run(code))
            assert not [o for o in cell.outputs if o.output_type == "error"], cell.outputs
            outputs.append(json.loads("".join(o.get("text", "") for o in cell.outputs
                                              if o.output_type == "stream").strip().splitlines()[-1]))
    finally:
        for kernel in live:
            pool.run(kernel.stop())
        pool.run(pool.close())
        if off:  # what the probe left on the host
            subprocess.run(["ipcrm", "-M", str(0x5EED)], capture_output=True)
            if os.path.exists("/dev/shm/dlcourse-probe"):
                os.unlink("/dev/shm/dlcourse-probe")
    made, found = outputs
    if off:  # without namespaces of their own, the probe does reach the other kernel
        assert found["socket"] == "hidden inputs" and found["devshm"] == "hidden inputs", found
        return
    assert found == {"socket": None, "devshm": None, "sysv": False}, (made, found)
