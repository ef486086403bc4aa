"""A classroom on one machine: JupyterHub on 127.0.0.1, an instructor and a few students, nbgrader's exchange.

``make classroom`` (``dlcourse classroom``) lays out a classroom folder and runs JupyterHub on it with
``classroom/jupyterhub_config.py``; the browser test (tests/browser/test_classroom.py) drives the same.

The folder (default /tmp/dlcourse-classroom)::

    classroom.json            ports, accounts and paths, read by jupyterhub_config.py
    exchange/                 nbgrader's exchange (Exchange.root), world-writable as nbgrader's docs ask;
                              release_assignment makes exchange/dlcourse/{outbound,inbound,feedback}
    homes/<user>/             each account's home and notebook folder (SimpleLocalProcessSpawner)
    homes/<user>/.jupyter/    that account's Jupyter and nbgrader configuration
    homes/instructor/dlcourse/  the instructor's copy of the course: solutions/, notebooks/, autograde/
    jupyterhub.sqlite, jupyterhub_cookie_secret, proxy.pid, jupyterhub.log

Students get only what the exchange carries: the released notebooks. Their nbgrader configuration names
the exchange, the course and their student id; nbgrader's formgrader and "create assignment" extensions
are disabled for them, and so are terminals. The hub's own access rules keep each student to their own
server (/user/<name>/ is routed to that user's server, which checks that user's cookie).

When the hub runs as root (a server, a container, CI) and bubblewrap is installed, each student's server
also runs jailed (``server_jail``): as a uid of its own (never root), in a mount namespace that holds the
system's folders, the course's Python (interpreter, venv, this package) read-only, and only two writable
folders: the student's home and the exchange. Other homes, the instructor's course with its solutions, this
checkout (solutions/, .git), the classroom's settings and /tmp are not there at all. In the package's
``dlcourse/given/`` (a chapter's module is that chapter's solutions, which a later chapter imports) it sees only the
modules of chapters before the latest released one (``sync_given``, kept current by the hub's service
``dlcourse-given``). The exchange is
nbgrader's multi-user one: a student may write into its inbound folder but not list it. Without root (a
laptop) every server runs as the hub's Unix user, and a student's kernel can read whatever that user can:
then the classroom is a demo of the workflow, not of its isolation, and says so when it starts.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import notebooks

DEFAULT_DIR = Path("/tmp/dlcourse-classroom")
INSTRUCTOR = "instructor"
STUDENTS = ("alice", "bob", "carol")
COURSE_ID = "dlcourse"
COURSE_PARTS = ("solutions", "notebooks", "autograde")  # what the instructor's copy of the course holds

#: The uid of the classroom's n-th student server (the kernels' sandbox draws from 1_900_000_000 on).
STUDENT_UID_BASE = 1_800_000_000
# The first command in a student's jail: become the student's uid for good (setresuid from 0 to a non-zero uid
# clears every capability), go home (the uid's, mode 0700: bwrap, without capabilities, could not enter it), then
# run the server's command.
def _become(uid: int) -> str:
    from .sandbox import DROP_TO_UID

    return DROP_TO_UID.format(uid=uid) + "os.chdir(os.environ['HOME']); os.execv(sys.argv[1], sys.argv[1:])"

# nbgrader's JupyterLab plugins a student must not have (nbgrader's docs: disable them for students).
STUDENT_DISABLED_LAB = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def repo_classroom_folder() -> Path:
    """The repository's classroom/ folder: jupyterhub_config.py, and node_modules/ from its package.json."""
    return Path(__file__).resolve().parents[2] / "classroom"


def proxy_command() -> str:
    """configurable-http-proxy, installed by `make classroom` (npm ci in classroom/), else one on PATH."""
    local = repo_classroom_folder() / "node_modules" / ".bin" / "configurable-http-proxy"
    found = str(local) if local.is_file() else shutil.which("configurable-http-proxy")
    if not found:
        raise FileNotFoundError("configurable-http-proxy is not installed: run `make classroom` (npm ci in classroom/)")
    return found


