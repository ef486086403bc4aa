"""The kernels of one submission: the student's code in sandboxed kernels, the tests in a trusted one.

``TwoKernelExecute`` takes the place of nbgrader's ``Execute`` in the autograde pipeline (the rest of
nbgrader's pipeline is unchanged: gradebook, checksums, ``OverwriteCells``, points, feedback). It runs:

- in two **student kernels** (sandboxed, TensorFlow and Keras hidden; see ``dlcourse.sandbox``): the
  chapter's setup cells and the submission's answer cells, so that the graded functions are defined. One
  kernel serves the calls of the visible tests, the other those of the hidden tests; neither runs anything
  else of the submission;
- in the **grader kernel** (trusted): the setup cells, the locked instructor cells (``given_*`` helpers) and
  the test cells, all taken from the instructor's source notebook, never from the submission. There each
  graded function name is a proxy (``grading.proxy``) that calls the student's function and gets plain
  data back.

A test cell is run in two parts: the visible part, then (if it passed) the hidden part, after nbgrader's
hidden-tests delimiter, with calls going to the hidden kernel. The cell's metadata ``dlcourse`` says which
outputs the hidden part made, so that the feedback leaves them out and shows a hidden error by its type only.

Cells that are neither setup, answer, given nor test cells are not run (training runs, plots, widgets).
Outputs: an answer cell gets what it printed in the visible kernel; a test cell what the grader's kernel
printed, with what the student's function printed during visible calls.
"""

from __future__ import annotations

import ast
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
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Float, Integer, Unicode

from .. import notebooks

GRADER_KERNEL = "dlcourse-grader"
TIMEOUT_ERROR = {"ename": "CellTimeoutError", "evalue": "",
                 "traceback": ["CellTimeoutError: No reply from kernel before timeout"]}
#: Run by a grader kernel as it starts, before it is given a submission: the imports every chapter's tests need.
GRADER_WARM_UP = "from dlcourse import reference\nreference.tf()\nreference.keras()\n"
MAX_RESTARTS = 3  # per student kernel and submission: a kernel killed by the student's code is started again
BUDGET_CELLS = 10  # a submission's tests may take as long as this many cells at their time limit, no longer
OUT_OF_TIME = f"not run: the notebook's tests had used {BUDGET_CELLS} times the time limit of a cell"
KERNEL_BROKE = "this cell killed the kernel or left it unable to answer; the other answers ran without it"


class GraderError(RuntimeError):
    """The instructor's side failed (a given cell raised): the submission gets status error, not a grade."""


@dataclass
class Plan:
    """What runs where, read from the instructor's source notebook, in notebook order."""

    setup: list[str] = field(default_factory=list)  # setup cells' code (both kernels)
    answers: list[str] = field(default_factory=list)  # answer cells' grade_ids (the student's code)
    grader: list[tuple[str, str, str]] = field(default_factory=list)  # ("given" | "test", grade_id, code)
    names: dict[str, list[str]] = field(default_factory=dict)  # graded name -> parameter names
    defined_by: dict[str, str] = field(default_factory=dict)  # graded name -> answer grade_id

    @classmethod
    def from_source(cls, nb) -> "Plan":
        plan = cls()
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            meta = cell.metadata.get("nbgrader", {})
            if notebooks.SETUP_TAG in cell.metadata.get("tags", []):
                plan.setup.append(cell.source)
            elif notebooks.is_answer_cell(cell):
                plan.answers.append(meta["grade_id"])
                for node in ast.parse(cell.source).body:
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        plan.names[node.name] = [a.arg for a in node.args.posonlyargs + node.args.args]
                        plan.defined_by[node.name] = meta["grade_id"]
            elif notebooks.is_test_cell(cell):
                plan.grader.append(("test", meta["grade_id"], cell.source))
            elif meta.get("locked") and meta.get("grade_id"):
                plan.grader.append(("given", meta["grade_id"], cell.source))
        return plan


