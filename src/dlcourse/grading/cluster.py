"""``dlcourse grade --cluster``: the same tasks as the local pool, on a Dask distributed cluster.

The client connects to a scheduler (``tcp://HOST:8786``, or the JSON file ``dask scheduler
--scheduler-file`` writes), checks every worker (the course installed, the same grading code as here,
``bwrap``, one thread), then drives Dask's ``concurrent.futures`` executor (``Client.get_executor``)
from ``batch.run_tasks``, the loop the local pool uses too. A task carries what grading needs, the
chapter's ``ChapterSource`` and the submission's bytes, and brings back the row and the feedback
HTML: a worker needs the package and bubblewrap, not the course folder, and only the client writes
the output folder. Each worker process makes a chapter's nbgrader template once (``task._prepare``).

Nothing is lost: Dask's scheduler runs the tasks of a worker that dies again on another worker, and
after ``distributed.scheduler.allowed-failures`` deaths (3 by default) it gives the task up with
``KilledWorker``, which becomes an ``error`` row saying so. A worker runs one grading at a time
(``--nthreads 1``): grading sets process-wide environment variables (the kernelspec's JUPYTER_PATH).
Use ``--nworkers N`` for N gradings at once on one machine.

Security: a worker runs whatever a client sends it. Keep the scheduler on a private network and use
Dask's TLS (``tls://`` addresses with certificates, docs/instructors.md, "A MOOC").
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import socket
from pathlib import Path

import dlcourse

from ..sandbox import THREAD_VARS, no_bwrap, sandbox_available
from .kernels import close_pools
from .task import cores, grade_task
from .text import error_of

CONNECT_TIMEOUT = 10  # seconds to reach the scheduler
WORKERS_TIMEOUT = 60  # seconds to wait for a first worker

INSTALL_HINT = ("install the course there (`pip install .` in the course folder, or `make install`) and start "
                "`dask worker` from that environment")


class ClusterError(RuntimeError):
    """The cluster cannot grade: what is wrong and what to do, in one line."""


class WorkerUnfit(RuntimeError):
    """Raised by a task on a worker that must not grade (no bwrap, other code): the batch stops."""


@functools.cache
def code_digest() -> str:
    """sha256 of the dlcourse package's Python files, read once per process (about when it imported
    them): the client's and the workers' must be the same, or the same notebook could get another
    grade on another worker."""
    package = Path(dlcourse.__file__).parent
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def worker_facts() -> dict:
    """What the client checks of a worker (run there by ``client.run``)."""
    return {"code": code_digest(), "package": str(Path(dlcourse.__file__).parent), "bwrap": sandbox_available()}


def worker_problems(facts: dict, nthreads: dict, code: str, sandbox: bool) -> list[str]:
    """One line per worker that cannot grade: ``facts`` is worker address -> ``worker_facts()`` or the
    exception it raised there, ``nthreads`` worker address -> threads, ``code`` the client's
    ``code_digest()``."""
    problems = []
    for address, fact in sorted(facts.items()):
        if isinstance(fact, BaseException):
            problems.append(f"worker {address} cannot run dlcourse ({error_of(fact)}): {INSTALL_HINT}")
        elif fact["code"] != code:
            problems.append(f"worker {address} has other grading code than this machine (dlcourse in "
                            f"{fact['package']}): install the same version of the course on every worker and on "
                            "this machine")
        elif sandbox and not fact["bwrap"]:
            problems.append(no_bwrap(f"worker {address}", restart=True, no_sandbox=True))
        elif nthreads.get(address, 1) != 1:
            problems.append(f"worker {address} runs {nthreads[address]} threads, but a worker grades one notebook "
                            "at a time: start workers with `--nthreads 1` (and `--nworkers N` for N at once on one "
                            "machine), or with `dlcourse worker`")
    return problems


def connect(address: str, timeout: float = CONNECT_TIMEOUT):
    """A ``distributed.Client`` of the scheduler at ``address`` (tcp://HOST:PORT, tls://..., or a
    scheduler file); ClusterError when it cannot be reached."""
    from distributed import Client

    is_file = address.endswith(".json") or Path(address).is_file()
    if is_file and not Path(address).is_file():
        raise ClusterError(f"no scheduler file {address}: start the scheduler with "
                           f"`dask scheduler --scheduler-file {address}`, or give its address (tcp://HOST:8786)")
    try:
        if is_file:
            return Client(scheduler_file=address, timeout=timeout, set_as_default=False)
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise ClusterError(f"cannot reach the Dask scheduler at {address} ({error_of(err)}): is `dask scheduler` running "
                           "there, and is its port (8786 by default) open from this machine?") from err


def check_workers(client, address: str, sandbox: bool, timeout: float = WORKERS_TIMEOUT) -> dict:
    """Wait for a first worker, then check every worker (ClusterError: the first problem, in one line).
    Returns the workers' facts."""
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (TimeoutError, OSError) as err:
        raise ClusterError(f"the scheduler at {address} has no workers after {timeout:g} s: start them with "
                           f"`dask worker {address} --nthreads 1` (or `dlcourse worker {address}`) on machines where "
                           "the course is installed") from err
    facts = client.run(worker_facts, on_error="return")
    problems = worker_problems(facts, client.nthreads(), code_digest(), sandbox)
    if problems:
        more = f" (and {len(problems) - 1} more worker(s) with problems)" if len(problems) > 1 else ""
        raise ClusterError(problems[0] + more)
    return facts


