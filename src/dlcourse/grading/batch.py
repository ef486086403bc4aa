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

import multiprocessing
import shutil
import tempfile
from collections import Counter, deque
from dataclasses import dataclass
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from .. import notebooks
from .. import sandbox as sandbox_module
from . import gradebook, grades, intake, kernels, late, similarity
from .grades import Item
from .submission import DEFAULT_MEMORY_GB, DEFAULT_TIMEOUT, STATUSES, ChapterSource, Result, chapter_exercises
from .cluster import ClusterPool
from .task import grade_task, shippable, share_cores
from .text import error_of, printable


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
            initializer=share_cores, initargs=(self.jobs,))

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
        return f"grading failed: {error_of(err)}"

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
        if isinstance(item.path, intake.Refused):  # not read at all: an unreadable row that says why
            points = sources[item.chapter].exercises()
            arrived(item, Result(item.student, item.chapter, "unreadable", detail=str(item.path),
                                 max_score=sum(points.values()),
                                 exercises={ex: (0.0, pts) for ex, pts in points.items()}), None)
            bar.update(1)
            return
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
    root = root or notebooks.course_root()
    known = notebooks.chapter_ids(root)
    if chapter is not None and chapter not in known:
        raise ValueError(f"unknown chapter {chapter!r}; expected one of {known}")
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="dlg-batch-") as work:
        folder, notes = intake.unpack(Path(submissions), Path(work))
        found, warnings = intake.find_submissions(folder, [chapter] if chapter else known, root)
        notes += warnings
        out.mkdir(parents=True, exist_ok=True)
        items = [Item(s, c, p, grades.sha256_of(p)) for s, c, p in found]  # hashed before grading
        run = _Run(out, _Chapters.of(sorted({i.chapter for i in items}), root), root, known)
        # chapter by chapter: a grading process's spare kernels are started for the chapter graded last (each hides
        # that chapter's solutions, kernels.KernelPool.take), so a batch ordered by student would waste most of them
        todo = sorted(run.resume(items, force, notes), key=lambda i: (i.chapter, i.student))
        if todo and cluster is None:  # on a cluster, each worker's machine decides (its own sandbox)
            notes.append(f"limits of a student kernel: {sandbox_module.memory_bound(memory_gb, sandbox)}")
        results = run.grade(todo, lambda: _open_pool(todo, jobs, cluster, sandbox, notes),
                            (timeout, memory_gb, sandbox), progress, notes)
    results.sort(key=lambda r: (r.student, r.chapter))
    return results, notes


@dataclass
class _Chapters:
    """What a batch needs of each chapter it grades: the task's source (``shippable``), the exercises and their
    points, and what ``similarity`` keeps of an answer (the answer cells' ids, the stubs)."""

    sources: dict[str, ChapterSource]
    points: dict[str, dict[str, float]]
    answer_ids: dict[str, list[str]]
    stubs: dict[str, dict[str, str]]

    @classmethod
    def of(cls, chapters: list[str], root: Path) -> "_Chapters":
        sources = {c: shippable(ChapterSource.from_course(c, root)) for c in chapters}
        return cls(sources, {c: source.exercises() for c, source in sources.items()},
                   {c: similarity.chapter_answer_ids(c, root) for c in sources},
                   {c: similarity.chapter_stubs(c, root) for c in sources})

    def digests(self) -> dict[str, str]:
        return {c: s.digest() for c, s in self.sources.items()}


def _open_pool(todo: list[Item], jobs: int, cluster: str | None, sandbox: bool, notes: list[str]):
    """The pool that grades ``todo`` (None when there is nothing to grade): Dask's at ``cluster``, else local."""
    if not todo:
        return None
    pool = ClusterPool(cluster, sandbox=sandbox) if cluster else LocalPool(jobs)
    if pool.note:
        notes.append(pool.note)
    return pool


