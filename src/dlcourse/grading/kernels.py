"""The kernels of a grading process: one submission's student kernels (sandboxed) and grader kernel (trusted).

``Kernel`` is one kernel in a folder of its own with an nbclient client; ``KernelPool`` hands out fresh
student kernels by role (``visible``, ``hidden``) and, in a batch, starts the next submission's while this one
is graded; in a batch or a warm service it keeps one grader kernel, reset between submissions
(``give_back``); ``pool`` is the process's pool for given settings. ``write_kernelspecs`` makes the two
kernelspecs: the student's (``dlcourse.sandbox``'s launcher) and the grader's. What runs in them is
``execute.TwoKernelExecute``'s business.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import multiprocessing.util
import os
import shutil
import sys
import tempfile
import threading
import uuid
from pathlib import Path

import nbformat

from dlcourse.sandbox import HIDE_GIVEN_ENV, LIFELINE_ENV

GRADER_KERNEL = "dlcourse-grader"
TIMEOUT_ERROR = {"ename": "CellTimeoutError", "evalue": "",
                 "traceback": ["CellTimeoutError: No reply from kernel before timeout"]}
#: Run by a grader kernel as it starts, before it is given a submission: the imports every chapter's tests need.
GRADER_WARM_UP = "from dlcourse import reference\nreference.tf()\nreference.keras()\n"
#: Run by a student kernel as it starts, before it is given a submission: what answering calls imports anyway
#: (``student.serve``, NumPy), and the kernel's first cell, so that they are not paid while a check waits. It binds
#: no name: an answer that uses ``numpy`` without importing it fails here as in the learner's own kernel.
STUDENT_WARM_UP = "__import__('numpy')\n__import__('dlcourse.student.serve')\n"  # no name bound
#: Submissions one grader kernel serves in a batch before a fresh one takes its place: whatever a reset
#: cannot see (memory that Python does not give back, a library's cache) stays bounded.
GRADER_USES = 50


class Kernel:
    """One kernel, in a folder of its own (working folder, sockets, connection file), and an nbclient client
    for it: start, run code as a cell, restart, stop."""

    def __init__(self, kernel_name: str, folder: Path, spec_dirs: list[str], env: dict, timeout: int):
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import AsyncKernelManager
        from nbclient import NotebookClient
        from traitlets.config import Config

        # The kernel's lifeline (``sandbox.LIFELINE``): it holds the read end; the write end is this process's alone.
        self.lifeline = os.pipe()
        self.folder, self.env = folder, {**env, LIFELINE_ENV: str(self.lifeline[0])}
        (folder / "work").mkdir(parents=True)
        (folder / "sockets").mkdir()
        config = Config()
        config.KernelManager.transport = "ipc"  # the sandbox has no network, not even loopback
        config.KernelManager.ip = str(folder / "sockets" / "k")  # sockets k-<port>, absolute, in this folder only
        km = AsyncKernelManager(kernel_name=kernel_name, config=config,
                                kernel_spec_manager=KernelSpecManager(kernel_dirs=spec_dirs))
        km.connection_file = str(folder / "sockets" / "connection.json")
        self.client = NotebookClient(nbformat.v4.new_notebook(), km=km, timeout=timeout,
                                     interrupt_on_timeout=True, error_on_timeout=TIMEOUT_ERROR, allow_errors=True,
                                     iopub_timeout=timeout, raise_on_iopub_timeout=False, record_timing=False,
                                     on_cell_executed=self._record_reply)
        self.restarts, self.stopped = 0, False
        self.uses, self.timed_out = 0, False  # submissions served (a grader); a cell ran out of time, was interrupted
        self.left_out: set[str] = set()  # answer cells that broke this kernel: not run again in it

    @staticmethod
    def _record_reply(cell, execute_reply, **_):
        """As nbgrader's Execute: an error reply with no error output (a timeout) becomes one."""
        content = (execute_reply or {}).get("content", {})
        if content.get("status") == "error" and not any(
                o.output_type == "error" and o.ename == content.get("ename") for o in cell.outputs):
            cell.outputs.append(nbformat.v4.new_output("error", ename=content.get("ename", "Error"),
                                                       evalue=content.get("evalue", ""),
                                                       traceback=content.get("traceback") or []))

    async def start(self) -> "Kernel":
        await self.client.km.start_kernel(extra_arguments=["--HistoryManager.hist_file=:memory:"],
                                          cwd=str(self.folder / "work"), env=self.env, pass_fds=self.lifeline[:1])
        await self.client.async_start_new_kernel_client()
        return self

    @property
    def connection_file(self) -> str:
        return self.client.km.connection_file

    @property
    def pid(self) -> int | None:
        process = getattr(getattr(self.client.km, "provisioner", None), "process", None)
        return getattr(process, "pid", None)

    async def run(self, source: str):
        """Run ``source`` as a cell; return the cell (its outputs), or None if the kernel died."""
        from nbclient.exceptions import DeadKernelError

        cell = nbformat.v4.new_code_cell(source)
        self.client.nb.cells = [cell]
        try:
            await self.client.async_execute_cell(cell, 0, store_history=False)
        except DeadKernelError:
            return None
        self.timed_out = self.timed_out or any(o.get("ename") == TIMEOUT_ERROR["ename"] for o in cell.outputs)
        return cell

    async def responsive(self, seconds: float = 5.0) -> bool:
        """Alive and answering: a kernel_info request, which the kernel answers itself (no cell is run, so the
        student's cell hooks and transformers play no part), within ``seconds``."""
        if not await self.client.km.is_alive():
            return False
        msg_id = self.client.kc.kernel_info()
        deadline = asyncio.get_running_loop().time() + seconds
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                reply = await self.client.kc.get_shell_msg(timeout=left)
            except Exception:  # queue.Empty: no answer in time
                return False
            if reply["parent_header"].get("msg_id") == msg_id:
                return True
        return False

    async def restart(self) -> None:
        self.restarts += 1
        self.client.kc.stop_channels()
        await self.client.km.restart_kernel(now=True)
        await self.client.async_start_new_kernel_client()

    async def stop(self) -> None:
        """Stop the kernel and remove its folder (once: a second call does nothing)."""
        if self.stopped:
            return
        self.stopped = True
        try:
            if self.client.kc is not None:
                self.client.kc.stop_channels()
            if await self.client.km.is_alive():
                await self.client.km.shutdown_kernel(now=True)
        except Exception:  # best effort: the folder goes all the same
            pass
        for fd in self.lifeline:
            try:
                os.close(fd)
            except OSError:
                pass
        self.lifeline = ()
        shutil.rmtree(self.folder, ignore_errors=True)