@dataclass
class Classroom:
    """A classroom folder's settings (classroom.json)."""

    dir: str
    port: int
    hub_port: int
    proxy_api_port: int
    password: str
    instructor: str = INSTRUCTOR
    students: list = field(default_factory=lambda: list(STUDENTS))
    bin: str = str(Path(sys.executable).parent)
    proxy: str = ""
    isolated: bool = False  # each student's server jailed (server_jail): the hub runs as root, with bwrap

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def exchange(self) -> Path:
        return Path(self.dir) / "exchange"

    def home(self, user: str) -> Path:
        return Path(self.dir) / "homes" / user

    @property
    def course(self) -> Path:
        """The instructor's course folder (nbgrader's CourseDirectory.root)."""
        return self.home(self.instructor) / COURSE_ID

    @property
    def given(self) -> Path:
        """The ``dlcourse.given`` modules a student's server sees in place of the package's (``sync_given``)."""
        return Path(self.dir) / "given"

    @property
    def log(self) -> Path:
        return Path(self.dir) / "jupyterhub.log"

    def user_env(self, user: str) -> dict:
        """The environment of ``user``'s commands, as in their hub session: their home, their configuration,
        this venv first on PATH. (How the test runs the instructor's nbgrader commands.)"""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "DLCOURSE_"))}
        env.update(HOME=str(self.home(user)), USER=user, JUPYTERHUB_USER=user,
                   PATH=self.bin + os.pathsep + env.get("PATH", ""))
        return env

    def uid(self, user: str) -> int:
        """The uid ``user``'s server runs as, when the classroom is isolated."""
        return STUDENT_UID_BASE + self.students.index(user)

    def own_homes(self) -> None:
        """Each student's home (all in it) to their uid; every home, the instructor's with the course included, mode
        0700. Only for an isolated classroom. (Call again after writing into a home as root.)"""
        if not self.isolated:
            return
        for user in self.students:
            for path in [self.home(user), *self.home(user).rglob("*")]:
                os.chown(path, self.uid(user), self.uid(user), follow_symlinks=False)
        for user in (*self.students, self.instructor):
            self.home(user).chmod(0o700)

    @classmethod
    def load(cls, folder: Path) -> "Classroom":
        return cls(**json.loads((Path(folder) / "classroom.json").read_text()))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _instructor_config(room: Classroom) -> str:
    return f'''# The instructor's nbgrader configuration (written by dlcourse classroom).
# The course's own configuration, loaded from the course folder so that its root is that folder,
# then the exchange this hub uses.
c = get_config()  # noqa: F821
load_subconfig({str(room.course / "autograde" / "nbgrader_config.py")!r})  # noqa: F821
c.CourseDirectory.root = {str(room.course)!r}
c.Exchange.root = {str(room.exchange)!r}
'''


def _student_config(room: Classroom, user: str) -> str:
    return f'''# {user}'s nbgrader configuration (written by dlcourse classroom).
c = get_config()  # noqa: F821
c.Exchange.root = {str(room.exchange)!r}
c.CourseDirectory.course_id = {COURSE_ID!r}
# All accounts of this demo hub are one Unix user, and nbgrader takes the Unix name as the student id
# unless told (nbgrader #667; CourseDirectory.student_id since nbgrader #1098). A hub whose students are
# system users or containers needs no such line.
c.CourseDirectory.student_id = {user!r}
'''


