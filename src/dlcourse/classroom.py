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
server (/user/<name>/ is routed to that user's server, which checks that user's cookie). What this does
NOT isolate: every server runs as the same Unix user, so a student's kernel can read any file of the
machine that user can, other homes and the instructor's course included. A real class runs each student
as their own system user (LocalProcessSpawner, The Littlest JupyterHub) or in a container
(DockerSpawner, KubeSpawner), with the exchange mounted into each.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
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
    def log(self) -> Path:
        return Path(self.dir) / "jupyterhub.log"

    def user_env(self, user: str) -> dict:
        """The environment of ``user``'s commands, as in their hub session: their home, their configuration,
        this venv first on PATH. (How the test runs the instructor's nbgrader commands.)"""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "DLCOURSE_"))}
        env.update(HOME=str(self.home(user)), USER=user, JUPYTERHUB_USER=user,
                   PATH=self.bin + os.pathsep + env.get("PATH", ""))
        return env

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
                     instructor=instructor, students=list(students), proxy=proxy_command())
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
    return room


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
    hub = Hub(room).start()
    try:
        hub.wait_ready()
        print(f"\nJupyterHub classroom at {room.url}  (folder {room.dir})\n"
              f"  instructor: {room.instructor}\n  students:   {', '.join(room.students)}\n"
              f"  password (every account): {room.password}\n"
              f"  the instructor's course: {room.course}\n  nbgrader exchange: {room.exchange}\n"
              f"The instructor's commands, in a terminal of their hub session (or here, with HOME={room.home(room.instructor)}):\n"
              f"  cd {room.course} && nbgrader release_assignment ch00_start\n"
              f"  nbgrader collect ch00_start && dlcourse grade submitted --out graded && nbgrader release_feedback ch00_start\n"
              "Ctrl-C stops the hub and everything it started.", flush=True)
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
