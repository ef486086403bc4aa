"""A class: its notebooks found (``intake``), graded in parallel, merged into grades.csv.

Every submission is one task, ``grade_task``: its bytes and its chapter's ``ChapterSource`` go in, its
``Result`` and feedback HTML come out. A task runs in a local pool (``--jobs N``: ``LocalPool``) or on a
Dask cluster (``--cluster``: ``cluster.ClusterPool``); both are a ``concurrent.futures`` executor driven
by the one loop here, ``run_tasks``, which keeps a bounded number of tasks in flight (a notebook's bytes
are read when its task is submitted, so 50,000 submissions never sit in memory) and writes each result
as it arrives. Only this module writes to the output folder, and only in the client process:

- ``grades.csv`` and the run's journal (``grades``); a run into an existing ``--out`` grades only what is
  new, changed or ended in error (``grades.needs_grading``), ``force=True`` everything;
- ``feedback/<student>/<chapter>/<chapter>.html``: replaced for exactly the submissions graded now;
- ``answers/<student>/<chapter>.py``: the answer cells' code without the stubs, and its tokens beside it,
  which the report compares for similarity.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import shutil
import tempfile
import threading
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import nbformat

from .. import notebooks
from ..sandbox import THREAD_VARS
from . import grades, intake, kernels, similarity
from .grades import Item
from .submission import (DEFAULT_MEMORY_GB, DEFAULT_TIMEOUT, STATUSES, ChapterSource, Result, chapter_exercises,
                         grade_one, prepare_chapter)

# ---------------------------------------------------------------------------- one task: the same in a local process and on a Dask worker

#: Test hook: a grading process (a --jobs N process or a Dask worker, never the client itself) given this
#: student's submission exits at once, as if the submission had crashed it (tests/test_cluster.py's poison).
CRASH_VAR = "DLCOURSE_TEST_CRASH_WORKER_ON"
_prepared: dict[str, tuple[Path, dict]] = {}  # ChapterSource.digest() -> (its nbgrader template, its exercises)
_prepared_lock = threading.Lock()


def _prepare(source: ChapterSource) -> tuple[Path, dict]:
    """The chapter's nbgrader template (``prepare_chapter``) and exercises, made the first time this
    process grades the chapter."""
    digest = source.digest()
    with _prepared_lock:
        if digest not in _prepared:
            folder = Path(tempfile.mkdtemp(prefix="dlg-template-"))
            atexit.register(shutil.rmtree, folder, True)
            _prepared[digest] = prepare_chapter(source, folder / "course"), source.exercises()
        return _prepared[digest]


def grade_task(student: str, source: ChapterSource, data: bytes | None, timeout: int, memory_gb: float,
               sandbox: bool) -> tuple[Result, bytes | None]:
    """Grade one submission (its bytes; None when missing) -> (its Result, its feedback HTML or None).

    Needs no course folder and writes only to temporary folders: the caller writes the output folder.
    The kernels of the next submission start while this one is graded (``kernels.KernelPool``).
    """
    if os.environ.get(CRASH_VAR) == student and multiprocessing.parent_process() is not None:
        os._exit(70)
    template, exercises = _prepare(source)
    with tempfile.TemporaryDirectory(prefix="dlg-feedback-") as tmp:
        result = grade_one(student, source, data, Path(tmp), timeout=timeout, memory_gb=memory_gb,
                           sandbox=sandbox, template=template, exercises=exercises, warm=True)
        html = Path(tmp) / f"{source.chapter}.html"
        return result, (html.read_bytes() if html.is_file() else None)


def shippable(source: ChapterSource) -> ChapterSource:
    """``source`` with the instructor notebook's outputs cleared: what a task carries (a chapter's 100 kB,
    not its 750). Grading never uses them: nbgrader's generate_assignment clears outputs first."""
    nb = source.notebook
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    files = {**source.files, f"{source.chapter}.ipynb": nbformat.writes(nb).encode("utf-8")}
    return ChapterSource(source.chapter, files, source.config_text)


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _share_cores(jobs: int) -> None:
    """Worker start-up for ``--jobs N``: each of the N kernels gets cores // N threads (at least 1).

    Otherwise every kernel's OpenBLAS and TensorFlow start a thread per core, N times over, and the
    kernels spend the time switching. A value the instructor already set is kept.
    """
    for var in THREAD_VARS:
        os.environ.setdefault(var, str(max(1, cores() // jobs)))


# ---------------------------------------------------------------------------- the local pool


class _InProcess(Executor):
    """``--jobs 1``: each task runs right here, when it is submitted."""

    def submit(self, fn, /, *args, **kwargs):
        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:  # noqa: BLE001 -- handed to the caller, as a pool would; Ctrl-C goes on
            future.set_exception(err)
        return future


class LocalPool:
    """``--jobs N``: N processes on this machine (a ``ProcessPoolExecutor``), each kernel with cores // N
    threads; ``--jobs 1`` grades in this process. The interface ``run_tasks`` drives: ``window``,
    ``submit``, ``lost``, ``failure``, ``close`` (``cluster.ClusterPool`` has the same)."""

    def __init__(self, jobs: int):
        self.jobs = max(1, jobs)
        self.note = None  # nothing to say about a local pool in the summary
        self.generation = 0  # how many executors died before this one (a future carries its executor's)
        self.executor = self._executor()

    def _executor(self) -> Executor:
        return _InProcess() if self.jobs == 1 else ProcessPoolExecutor(
            max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn"),
            initializer=_share_cores, initargs=(self.jobs,))

    def window(self) -> int:
        """How many tasks may be in flight: enough to keep every process busy."""
        return 2 * self.jobs if self.jobs > 1 else 1

    def submit(self, *args) -> Future:
        future = self.executor.submit(grade_task, *args)
        future.dlcourse_generation = self.generation  # on the future: nothing kept here after it is done
        return future

    def lost(self, future: Future, err: BaseException) -> bool:
        """Whether ``future`` failed because its grading process died (which breaks a ProcessPoolExecutor and
        every task in flight in it); the first such failure of an executor replaces it by a new one."""
        if not isinstance(err, BrokenProcessPool):
            return False
        if getattr(future, "dlcourse_generation", None) == self.generation:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.generation += 1
            self.executor = self._executor()
        return True

    def failure(self, err: BaseException) -> str:
        """The ``detail`` of an error row for a task that raised ``err``."""
        return f"grading failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"

    def close(self, cancel: bool = False) -> None:
        self.executor.shutdown(wait=not cancel, cancel_futures=cancel)
        if self.jobs == 1:
            kernels.close_pools()  # the spare kernels started for a next submission


# ---------------------------------------------------------------------------- the loop


def run_tasks(pool, items: list[Item], sources: dict, options: tuple, arrived, bar) -> None:
    """Grade ``items`` on ``pool``, never more than ``pool.window()`` in flight, calling
    ``arrived(item, result, html)`` as each one finishes.

    A task that raised becomes an ``error`` row with ``pool.failure(err)`` as its detail, except when its
    grading process died (``pool.lost``: a local process pool loses every task in flight then): such a
    task is graded again alone, and becomes an ``error`` row only if its process dies alone too, so that
    one submission that kills its grading process costs the others nothing. (On a Dask cluster the
    scheduler does this itself: ``KilledWorker``.) When ``pool.failure`` says the batch must stop (it
    raises), the tasks that already finished are written first. On any exception (Ctrl-C included) the
    exception goes on; the caller cancels the tasks in flight.
    """
    pending: dict[Future, Item] = {}
    todo, more = iter(items), True
    suspects: deque[Item] = deque()  # lost with others in flight: to be graded again, alone
    alone: set[Item] = set()

    def submit(item: Item) -> None:
        data = item.path.read_bytes() if item.path is not None else None
        pending[pool.submit(item.student, sources[item.chapter], data, *options)] = item

    while more or pending or suspects:
        if suspects:
            if not pending:
                alone.add(suspects[0])
                submit(suspects.popleft())
        else:
            window = pool.window()  # once a round: on a cluster it asks the scheduler how many workers there are
            while more and len(pending) < window:
                item = next(todo, None)
                if item is None:
                    more = False
                    break
                submit(item)
        done, _ = wait(list(pending), timeout=2, return_when=FIRST_COMPLETED)  # 2 s: see new workers join
        stop = None
        for future in done:
            item = pending.pop(future)
            try:
                result, html = future.result()
            except Exception as err:  # noqa: BLE001 -- the pool says what it means (or raises)
                if pool.lost(future, err) and item not in alone:
                    suspects.append(item)
                    continue
                try:
                    detail = ("its grading process died while it was graded alone (a crash or a memory hog that "
                              "got out of the student's kernel?)" if item in alone else pool.failure(err))
                except RuntimeError as err:  # the batch must stop: after the rows that are here
                    stop = stop or err
                    continue
                points = sources[item.chapter].exercises()
                result = Result(item.student, item.chapter, "error", max_score=sum(points.values()),
                                exercises={ex: (0.0, pts) for ex, pts in points.items()}, detail=detail)
                html = None
            arrived(item, result, html)
            bar.update()
        if stop is not None:
            raise stop


# ---------------------------------------------------------------------------- a class


def grade_class(submissions: Path, out: Path, *, chapter: str | None = None, jobs: int = 1,
                timeout: int = DEFAULT_TIMEOUT, memory_gb: float = DEFAULT_MEMORY_GB, sandbox: bool = True,
                root: Path | None = None, progress: bool = True, cluster: str | None = None, force: bool = False):
    """Grade every submission under ``submissions`` (a folder or a .zip, in any layout of
    ``intake.LAYOUTS``); merge the rows into ``out``/grades.csv and replace those students' feedback.

    ``jobs``: processes of a local pool; ``cluster``: a Dask scheduler's address or scheduler file instead.
    A run into an existing ``out`` grades only what is new, changed or ended in error, unless ``force``.
    Returns (results, notes): the Results graded in this run, sorted by student then chapter whatever
    the pool, and warnings about the submissions and the run (strings). Raises ValueError
    (intake.NoNotebooks among them) when there is nothing to grade, RuntimeError when the pool or the
    cluster cannot go on (the rows so far are kept).
    """
    from tqdm.auto import tqdm

    root = root or notebooks.course_root()
    known = notebooks.chapter_ids(root)
    if chapter is not None and chapter not in known:
        raise ValueError(f"unknown chapter {chapter!r}; expected one of {known}")
    chapters = [chapter] if chapter else known
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="dlg-batch-") as work:
        folder, notes = intake.unpack(Path(submissions), Path(work))
        found, warnings = intake.find_submissions(folder, chapters, root)
        notes += warnings
        out.mkdir(parents=True, exist_ok=True)
        items = [Item(s, c, p, grades.sha256_of(p)) for s, c, p in found]  # hashed before grading
        sources = {c: shippable(ChapterSource.from_course(c, root)) for c in sorted({i.chapter for i in items})}
        points = {c: source.exercises() for c, source in sources.items()}
        answer_ids = {c: similarity.chapter_answer_ids(c, root) for c in points}
        stubs = {c: similarity.chapter_stubs(c, root) for c in points}

        path, journal = out / "grades.csv", grades.Journal(out)
        old_header = grades.read_grades_csv_header(path)
        interrupted = journal.read()  # the rows of a run that died before it rewrote grades.csv
        previous = grades.merge_rows(grades.read_grades_csv(path), interrupted)
        by_key = {(r["student"], r["chapter"]): r for r in previous}
        todo = [i for i in items if grades.needs_grading(i, by_key.get((i.student, i.chapter)), force)]
        if len(todo) < len(items):
            notes.append(f"resumed: kept {len(items) - len(todo)} row(s) of {path} whose notebook is unchanged "
                         "(--force grades them again)")
            regraded = {(i.student, i.chapter) for i in todo}
            kept = [by_key[i.student, i.chapter] for i in items if (i.student, i.chapter) not in regraded]
            notes += grades.changed_sources(out, {c: s.digest() for c, s in sources.items()}, kept)

        results, rows = [], []

        def arrived(item: Item, result: Result, html: bytes | None) -> None:
            _write_outputs(out, item, html, answer_ids[item.chapter], stubs[item.chapter])  # then its row
            row = grades.result_row(result, item.sha256)
            book.append(row)
            rows.append(row)
            results.append(result)

        pool, completed = None, False
        try:
            if todo:
                if cluster:
                    from .cluster import ClusterPool

                    pool = ClusterPool(cluster, sandbox=sandbox)
                else:
                    pool = LocalPool(jobs)
                if pool.note:
                    notes.append(pool.note)
            with journal as book, tqdm(total=len(todo), desc="grading", unit="notebook",
                                      disable=not (progress and todo)) as bar:
                if pool is not None:
                    run_tasks(pool, todo, sources, (timeout, memory_gb, sandbox), arrived, bar)
            completed = True
        finally:
            if pool is not None:
                try:
                    pool.close(cancel=not completed)
                except Exception as err:  # noqa: BLE001 -- a lost scheduler: grades.csv is written all the same
                    notes.append(f"could not close the pool cleanly ({type(err).__name__}: {err})")
            # Also after Ctrl-C or a lost cluster: what was graded is kept (every row the journal holds, one
            # written just before a Ctrl-C included). A run that graded nothing leaves grades.csv as it was.
            journaled = journal.read()
            if journaled or (completed and not path.exists()):
                merged = grades.merge_rows(previous, journaled)
                columns = {c: chapter_exercises(c, root) for c in {r["chapter"] for r in merged} & set(known)}
                grades.write_grades_csv(merged, path, grades.exercise_columns({**columns, **points}, old_header))
                grades.record_sources(out, rows, {c: s.digest() for c, s in sources.items()})
            journal.remove()
    results.sort(key=lambda r: (r.student, r.chapter))
    return results, notes


def _write_outputs(out: Path, item: Item, html: bytes | None, answer_ids: list[str], stubs: dict[str, str]) -> None:
    """One graded submission's files in ``out``: its feedback and its answer code replace whatever an
    earlier run left for that student and chapter (nothing is left where there is none now)."""
    feedback = out / "feedback" / item.student / item.chapter
    shutil.rmtree(feedback, ignore_errors=True)
    if html is not None:
        feedback.mkdir(parents=True, exist_ok=True)
        grades.write_atomic(feedback / f"{item.chapter}.html", html)
    similarity.save_answer(item.path, out / "answers" / item.student / f"{item.chapter}.py", answer_ids, stubs)


def summary(results, notes=()) -> str:
    """A one-screen summary of a batch; ``notes`` are grade_class's warnings."""
    counts = Counter(r.status for r in results)
    lines = [f"{len(results)} notebook(s): " + ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])]
    for r in results:
        if r.status != "graded":
            lines.append(f"  {r.student}/{r.chapter}: {r.status}" + (f" ({r.detail})" if r.detail else ""))
    for chapter in sorted({r.chapter for r in results}):
        rows = [r for r in results if r.chapter == chapter and r.status in ("graded", "timeout", "error")]
        if not rows:
            continue
        lines.append(f"{chapter}: mean {sum(r.score for r in rows) / len(rows):.2f} / {rows[0].max_score:g}")
        for ex, (_, pts) in rows[0].exercises.items():
            mean = sum(r.exercises.get(ex, (0, 0))[0] for r in rows) / len(rows)
            lines.append(f"  {ex:<32} {mean:6.2f} / {pts:g}")
    lines += [f"note: {note}" for note in notes]
    return "\n".join(lines)