def setup(folder: Path = DEFAULT_DIR, *, course: Path | None = None, port: int | None = None,
          students=STUDENTS, instructor: str = INSTRUCTOR, password: str | None = None) -> Classroom:
    """Lay out (or refresh) a classroom folder; returns its settings. An existing instructor course copy
    (with its gradebook and collected submissions) and existing homes are kept."""
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    old = Classroom.load(folder) if (folder / "classroom.json").is_file() else None
    room = Classroom(dir=str(folder), port=port or (old.port if old else 8000), hub_port=free_port(),
                     proxy_api_port=free_port(), password=password or (old.password if old else secrets.token_urlsafe(9)),
                     instructor=instructor, students=list(students), proxy=proxy_command(),
                     isolated=os.geteuid() == 0 and shutil.which("bwrap") is not None)
    folder.chmod(0o711)  # its settings (the password), the hub's database and log are for the hub alone
    room.exchange.mkdir(exist_ok=True)
    room.exchange.chmod(0o777)  # nbgrader's docs: everyone may read and write the exchange root
    source = Path(course).resolve() if course else notebooks.course_root()
    if not room.course.is_dir():
        room.course.mkdir(parents=True)
        for part in COURSE_PARTS:
            shutil.copytree(source / part, room.course / part, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    _write(room.home(instructor) / ".jupyter" / "nbgrader_config.py", _instructor_config(room))
    for user in students:
        jupyter = room.home(user) / ".jupyter"
        _write(jupyter / "nbgrader_config.py", _student_config(room, user))
        _write(jupyter / "labconfig" / "page_config.json",
               json.dumps({"disabledExtensions": {name: True for name in STUDENT_DISABLED_LAB}}, indent=1))
        _write(jupyter / "jupyter_server_config.json", json.dumps(
            {"ServerApp": {"jpserver_extensions": {"nbgrader.server_extensions.formgrader": False}}}, indent=1))
    _write(folder / "classroom.json", json.dumps(asdict(room), indent=1))
    (folder / "classroom.json").chmod(0o600)
    room.own_homes()
    return room


def released_chapters(room: Classroom) -> list[str]:
    """The chapters the instructor has released, in course order: ``exchange/<course>/outbound/<chapter>/``. Each
    folder on that path must be a real folder (no link) of the hub's Unix user, which the instructor's server runs
    as: the exchange's root is writable by every student, so a folder a student made there counts for nothing."""
    known = set(notebooks.chapter_ids(room.course))
    me = os.getuid()

    def ours(path: Path) -> bool:
        try:
            st = os.lstat(path)
        except OSError:
            return False
        return stat.S_ISDIR(st.st_mode) and st.st_uid == me

    outbound = room.exchange / COURSE_ID / "outbound"
    if not (ours(outbound.parent) and ours(outbound)):
        return []
    return sorted(p.name for p in outbound.iterdir() if p.name in known and ours(p))


def sync_given(room: Classroom) -> list[str]:
    """Make ``room.given`` hold the ``dlcourse.given`` modules of the chapters before the latest released one, and
    no other; returns their chapters. A chapter's module is its solutions (``dlcourse.given``'s doc): a student must
    not read it while the chapter is open, and a later chapter imports it (ch05 takes ch04's attention). So a
    chapter's module appears once a later chapter is released; the course releases a chapter after the one before
    it closes (docs/instructors). The students' servers see this folder, live, in place of the package's given/
    (``server_jail``)."""
    from .sandbox import GIVEN_DIR

    latest = max(released_chapters(room), default="")
    wanted = {m.name: m for m in GIVEN_DIR.glob("*.py") if m.stem == "__init__" or m.stem < latest}
    room.given.mkdir(mode=0o755, exist_ok=True)
    for old in room.given.iterdir():
        if old.name not in wanted:
            shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
    for name, module in wanted.items():
        data, dest = module.read_bytes(), room.given / name
        if not dest.is_file() or dest.is_symlink() or dest.read_bytes() != data:
            tmp = room.given / f".{name}.tmp"
            tmp.write_bytes(data)
            tmp.chmod(0o644)
            os.replace(tmp, dest)  # a server importing it meanwhile reads the old file or the new, never half of one
    return sorted(Path(n).stem for n in wanted if n != "__init__.py")


def watch_given(folder: Path, every: float = 2.0) -> None:
    """``sync_given`` every ``every`` seconds, for ever: the hub's managed service ``dlcourse-given``
    (classroom/jupyterhub_config.py), which JupyterHub starts, restarts should it exit, and stops with the hub."""
    room = Classroom.load(folder)
    while True:
        try:
            sync_given(room)
        except OSError as err:  # a folder being released: the next round sees it whole
            print(f"dlcourse-given: {err}", file=sys.stderr, flush=True)
        time.sleep(every)


def server_jail(room: Classroom, user: str) -> list[str]:
    """The command prefix that runs a student's server jailed (module doc): bwrap, as root, with the system, the
    course's Python, the student's home and the exchange bound and nothing else, then become the student's
    uid (``_become``). The network is the host's (the server listens on loopback for the proxy and calls the hub's API)."""
    from .sandbox import GIVEN_DIR, SYSTEM_DIRS, bind_argv, python_dirs

    home = str(room.home(user))
    sync_given(room)
    return ["bwrap", "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--new-session",
            "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm",
            "--perms", "1777", "--tmpfs", "/tmp",
            *bind_argv([*SYSTEM_DIRS, *python_dirs()], [home, str(room.exchange)]),
            "--ro-bind", str(room.given), str(GIVEN_DIR),  # only closed chapters' solutions (sync_given)
            "--remount-ro", "/", "--setenv", "HOME", home, "--setenv", "USER", user,
            "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
            sys.executable, "-c", _become(room.uid(user))]


# ---------------------------------------------------------------------------- running the hub


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not running
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _spawned_pids(room: Classroom) -> list[int]:
    """The pids JupyterHub recorded: its proxy (proxy.pid) and each user's server (LocalProcessSpawner's
    state in the hub's database)."""
    pids = []
    pid_file = Path(room.dir) / "proxy.pid"
    if pid_file.is_file() and pid_file.read_text().strip().isdigit():
        pids.append(int(pid_file.read_text()))
    db = Path(room.dir) / "jupyterhub.sqlite"
    if db.is_file():
        with sqlite3.connect(db) as con:
            for (state,) in con.execute("SELECT state FROM spawners WHERE state IS NOT NULL"):
                pid = json.loads(state or "{}").get("pid")
                if pid:
                    pids.append(int(pid))
    return pids


class Hub:
    """A running JupyterHub for a classroom folder: ``start``, ``wait_ready``, ``stop``."""

    def __init__(self, room: Classroom):
        self.room, self.proc, self.seen = room, None, set()

    def start(self, log: Path | None = None) -> "Hub":
        config = repo_classroom_folder() / "jupyterhub_config.py"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DLCOURSE_")}
        env.update(DLCOURSE_CLASSROOM=self.room.dir, PATH=self.room.bin + os.pathsep + env.get("PATH", ""))
        out = open(log, "a") if log else None  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([str(Path(self.room.bin) / "jupyterhub"), "-f", str(config)], cwd=self.room.dir,
                                     env=env, stdout=out, stderr=subprocess.STDOUT if out else None, start_new_session=True)
        self._out = out
        return self

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited with {self.proc.returncode}; see {self.room.log}")
            try:
                with urllib.request.urlopen(f"{self.room.url}/hub/api/", timeout=5) as r:  # noqa: S310 - loopback
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"JupyterHub did not answer at {self.room.url} within {timeout:.0f} s; see {self.room.log}")
            time.sleep(0.5)

    def remember_spawned(self) -> None:
        """Note the proxy's and the servers' pids (call while the hub runs: it forgets them as they stop)."""
        self.seen.update(_spawned_pids(self.room))

    def stop(self, timeout: float = 60) -> list[int]:
        """Stop the hub (SIGTERM: it stops the users' servers and its proxy), then anything it left.
        Returns the pids that had to be killed after the hub's own cleanup."""
        self.remember_spawned()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        left = [pid for pid in sorted(self.seen) if is_running(pid)]
        for pid in left:
            for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    target()
                    break
                except (ProcessLookupError, PermissionError):
                    continue
        if getattr(self, "_out", None):
            self._out.close()
        return left


