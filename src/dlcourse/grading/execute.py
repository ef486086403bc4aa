"""nbgrader's execute step for one submission: the student's code in sandboxed kernels, the tests in a trusted one.

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

A submission is graded in two phases, so that no kernel that has seen a hidden input ever runs beside, or
before, a kernel whose output the student sees (whatever channel a student finds between kernels, the one
that could listen is gone before the one that could talk starts):

1. the **visible phase**: the visible kernel is defined (setup and answer cells; its outputs are the answer
   cells' outputs in the feedback), the grader runs the setup, given and test cells with each test cell cut
   at nbgrader's hidden-tests delimiter, and the calls go to the visible kernel. Then that kernel is stopped;
2. the **hidden phase** (only if a test cell with a hidden part passed its visible part): the grader's
   namespace is reset (``GRADER_RESET``), the hidden kernel is defined, and the grader runs the cells again,
   each test cell whole (its visible part rebuilds the state that its hidden part relies on; those outputs are
   not kept), with every call going to the hidden kernel.

A test cell's outputs are then its visible part's (phase 1) followed by its hidden part's (phase 2); the cell's
metadata ``dlcourse`` says where the hidden part's begin, so that the feedback leaves them out and shows a
hidden failure as one fixed line.

Cells that are neither setup, answer, given nor test cells are not run (training runs, plots, widgets).
The kernels come from ``kernels`` (a pool per grading process): the student kernels are fresh for every
submission; in a batch the grader kernel, reset (``GRADER_RESET``) once the submission's student kernels are
stopped, serves the next submission (``KernelPool.give_back``). Outputs: an answer cell gets what it printed in the visible kernel; a test cell what the grader's kernel
printed, with what the student's function printed during visible calls.
"""

from __future__ import annotations

import ast
import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Float, Integer, Unicode

from .. import notebooks
from .kernels import TIMEOUT_ERROR, Kernel, KernelPool, pool
from .text import error_line

ROLES = ("visible", "grader", "hidden")  # the kernels of one submission (``kernels.KernelPool.take``)
MAX_RESTARTS = 3  # per student kernel and submission: a kernel killed by the student's code is started again
BUDGET_CELLS = 10  # a submission's tests may take as long as this many cells at their time limit, no longer
OUT_OF_TIME = f"not run: the notebook's tests had used {BUDGET_CELLS} times the time limit of a cell"
KERNEL_BROKE = "this cell killed the kernel or left it unable to answer; the other answers ran without it"
RERUN_FAILED = ("the visible tests of this cell failed when they ran again before its hidden tests (does your "
                "function give the same answer every time?)")
#: Between the two phases, and after a submission before the grader serves the next (``KernelPool.give_back``):
#: the student kernels' connections closed, the grader's namespace emptied (the modules it imported stay
#: loaded), its numeric rules and warning filters as they were before the first setup cell, and Keras's
#: global state cleared. The setup cells (which seed everything), given and test cells then run again.
GRADER_RESET = (
    "globals().get('__dlcourse__') and __dlcourse__.close()\n"
    "__import__('dlcourse.grading.proxy', fromlist=['reset_namespace']).reset_namespace()\n"
    "__import__('dlcourse.grading.proxy', fromlist=['restore_baseline']).restore_baseline()\n")


def _failed(outputs) -> bool:
    return any(o.output_type == "error" for o in outputs)


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



