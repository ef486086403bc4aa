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
hidden-tests delimiter, with calls going to the hidden kernel. An error in the hidden part is marked in the
cell's metadata (``dlcourse.hidden_failure``), so that the feedback shows its type but not its message.

Cells that are neither setup, answer, given nor test cells are not run (training runs, plots, widgets).
Outputs: an answer cell gets what it printed in the visible kernel; a test cell what the grader's kernel
printed, with what the student's function printed during visible calls.
"""

from __future__ import annotations

import ast
import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, Unicode

from .. import notebooks

GRADER_KERNEL = "dlcourse-grader"
TIMEOUT_ERROR = {"ename": "CellTimeoutError", "evalue": "",
                 "traceback": ["CellTimeoutError: No reply from kernel before timeout"]}
MAX_RESTARTS = 3  # per student kernel and submission: a kernel killed by the student's code is started again


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
    """One kernel and an nbclient client for it: start, run code as a cell, restart, stop."""

    def __init__(self, kernel_name: str, cwd: Path, ip: str, timeout: int):
        from jupyter_client.manager import AsyncKernelManager
        from nbclient import NotebookClient
        from traitlets.config import Config

        config = Config()
        config.KernelManager.transport = "ipc"  # the sandbox has no network, not even loopback
        config.KernelManager.ip = ip  # sockets <ip>-<port>: each kernel its own folder, absolute
        self.client = NotebookClient(nbformat.v4.new_notebook(), kernel_name=kernel_name, timeout=timeout,
                                     interrupt_on_timeout=True, error_on_timeout=TIMEOUT_ERROR, allow_errors=True,
                                     iopub_timeout=timeout, raise_on_iopub_timeout=False, record_timing=False,
                                     kernel_manager_class=AsyncKernelManager, config=config,
                                     resources={"metadata": {"path": str(cwd)}},
                                     extra_arguments=["--HistoryManager.hist_file=:memory:"],
                                     on_cell_executed=self._record_reply)
        self.restarts = 0

    @staticmethod
    def _record_reply(cell, execute_reply, **_):
        """As nbgrader's Execute: an error reply with no error output (a timeout) becomes one."""
        content = (execute_reply or {}).get("content", {})
        if content.get("status") == "error" and not any(
                o.output_type == "error" and o.ename == content.get("ename") for o in cell.outputs):
            cell.outputs.append(nbformat.v4.new_output("error", ename=content.get("ename", "Error"),
                                                       evalue=content.get("evalue", ""),
                                                       traceback=content.get("traceback") or []))

    async def start(self) -> None:
        self.client.create_kernel_manager()
        await self.client.async_start_new_kernel()
        await self.client.async_start_new_kernel_client()

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
        if not await self.client.km.is_alive():
            return False
        try:
            reply = await self.client.kc.execute_interactive("pass", store_history=False, timeout=seconds,
                                                             output_hook=lambda msg: None)
        except Exception:  # a timeout, or a kernel gone meanwhile
            return False
        return reply.get("content", {}).get("status") == "ok"

    async def restart(self) -> None:
        self.restarts += 1
        self.client.kc.stop_channels()
        await self.client.km.restart_kernel(now=True)
        await self.client.async_start_new_kernel_client()

    async def stop(self) -> None:
        try:
            if self.client.kc is not None:
                self.client.kc.stop_channels()
            if self.client.km is not None and await self.client.km.is_alive():
                await self.client.km.shutdown_kernel(now=True)
        except Exception:  # best effort: the grading job's folder is removed anyway
            pass


def _first_error(cell) -> str:
    for out in cell.outputs if cell is not None else []:
        if out.output_type == "error":
            return f"{out.ename}: {out.evalue}".strip().splitlines()[0][:300] if out.evalue else out.ename
    return "" if cell is not None else "the kernel died"