def split_hidden(source: str, delimiter: str) -> tuple[str, str]:
    """(visible part, hidden part) of a test cell: the hidden part starts at the delimiter's line."""
    lines = source.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if delimiter in line:
            return "".join(lines[:i]), "".join(lines[i:])
    return source, ""


class Kernel:
    """One kernel, in a folder of its own (working folder, sockets, connection file), and an nbclient client
    for it: start, run code as a cell, restart, stop."""

    def __init__(self, kernel_name: str, folder: Path, spec_dirs: list[str], env: dict, timeout: int):
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import AsyncKernelManager
        from nbclient import NotebookClient
        from traitlets.config import Config

        self.folder, self.env = folder, env
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
        self.restarts = 0
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
                                          cwd=str(self.folder / "work"), env=self.env)
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
        try:
            if self.client.kc is not None:
                self.client.kc.stop_channels()
            if await self.client.km.is_alive():
                await self.client.km.shutdown_kernel(now=True)
        except Exception:  # best effort: the folder goes all the same
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


class KernelPool:
    """The kernels of one grading process: each serves one submission and is then stopped.

    With ``warm=True`` (a batch), every time a kernel is taken the next one of its role starts at once, so that
    the next submission's kernels start, and the grader's imports TensorFlow, while this one is graded. A
    kernel is fresh when taken (it has run nothing but its start-up), so grades do not depend on the order
    in which submissions are graded.

    The pool has an event loop of its own (``run``): a spare kernel's start-up, and its ZeroMQ sockets, belong
    to the loop they began on, and the thread's current loop may change between two submissions (in a Dask
    worker it does).
    """

    def __init__(self, sandbox: bool, memory_gb: float, cpu_seconds: int, timeout: int, warm: bool):
        self.loop, self._thread = asyncio.new_event_loop(), None
        self.folder = Path(tempfile.mkdtemp(prefix="dlg-kernels-"))
        self.spec_dirs = [str(self.folder / "kernels")]
        self.timeout, self.warm = timeout, warm
        self.spares: dict[str, asyncio.Task] = {}
        write_kernelspecs(self.folder / "kernels", sandbox, memory_gb, cpu_seconds)

    async def _new(self, role: str) -> Kernel:
        env = {**os.environ, "NBGRADER_EXECUTION": "autograde"}
        # A test cell may call the student's functions several times, each within the timeout.
        timeout = 3 * self.timeout if role == "grader" else self.timeout
        kernel = Kernel(GRADER_KERNEL if role == "grader" else "python3", self.folder / uuid.uuid4().hex,
                        self.spec_dirs, env, timeout)
        await kernel.start()
        if role == "grader":
            await kernel.run(GRADER_WARM_UP)
        return kernel

    async def take(self, role: str) -> Kernel:
        task = self.spares.pop(role, None) or asyncio.ensure_future(self._new(role))
        if self.warm:
            self.spares[role] = asyncio.ensure_future(self._new(role))
        return await task

    def run(self, coro):
        """Run ``coro`` to its end on the pool's loop; when this thread runs a loop already (grading called
        from inside a Jupyter kernel), on a thread the pool keeps as long as it lives: the kernels die with
        the thread that started them (``sandbox._die_with_parent``)."""
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
        for task in self.spares.values():
            try:
                await (await task).stop()
            except Exception:
                pass
        self.spares.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


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
    grader = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    for name, argv, title in (("python3", student, "Python 3 (student, grading)"),
                              (GRADER_KERNEL, grader, "Python 3 (grader)")):
        (folder / name).mkdir(parents=True, exist_ok=True)
        spec = {"argv": argv, "display_name": title, "language": "python",
                "interrupt_mode": "message"}  # an interrupt is a message: a signal would hit bwrap, not the kernel
        (folder / name / "kernel.json").write_text(json.dumps(spec))