@functools.cache
def share_cores_here() -> int:
    """On a worker, once: its kernels get cores // (the Dask workers on its machine) threads, as
    ``--jobs N`` gives N kernels. Set, not kept: Dask's nanny sets OMP_NUM_THREADS, MKL_NUM_THREADS and
    OPENBLAS_NUM_THREADS to 1 in its workers (``distributed.nanny.pre-spawn-environ``), which is right
    for Dask's own threads but would leave a kernel one BLAS thread on a machine of idle cores."""
    from distributed import get_client, get_worker
    from distributed.comm import get_address_host

    host = get_address_host(get_worker().address)
    # client.nthreads() lists every worker; scheduler_info() listed only 5 from distributed#9045 (2025.4)
    # until distributed#9308 (2026.7), and pyproject allows those releases.
    nthreads = get_client().nthreads()
    here = sum(n for address, n in nthreads.items() if get_address_host(address) == host)
    share = max(1, cores() // max(1, here))
    os.environ.update({var: str(share) for var in THREAD_VARS})
    return share


def grade_on_worker(student, source, data, timeout, memory_gb, sandbox, code):
    """``task.grade_task`` on a Dask worker, after the checks a worker that joined late has not had."""
    if sandbox and not sandbox_available():
        raise WorkerUnfit(no_bwrap(f"worker {socket.gethostname()}", restart=True))
    if code != code_digest():
        raise WorkerUnfit(f"worker {socket.gethostname()} has other grading code than the client: install the same "
                          "version of the course on every worker")
    from distributed import get_worker

    if get_worker().state.nthreads != 1:  # a worker that joined after the client checked them all
        raise WorkerUnfit(f"worker {get_worker().address} runs {get_worker().state.nthreads} threads, but a worker "
                          "grades one notebook at a time: start workers with `--nthreads 1`, or with `dlcourse worker`")
    share_cores_here()
    return grade_task(student, source, data, timeout, memory_gb, sandbox)


class ClusterPool:
    """The local pool's interface (``window``, ``submit``, ``failure``, ``close``) on a Dask cluster."""

    def __init__(self, address: str, *, sandbox: bool = True, connect_timeout: float = CONNECT_TIMEOUT,
                 workers_timeout: float = WORKERS_TIMEOUT):
        self.address, self.code = address, code_digest()
        self.client = connect(address, connect_timeout)
        try:
            facts = check_workers(self.client, address, sandbox, workers_timeout)
        except BaseException:
            self.client.close()
            raise
        self.executor = self.client.get_executor(pure=False)  # a concurrent.futures.Executor
        self.note = f"graded on the Dask cluster at {address} ({len(facts)} worker(s) at the start)"

    def window(self) -> int:
        """Tasks in flight: one per worker thread plus a few, so that a worker that finishes has its next
        task at once, and a worker holds at most one waiting task (not the whole class), whose death
        then costs at most one innocent task a retry. Workers that join are used within 2 s."""
        try:
            threads = sum(self.client.nthreads().values())
        except (OSError, TimeoutError) as err:
            raise ClusterError(f"lost the Dask scheduler at {self.address} ({type(err).__name__}): run the same "
                               "command again to grade the rest") from err
        return max(2, threads + math.ceil(threads / 8))

    def submit(self, *args):
        return self.executor.submit(grade_on_worker, *args, self.code)

    def failure(self, err: BaseException) -> str:
        """The ``detail`` of an error row for a task that raised ``err``; raises when the batch must stop."""
        from distributed import KilledWorker

        if isinstance(err, WorkerUnfit):
            raise ClusterError(str(err)) from err
        if isinstance(err, KilledWorker):
            return (f"the worker grading it died {err.allowed_failures + 1} times (a crash or a memory hog that "
                    "escaped the sandbox?); Dask gave it up")
        from concurrent.futures import CancelledError

        if isinstance(err, CancelledError):
            raise ClusterError(f"lost the Dask scheduler at {self.address} (tasks cancelled): run the same command "
                               "again to grade the rest") from err
        return f"grading failed on the cluster: {error_of(err)}"

    def lost(self, future, err: BaseException) -> bool:
        """Never: Dask's scheduler grades again the tasks of a worker that died (``KilledWorker`` after that)."""
        return False

    def close(self, cancel: bool = False) -> None:
        """Stop the tasks (``cancel``) or wait for them, stop the workers' spare kernels, and disconnect."""
        try:
            self.executor.shutdown(wait=not cancel)
            self.client.run(close_pools, on_error="ignore")  # each worker's kernels started for a next submission
        finally:
            self.client.close()