class TwoKernelExecute(NbGraderPreprocessor):
    """nbgrader's Execute step, done in a trusted grader kernel and sandboxed student kernels (module doc)."""

    source_path = Unicode(help="The instructor's source notebook of this assignment.").tag(config=True)
    timeout = Integer(60, help="Seconds a cell, or one call of a student's function, may take.").tag(config=True)
    student_kernel = Unicode("python3", help="Kernelspec of the student kernels (the sandbox).").tag(config=True)
    grader_kernel = Unicode(GRADER_KERNEL, help="Kernelspec of the grader kernel.").tag(config=True)
    work_dir = Unicode(help="A folder for the kernels' working folders and sockets.").tag(config=True)
    hidden_delimiter = Unicode("### BEGIN HIDDEN TESTS").tag(config=True)

    def preprocess(self, nb, resources):
        from jupyter_core.utils import run_sync

        source = nbformat.read(self.source_path, as_version=4)
        run_sync(self._grade)(nb, Plan.from_source(source), Path(self.source_path).parent)
        return nb, resources

    async def _grade(self, nb, plan: Plan, source_dir: Path) -> None:
        work = Path(self.work_dir)
        kernels = {}
        for role, name, cwd in (("visible", self.student_kernel, work / "visible"),
                                ("hidden", self.student_kernel, work / "hidden"),
                                ("grader", self.grader_kernel, source_dir)):
            cwd.mkdir(parents=True, exist_ok=True)
            (work / "sockets" / role).mkdir(parents=True, exist_ok=True)
            kernels[role] = Kernel(name, cwd, str(work / "sockets" / role / "k"), self.timeout)
        try:
            await asyncio.gather(*(k.start() for k in kernels.values()))
            answers = {c.metadata.nbgrader["grade_id"]: c for c in nb.cells if notebooks.is_answer_cell(c)}
            errors = await self._define(kernels["visible"], plan, answers, keep_outputs=True)
            await self._define(kernels["hidden"], plan, answers, keep_outputs=False)
            await self._test(nb, plan, kernels, answers, errors)
        finally:
            await asyncio.gather(*(k.stop() for k in kernels.values()))

    async def _define(self, kernel: Kernel, plan: Plan, answers: dict, keep_outputs: bool) -> dict[str, str]:
        """Run the setup cells, then the submission's answer cells, in a student kernel. Returns, for each
        answer cell that failed, grade_id -> its first error line. Restarts the kernel if the code kills it."""
        errors = {}
        for code in plan.setup:
            cell = await kernel.run(code)
            if cell is None or any(o.output_type == "error" for o in cell.outputs):
                raise GraderError(f"a setup cell failed in the student kernel: {_first_error(cell)}")
        for gid in plan.answers:
            if gid not in answers:
                errors[gid] = "(the answer cell is missing from the notebook)"
                continue
            cell = await kernel.run(answers[gid].source)
            if keep_outputs:
                answers[gid].outputs = cell.outputs if cell is not None else [nbformat.v4.new_output(
                    "error", ename="DeadKernelError", evalue="the kernel died while running this cell",
                    traceback=["DeadKernelError: the kernel died while running this cell"])]
            if cell is None or any(o.output_type == "error" for o in cell.outputs):
                errors[gid] = _first_error(cell)
                if cell is None and kernel.restarts < MAX_RESTARTS:  # this answer cell killed the kernel:
                    await kernel.restart()  # start again, without it, and define the rest (their outputs are kept
                    # from this run only when the kernel survives: a rerun's outputs are not attached)
                    return {**errors, **await self._define(kernel, plan, {**answers, gid: _skip(gid)}, False)}
        return errors

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
        for kind, gid, code in plan.grader:
            if kind == "given":
                await self._grader_run(grader, code, f"the given cell {gid}")
                continue
            visible, hidden = split_hidden(code, self.hidden_delimiter)
            outputs = await self._test_part(grader, "visible", visible)
            failed = any(o.output_type == "error" for o in outputs)
            if hidden and not failed:
                more = await self._test_part(grader, "hidden", hidden)
                if any(o.output_type == "error" for o in more):
                    tests[gid].metadata.setdefault("dlcourse", {})["hidden_failure"] = True
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


def _skip(gid: str):
    """An answer cell replaced by one that defines nothing (its code killed the kernel once already)."""
    return nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {"grade_id": gid, "solution": True}})