def _first_error(cell) -> str:
    for out in cell.outputs if cell is not None else []:
        if out.output_type == "error":
            return f"{out.ename}: {out.evalue}".strip().splitlines()[0][:300] if out.evalue else out.ename
    return "" if cell is not None else "the kernel died"


class TwoKernelExecute(NbGraderPreprocessor):
    """nbgrader's Execute step, done in a trusted grader kernel and sandboxed student kernels (module doc)."""

    source_path = Unicode(help="The instructor's source notebook of this assignment.").tag(config=True)
    timeout = Integer(60, help="Seconds a cell, or one call of a student's function, may take.").tag(config=True)
    sandbox = Bool(True, help="Run the student's kernels in the bwrap sandbox.").tag(config=True)
    memory_gb = Float(4.0, help="Memory limit of a student kernel, GB.").tag(config=True)
    cpu_seconds = Integer(1200, help="CPU-time limit of a student kernel.").tag(config=True)
    warm = Bool(False, help="Start the next submission's kernels while this one is graded.").tag(config=True)
    hidden_delimiter = Unicode("### BEGIN HIDDEN TESTS").tag(config=True)

    def preprocess(self, nb, resources):
        source = nbformat.read(self.source_path, as_version=4)
        kernel_pool = pool(self.sandbox, self.memory_gb, self.cpu_seconds, self.timeout, self.warm)
        kernel_pool.run(self._grade(nb, Plan.from_source(source), Path(self.source_path).parent, kernel_pool))
        return nb, resources

    async def _grade(self, nb, plan: Plan, source_dir: Path, kernel_pool: KernelPool) -> None:
        kernels: dict[str, Kernel] = {}
        try:
            for role in ("visible", "hidden", "grader"):
                kernels[role] = await kernel_pool.take(role)
            await self._grader_run(kernels["grader"], f"import os\nos.chdir({str(source_dir)!r})", "os.chdir")
            answers = {c.metadata.nbgrader["grade_id"]: c for c in nb.cells if notebooks.is_answer_cell(c)}
            errors = await self._define(kernels["visible"], plan, answers, keep_outputs=True)
            await self._define(kernels["hidden"], plan, answers, keep_outputs=False)
            await self._test(nb, plan, kernels, answers, errors)
        finally:
            await asyncio.gather(*(k.stop() for k in kernels.values()))

    async def _define(self, kernel: Kernel, plan: Plan, answers: dict, keep_outputs: bool) -> dict[str, str]:
        """Run the setup cells, then the submission's answer cells, in a student kernel. Returns, for each
        answer cell that failed, grade_id -> its first error line.

        An answer cell that kills the kernel, or leaves it unable to answer (a patched ``isinstance`` breaks
        ipykernel itself), is left out from then on: the kernel is started again without it (at most
        MAX_RESTARTS times), so that the other exercises are still graded. Outputs are attached to the
        notebook's cells (``keep_outputs``) from the first run of each cell only."""
        errors, recorded = {}, set()
        while True:
            broke = await self._define_once(kernel, plan, answers, keep_outputs, errors, recorded)
            if broke is None or kernel.restarts >= MAX_RESTARTS:
                return errors
            kernel.left_out.add(broke)
            await kernel.restart()

    async def _define_once(self, kernel, plan, answers, keep_outputs, errors, recorded) -> str | None:
        """One run of ``_define``; returns the grade_id of the answer cell that broke the kernel, or None."""
        cell = await kernel.run("__import__('dlcourse.grading.serve', fromlist=['register']).register()")
        if cell is None or any(o.output_type == "error" for o in cell.outputs):
            raise GraderError(f"the student kernel cannot take calls: {_first_error(cell)}")
        for code in plan.setup:
            cell = await kernel.run(code)
            if cell is None or any(o.output_type == "error" for o in cell.outputs):
                raise GraderError(f"a setup cell failed in the student kernel: {_first_error(cell)}")
        for gid in plan.answers:
            if gid not in answers:
                errors[gid] = "(the answer cell is missing from the notebook)"
                continue
            if gid in kernel.left_out:
                continue
            cell = await kernel.run(answers[gid].source)
            broke = cell is None or not await kernel.responsive()
            if keep_outputs and gid not in recorded:
                recorded.add(gid)
                answers[gid].outputs = cell.outputs if cell is not None else []
                if broke:
                    answers[gid].outputs.append(nbformat.v4.new_output(
                        "error", ename="DeadKernelError", evalue=KERNEL_BROKE, traceback=[f"DeadKernelError: {KERNEL_BROKE}"]))
            if broke:
                errors[gid] = f"DeadKernelError: {KERNEL_BROKE}"
                return gid
            if any(o.output_type == "error" for o in cell.outputs):
                errors[gid] = _first_error(cell)
        return None

    async def _test(self, nb, plan: Plan, kernels: dict, answers: dict, errors: dict) -> None:
        grader = kernels["grader"]
        tests = {c.metadata.nbgrader["grade_id"]: c for c in nb.cells if notebooks.is_test_cell(c)}
        for code in plan.setup:
            await self._grader_run(grader, code, "a setup cell")
        student = {role: (kernels[role].connection_file, kernels[role].pid) for role in ("visible", "hidden")}
        answer_errors = {name: errors[gid] for name, gid in plan.defined_by.items() if gid in errors}
        await self._grader_run(grader, (
            "from dlcourse.grading import proxy as _dlcourse_proxy\n"
            f"_dlcourse_proxy.install(globals(), {plan.names!r}, {student!r}, {self.timeout!r})\n"
            f"__dlcourse__.answer_errors.update({answer_errors!r})\n"
            "del _dlcourse_proxy\n"), "installing the proxies")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BUDGET_CELLS * self.timeout
        for kind, gid, code in plan.grader:
            if kind == "given":
                await self._grader_run(grader, code, f"the given cell {gid}")
                continue
            if loop.time() > deadline and gid in tests:  # every cell within its limit, and still far too long
                tests[gid].outputs = [nbformat.v4.new_output("error", **{**TIMEOUT_ERROR, "evalue": OUT_OF_TIME})]
                continue
            visible, hidden = split_hidden(code, self.hidden_delimiter)
            outputs = await self._test_part(grader, "visible", visible)
            failed = any(o.output_type == "error" for o in outputs)
            if hidden and not failed:
                more = await self._test_part(grader, "hidden", hidden)
                # for the feedback, which shows the hidden part's outputs not at all, and its error by type only
                tests[gid].metadata["dlcourse"] = {"hidden_outputs_from": len(outputs),
                                                   "hidden_failure": any(o.output_type == "error" for o in more)}
                outputs += more
            if gid in tests:
                tests[gid].source = code
                tests[gid].outputs = outputs
            await self._heal(kernels, plan, answers)

    async def _test_part(self, grader: Kernel, phase: str, code: str) -> list:
        await self._grader_run(grader, f"__dlcourse__.phase = {phase!r}", "setting the phase")
        cell = await grader.run(code)
        if cell is None:
            raise GraderError("the grader kernel died")
        return list(cell.outputs)

    @staticmethod
    async def _grader_run(grader: Kernel, code: str, what: str) -> None:
        cell = await grader.run(code)
        if cell is None or any(o.output_type == "error" for o in cell.outputs):
            raise GraderError(f"{what} failed in the grader kernel: {_first_error(cell)}")

    async def _heal(self, kernels: dict, plan: Plan, answers: dict) -> None:
        """After a test cell: a student kernel that died or hangs is started again and given the answers."""
        for role in ("visible", "hidden"):
            kernel = kernels[role]
            if kernel.restarts >= MAX_RESTARTS or await kernel.responsive():
                continue
            await kernel.restart()
            await self._define(kernel, plan, answers, keep_outputs=False)
            await self._grader_run(kernels["grader"], f"__dlcourse__.reconnect({role!r}, "
                                   f"{kernel.connection_file!r}, {kernel.pid!r})", "reconnecting")