# ---------------------------------------------------------------------------- dlcourse classroom


def _stop_on_signals() -> None:
    """Ctrl-C and ``kill -TERM`` both stop the hub and all it started (``main``'s finally), also when started in
    the background: a shell starts a background job with SIGINT ignored, and Python's SIGTERM default ends the
    process without running ``finally``, leaving the hub, the proxy and the user servers behind."""
    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def instructor_commands(room: Classroom) -> str:
    """The instructor's cycle as commands that work in a plain shell: the venv's programs by their path, with
    the instructor's HOME (their nbgrader configuration names the exchange and the course)."""
    home = f"HOME={room.home(room.instructor)}"
    nbgrader, dlcourse = Path(room.bin) / "nbgrader", Path(room.bin) / "dlcourse"
    return "\n".join([f"  cd {room.course}",
                      f"  {home} {nbgrader} release_assignment ch00_start",
                      f"  {home} {nbgrader} collect ch00_start",
                      f"  {home} {dlcourse} grade submitted --out graded",
                      f"  {home} {nbgrader} release_feedback ch00_start"])


def add_arguments(p) -> None:
    p.add_argument("--dir", default=str(DEFAULT_DIR), help=f"the classroom folder (default {DEFAULT_DIR})")
    p.add_argument("--port", type=int, default=8000, help="the hub's port on 127.0.0.1 (default 8000)")
    p.add_argument("--students", default=",".join(STUDENTS), help="student accounts, comma-separated")
    p.add_argument("--course", help="the course folder to copy for the instructor (default: this course)")