class KernelPool:
    """The kernels of one grading process. A student kernel serves one submission and is then stopped.

    With ``warm=True`` (a batch, or the lab's service), every time a student kernel is taken the next one of its
    role starts at once, so that the next submission's student kernels start while this one is graded. A
    student kernel is fresh when taken (it has run nothing but its start-up). The grader kernel, trusted, is
    handed back after its submission (``give_back``, once ``execute.GRADER_RESET`` has put its namespace, numeric
    rules, warning filters and Keras state back) and serves the next one: its TensorFlow import (4 CPU-seconds)
    is paid once per ``GRADER_USES`` submissions. Grades do not depend on the order of a batch
    (tests/grading/test_batch.py grades one both ways; docs/security.md says why this is safe).

    The pool has an event loop of its own (``run``): a spare kernel's start-up, and its ZeroMQ sockets, belong
    to the loop they began on, and the thread's current loop may change between two submissions (in a Dask
    worker it does).
    """

    def __init__(self, sandbox: bool, memory_gb: float, cpu_seconds: int, timeout: int, warm: bool):
        self.loop, self._thread, self._forever = asyncio.new_event_loop(), None, None
        self.folder = Path(tempfile.mkdtemp(prefix="dlg-kernels-"))
        self.spec_dirs = [str(self.folder / "kernels")]
        self.timeout, self.warm = timeout, warm
        self.spares: dict[str, tuple[str, asyncio.Task]] = {}  # role -> (the chapter it grades, its start-up)
        self.discarded: list[asyncio.Task] = []  # spares of another chapter, being stopped
        write_kernelspecs(self.folder / "kernels", sandbox, memory_gb, cpu_seconds)

    async def _new(self, role: str, chapter: str) -> Kernel:
        env = {**os.environ, "NBGRADER_EXECUTION": "autograde"}
        env.pop(HIDE_GIVEN_ENV, None)
        if role != "grader":  # the student's kernels see no solutions of this chapter or later (none named: none)
            env[HIDE_GIVEN_ENV] = chapter
        # A test cell may call the student's functions several times, each within the timeout.
        timeout = 3 * self.timeout if role == "grader" else self.timeout
        kernel = Kernel(GRADER_KERNEL if role == "grader" else "python3", self.folder / uuid.uuid4().hex,
                        self.spec_dirs, env, timeout)
        await kernel.start()
        await kernel.run(GRADER_WARM_UP if role == "grader" else STUDENT_WARM_UP)
        return kernel

    async def take(self, role: str, chapter: str = "") -> Kernel:
        """A fresh kernel of ``role``; a student's kernel (visible, hidden) for grading ``chapter``, which cannot
        import or read the ``dlcourse.given`` modules of that chapter or a later one (``sandbox.hidden_given``;
        with no chapter, of any)."""
        chapter = "" if role == "grader" else chapter
        task = self._spare(role, chapter) or asyncio.ensure_future(self._new(role, chapter))
        # A service (keep_running) starts its spares after a check instead; a grader is handed back (give_back).
        if self.warm and self._forever is None and role != "grader":
            self.spares[role] = (chapter, asyncio.ensure_future(self._new(role, chapter)))
        kernel = await task
        kernel.uses += 1
        return kernel

    async def give_back(self, grader: Kernel, reset: bool) -> None:
        """A grader kernel whose submission is graded: kept for the next one if the pool is warm, ``reset`` says
        that its reset ran cleanly, no cell of it ran out of time, it still answers, and it has served fewer than
        ``GRADER_USES`` submissions. Otherwise it is stopped, and a warm batch starts the next grader now."""
        if (self.warm and reset and not grader.timed_out and grader.uses < GRADER_USES
                and not grader.stopped and await grader.responsive()):
            self.spares["grader"] = ("", _done(grader))
            return
        await grader.stop()
        if self.warm and self._forever is None and "grader" not in self.spares:
            self.spares["grader"] = ("", asyncio.ensure_future(self._new("grader", "")))

    def _spare(self, role: str, chapter: str) -> asyncio.Task | None:
        """The spare kernel of ``role`` started for ``chapter``, taken out of the pool; a spare started for another
        chapter is stopped (it would see this chapter's solutions)."""
        if role not in self.spares:
            return None
        spare_chapter, spare = self.spares.pop(role)
        if spare_chapter == chapter:
            return spare
        self.discarded = [t for t in self.discarded if not t.done()]
        self.discarded.append(asyncio.ensure_future(self._discard(spare)))
        return None

    async def prestart(self, roles, chapter: str) -> None:
        """Start a spare kernel of each of ``roles`` for grading ``chapter``, where none is started yet (a warm
        service, before its first check of a chapter). Returns at once."""
        for role in roles:
            chapter_of_role = "" if role == "grader" else chapter
            spare = self._spare(role, chapter_of_role)
            self.spares[role] = (chapter_of_role, spare or asyncio.ensure_future(self._new(role, chapter_of_role)))

    @staticmethod
    async def _discard(task: asyncio.Task) -> None:
        try:
            await (await task).stop()
        except Exception:
            pass

    def keep_running(self) -> None:
        """From now on the pool's loop runs all the time, on a thread of its own (a service: its spare kernels
        start, and the grader's imports TensorFlow, between two checks). Taking a kernel then starts no spare:
        the service calls ``prestart`` once a check is done, so that the next check's start-ups (the grader's
        TensorFlow import is 4 CPU-seconds) do not slow this one down. Kernels die with the loop's thread
        (``sandbox._die_with_parent``), which lives as long as the process."""
        if self._forever is None:
            self._forever = threading.Thread(target=self.loop.run_forever, name="dlcourse-kernels", daemon=True)
            self._forever.start()

    def run(self, coro):
        """Run ``coro`` to its end on the pool's loop; when this thread runs a loop already (grading called
        from inside a Jupyter kernel), on a thread the pool keeps as long as it lives: the kernels die with
        the thread that started them (``sandbox._die_with_parent``)."""
        if self._forever is not None:
            return asyncio.run_coroutine_threadsafe(coro, self.loop).result()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if self._thread is None:
                return self.loop.run_until_complete(coro)
        if self._thread is None:
            from concurrent.futures import ThreadPoolExecutor

            self._thread = ThreadPoolExecutor(1, thread_name_prefix="dlcourse-kernels")
        return self._thread.submit(self.loop.run_until_complete, coro).result()

    async def close(self) -> None:
        for _, task in self.spares.values():
            await self._discard(task)
        self.spares.clear()
        await asyncio.gather(*self.discarded, return_exceptions=True)
        self.discarded.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