class _Run:
    """One run of ``grade_class`` into the output folder ``out``: what it keeps of earlier runs, and its rows."""

    def __init__(self, out: Path, chapters: _Chapters, root: Path, known: list[str]):
        self.out, self.chapters, self.root, self.known = out, chapters, root, known
        self.path, self.journal = out / "grades.csv", grades.Journal(out)
        self.old_header = grades.read_grades_csv_header(self.path)
        interrupted = self.journal.read()  # the rows of a run that died before it rewrote grades.csv
        self.previous = grades.merge_rows(grades.read_grades_csv(self.path), interrupted)
        self.results: list[Result] = []
        self.rows: list[dict] = []

    def resume(self, items: list[Item], force: bool, notes: list[str]) -> list[Item]:
        """The items to grade now (``grades.needs_grading``); a note on the rows kept."""
        by_key = {(r["student"], r["chapter"]): r for r in self.previous}
        todo = [i for i in items if grades.needs_grading(i, by_key.get((i.student, i.chapter)), force)]
        if len(todo) < len(items):
            notes.append(f"resumed: kept {len(items) - len(todo)} row(s) of {self.path} whose notebook is unchanged "
                         "(--force grades them again)")
        # every row of grades.csv not graded now, those of students outside this run's submissions included (a
        # one-student re-grade into the class's folder): graded with an older source, each is noted
        regraded = {(i.student, i.chapter) for i in todo}
        kept = [r for r in self.previous if (r["student"], r["chapter"]) not in regraded]
        notes += grades.changed_sources(self.out, self.chapters.digests(), kept)
        return todo

    def grade(self, todo: list[Item], open_pool, options: tuple, progress: bool, notes: list[str]) -> list[Result]:
        """Grade ``todo`` on the pool ``open_pool()`` opens, each row journaled as it arrives; grades.csv
        rewritten at the end, also after Ctrl-C or a lost cluster. Returns the Results of this run."""
        from tqdm.auto import tqdm

        pool, completed = None, False
        try:
            pool = open_pool()
            with self.journal as self.book, tqdm(total=len(todo), desc="grading", unit="notebook",
                                                 disable=not (progress and todo)) as bar:
                if pool is not None:
                    run_tasks(pool, todo, self.chapters.sources, options, self.arrived, bar)
            completed = True
        finally:
            if pool is not None:
                try:
                    pool.close(cancel=not completed)
                except Exception as err:  # noqa: BLE001 -- a lost scheduler: grades.csv is written all the same
                    notes.append(f"could not close the pool cleanly ({type(err).__name__}: {err})")
            self.write_grades(completed)
        return self.results

    def arrived(self, item: Item, result: Result, html: bytes | None) -> None:
        """One graded submission: its files, then its row (in the journal first)."""
        if html is None and result.status in ("error", "unreadable"):  # why, for the learner too
            html = intake.rejection_html(result)
        _write_outputs(self.out, item, html, self.chapters.answer_ids[item.chapter], self.chapters.stubs[item.chapter])
        gradebook.write_autograded(self.out, result)  # for the formgrader; dropped from the result (memory)
        row = grades.result_row(result, item.sha256, late.submitted_at(item.path))
        self.book.append(row)
        self.rows.append(row)
        self.results.append(result)

    def write_grades(self, completed: bool) -> None:
        """grades.csv: the earlier rows merged with every row the journal holds (one written just before a
        Ctrl-C included). A run that graded nothing leaves grades.csv as it was."""
        journaled = self.journal.read()
        if journaled or (completed and not self.path.exists()):
            merged = grades.merge_rows(self.previous, journaled)
            columns = {c: chapter_exercises(c, self.root) for c in {r["chapter"] for r in merged} & set(self.known)}
            grades.write_grades_csv(merged, self.path,
                                    grades.exercise_columns({**columns, **self.chapters.points}, self.old_header))
            grades.record_sources(self.out, self.rows, self.chapters.digests())
            grades.record_scores(self.out, journaled)
        self.journal.remove()


def _write_outputs(out: Path, item: Item, html: bytes | None, answer_ids: list[str], stubs: dict[str, str]) -> None:
    """One graded submission's files in ``out``: its feedback and its answer code replace whatever an
    earlier run left for that student and chapter (nothing is left where there is none now)."""
    feedback = out / "feedback" / item.student / item.chapter
    shutil.rmtree(feedback, ignore_errors=True)
    if html is not None:
        feedback.mkdir(parents=True, exist_ok=True)
        grades.write_atomic(feedback / f"{item.chapter}.html", html)
    notebook = None if isinstance(item.path, intake.Refused) else item.path
    similarity.save_answer(notebook, out / "answers" / item.student / f"{item.chapter}.py", answer_ids, stubs)


def summary(results, notes=()) -> str:
    """A one-screen summary of a batch, for the instructor's terminal; ``notes`` are grade_class's warnings.

    Each line is ``printable``: a student id (a folder or an LMS file name the student chose), a detail or a note
    (which quote student ids and file names) show their control characters escaped, so an ESC sequence in them
    cannot write the terminal (retitle it, rewrite the screen, set the clipboard with OSC 52)."""
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
    return "\n".join(printable(line) for line in lines)