def main(args) -> int:
    students = [s.strip() for s in args.students.split(",") if s.strip()]
    try:
        room = setup(Path(args.dir), course=args.course, port=args.port, students=students)
    except FileNotFoundError as err:
        print(f"dlcourse classroom: {err}", file=sys.stderr)
        return 2
    _stop_on_signals()
    hub = Hub(room).start()
    try:
        hub.wait_ready()
        print(f"\nJupyterHub classroom at {room.url}  (folder {room.dir})\n"
              f"  instructor: {room.instructor}\n  students:   {', '.join(room.students)}\n"
              f"  password (every account): {room.password}\n"
              f"  the instructor's course: {room.course}\n  nbgrader exchange: {room.exchange}\n"
              f"The instructor's commands, as they are (in any shell):\n{instructor_commands(room)}\n"
              + ("Each student's server is jailed: a uid of its own, their home and the exchange only.\n"
                 if room.isolated else
                 "NOT isolated (the hub is not root, or bwrap is missing): every server runs as your Unix user, "
                 "so a student's kernel can read other homes and the instructor's course. A demo only.\n")
              + "Ctrl-C stops the hub and everything it started.", flush=True)
        while hub.proc.poll() is None:
            hub.remember_spawned()
            time.sleep(2)
        return hub.proc.returncode or 0
    except KeyboardInterrupt:
        print("\nstopping the hub...", flush=True)
        return 0
    except (RuntimeError, TimeoutError) as err:
        print(f"dlcourse classroom: {err}", file=sys.stderr)
        return 1
    finally:
        left = hub.stop()
        print(f"stopped; {len(left)} process(es) the hub left behind were killed" if left else "stopped; nothing left running")


if __name__ == "__main__":  # python -m dlcourse.classroom watch-given FOLDER: the hub's managed service
    if sys.argv[1:2] != ["watch-given"] or len(sys.argv) != 3:
        sys.exit("usage: python -m dlcourse.classroom watch-given CLASSROOM_FOLDER")
    try:
        watch_given(Path(sys.argv[2]))
    except KeyboardInterrupt:  # the hub stopping its services (SIGINT): a clean end, not a traceback in its log
        sys.exit(0)