def _done(kernel: Kernel) -> asyncio.Future:
    """``kernel`` as a spare (``KernelPool.spares`` holds start-ups): one already done."""
    future = asyncio.get_running_loop().create_future()
    future.set_result(kernel)
    return future


_POOLS: dict[tuple, KernelPool] = {}
_POOLS_CLOSED_AT_EXIT: list = []  # not empty once close_pools is registered to run at exit


def pool(sandbox: bool, memory_gb: float, cpu_seconds: int, timeout: int, warm: bool) -> KernelPool:
    """This thread's pool for these settings (made on first use, closed when the process exits). Per thread:
    a pool's loop grades one submission at a time."""
    key = (sandbox, memory_gb, cpu_seconds, timeout, warm, threading.get_ident())
    if key not in _POOLS:
        close_pools(lambda other: other[-1] == key[-1])  # other settings than before: their spares go
        if not _POOLS_CLOSED_AT_EXIT:
            atexit.register(close_pools)
            multiprocessing.util.Finalize(None, close_pools, exitpriority=10)  # pool workers skip atexit
            _POOLS_CLOSED_AT_EXIT.append(True)
        _POOLS[key] = KernelPool(*key[:5])
    return _POOLS[key]


def close_pools(which=lambda key: True) -> None:
    """Stop the spare kernels of this process's pools (those whose key ``which`` accepts), each on its own loop."""
    for key in [k for k in _POOLS if which(k)]:
        p = _POOLS.pop(key)
        try:
            p.run(p.close())
            if p._forever is not None:
                p.loop.call_soon_threadsafe(p.loop.stop)
                p._forever.join(5)
            p.loop.close()
        except RuntimeError:  # its loop is running (grading, on another thread): its kernels die with the process
            pass
        if p._thread is not None:
            p._thread.shutdown(wait=False)


def write_kernelspecs(folder: Path, sandbox: bool, memory_gb: float, cpu_seconds: int) -> None:
    """Kernelspecs in ``folder``: ``python3`` for the student's kernels (sandboxed unless ``sandbox`` is False,
    refusing TensorFlow either way) and ``GRADER_KERNEL``, a plain kernel for the instructor's tests."""
    if sandbox:
        student = [sys.executable, "-m", "dlcourse.sandbox", "{connection_file}", str(int(memory_gb * 2**30)),
                   str(cpu_seconds)]
    else:
        student = [sys.executable, "-m", "dlcourse.sandbox", "--unsandboxed", "-f", "{connection_file}"]
    grader = [sys.executable, "-m", "dlcourse.sandbox", "--plain", "-f", "{connection_file}"]  # dies with us
    for name, argv, title in (("python3", student, "Python 3 (student, grading)"),
                              (GRADER_KERNEL, grader, "Python 3 (grader)")):
        (folder / name).mkdir(parents=True, exist_ok=True)
        spec = {"argv": argv, "display_name": title, "language": "python",
                "interrupt_mode": "message"}  # an interrupt is a message: a signal would hit bwrap, not the kernel
        (folder / name / "kernel.json").write_text(json.dumps(spec))