def _first_error(cell) -> str:
    """A run cell's first error, in one line (or that the kernel died: no cell)."""
    for out in cell.outputs if cell is not None else []:
        if out.output_type == "error":
            return error_line(out.ename, out.evalue, limit=300)
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
        """The two phases: every visible test part first, with calls to the visible kernel, which is then
        stopped; only then the hidden kernel starts taking calls, for the hidden parts. No kernel that has
        seen a hidden input runs beside, or before, a kernel whose output the student sees."""
        answers = notebooks.answer_cells(nb)
        tests = {c.metadata.nbgrader["grade_id"]: c for c in nb.cells if notebooks.is_test_cell(c)}
        kernels: dict[str, Kernel] = {}
        graded = False  # the grader served the whole submission: it may serve the next (after a reset)
        chapter = Path(self.source_path).stem  # its own and later dlcourse.given modules are hidden from the student
        deadline = asyncio.get_running_loop().time() + BUDGET_CELLS * self.timeout
        # The three kernels start at once (the grader's TensorFlow import is the longest start). The hidden kernel
        # is only started now: it is given the answers, and calls, after the visible kernel is stopped.
        starting = {role: asyncio.ensure_future(kernel_pool.take(role, chapter)) for role in ROLES}

        async def ready(role: str, prepare):
            kernels[role] = await starting[role]
            return await prepare(kernels[role])

        try:
            # each kernel is given its part as soon as it has started: the answers in the visible kernel while the
            # grader runs the setup cells (or still imports TensorFlow)
            errors, _ = await asyncio.gather(
                ready("visible", lambda k: self._define(k, plan, answers, keep_outputs=True)),
                ready("grader", lambda k: self._grader_setup(k, plan, source_dir)))
            visible = await self._phase("visible", plan, kernels, answers, errors, source_dir, deadline)
            await kernels.pop("visible").stop()
            pending = {gid for gid, (outputs, hidden) in visible.items() if hidden and not _failed(outputs)}
            hidden = {}
            if pending:  # the visible kernel is stopped: the hidden one is given the answers as the grader resets
                await asyncio.gather(self._grader_setup(kernels["grader"], plan, source_dir, reset=True),
                                     ready("hidden", lambda k: self._define(k, plan, answers, keep_outputs=False)))
                hidden = await self._phase("hidden", plan, kernels, answers, errors, source_dir, deadline, pending)
            for gid, (outputs, _) in visible.items():
                if gid not in tests:
                    continue
                tests[gid].source = next(code for kind, g, code in plan.grader if g == gid)
                tests[gid].outputs = list(outputs)
                if gid in hidden:
                    # for the feedback, which shows the hidden part's outputs not at all, and a failure as one line
                    tests[gid].metadata["dlcourse"] = {"hidden_outputs_from": len(outputs),
                                                       "hidden_failure": _failed(hidden[gid])}
                    tests[gid].outputs += hidden[gid]
            graded = True
        finally:
            started = dict(zip(starting, await asyncio.gather(*starting.values(), return_exceptions=True)))
            grader = started.pop("grader")
            await asyncio.gather(*(k.stop() for k in started.values() if isinstance(k, Kernel)))
            if isinstance(grader, Kernel):  # reset once the student kernels are gone, before anyone else is graded
                reset = kernel_pool.warm and graded and not grader.stopped and await self._reset(grader)
                await kernel_pool.give_back(grader, reset)

    @staticmethod
    async def _reset(grader: Kernel) -> bool:
        cell = await grader.run(GRADER_RESET)
        return cell is not None and not _failed(cell.outputs)

    async def _phase(self, role: str, plan: Plan, kernels: dict, answers: dict, errors: dict, source_dir: Path,
                     deadline: float, pending: set[str] = frozenset()) -> dict[str, tuple[list, str]]:
        """Run the grader's cells with the graded names calling the ``role`` kernel. The visible phase runs each
        test cell's visible part and returns grade_id -> (its outputs, the cell's hidden part). The hidden
        phase runs each test cell's visible part again (the grader's state that its hidden part relies on;
        its outputs are not kept) and then, for the cells in ``pending``, the hidden part: it returns
        grade_id -> the outputs of the hidden part (an error, should the visible part fail this time)."""
        grader = kernels["grader"]
        student = {phase: (kernels[role].connection_file, kernels[role].pid) for phase in ("visible", "hidden")}
        answer_errors = {name: errors[gid] for name, gid in plan.defined_by.items() if gid in errors}
        await self._grader_run(grader, (
            "from dlcourse.grading import proxy as _dlcourse_proxy\n"
            f"_dlcourse_proxy.install(globals(), {plan.names!r}, {student!r}, {self.timeout!r})\n"
            f"__dlcourse__.answer_errors.update({answer_errors!r})\n"
            f"__dlcourse__.phase = {role!r}\n"
            "del _dlcourse_proxy\n"), "installing the proxies")
        loop = asyncio.get_running_loop()
        out = {}
        for kind, gid, code in plan.grader:
            if kind == "given":
                await self._grader_run(grader, code, f"the given cell {gid}")
                continue
            visible, hidden = split_hidden(code, self.hidden_delimiter)
            if role == "hidden" and gid not in pending:  # its visible part still runs: later cells use what it defines
                await self._run_part(grader, visible)
                await self._heal(kernels, plan, answers)
                continue
            if loop.time() > deadline:  # every cell within its limit, and still far too long
                out[gid] = ([nbformat.v4.new_output("error", **{**TIMEOUT_ERROR, "evalue": OUT_OF_TIME})], "")
                continue
            outputs = await self._run_part(grader, visible)
            if role == "visible":
                out[gid] = (outputs, hidden)
            elif _failed(outputs):
                out[gid] = [nbformat.v4.new_output("error", ename="AssertionError", evalue=RERUN_FAILED,
                                                   traceback=[f"AssertionError: {RERUN_FAILED}"])]
            else:
                out[gid] = await self._run_part(grader, hidden)
            await self._heal(kernels, plan, answers)
        return out

    async def _grader_setup(self, grader: Kernel, plan: Plan, source_dir: Path, reset: bool = False) -> None:
        """The grader kernel made ready for a phase: reset (before the hidden phase), in the source's folder, its
        numeric rules noted, and the setup cells run."""
        if reset:
            await self._grader_run(grader, GRADER_RESET, "resetting the grader")
        await self._grader_run(grader, f"import os\nos.chdir({str(source_dir)!r})\n"
                               "__import__('dlcourse.grading.proxy', fromlist=['x']).remember_baseline()", "os.chdir")
        for code in plan.setup:
            await self._grader_run(grader, code, "a setup cell")

    async def _run_part(self, grader: Kernel, code: str) -> list:
        cell = await grader.run(code)
        if cell is None:
            raise GraderError("the grader kernel died")
        return list(cell.outputs)

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
        cell = await kernel.run("__import__('dlcourse.student.serve', fromlist=['register']).register()")
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

    @staticmethod
    async def _grader_run(grader: Kernel, code: str, what: str) -> None:
        cell = await grader.run(code)
        if cell is None or any(o.output_type == "error" for o in cell.outputs):
            raise GraderError(f"{what} failed in the grader kernel: {_first_error(cell)}")

    async def _heal(self, kernels: dict, plan: Plan, answers: dict) -> None:
        """After a test cell: a student kernel that died or hangs is started again and given the answers."""
        for role in [r for r in ("visible", "hidden") if r in kernels]:
            kernel = kernels[role]
            if kernel.restarts >= MAX_RESTARTS or await kernel.responsive():
                continue
            await kernel.restart()
            await self._define(kernel, plan, answers, keep_outputs=False)
            await self._grader_run(kernels["grader"], f"__dlcourse__.reconnect({role!r}, "
                                   f"{kernel.connection_file!r}, {kernel.pid!r})", "reconnecting")
