"""A class: find every student's notebooks (a folder or a zip), grade them in parallel, write grades.csv.

Every submission is one task, ``grade_task``: its bytes and its chapter's ``ChapterSource`` go in, its
row and feedback HTML come out. A task runs in a local process pool (``--jobs N``) or on a Dask
cluster (``--cluster``, see ``cluster``); both are a ``concurrent.futures`` executor, driven by the one
loop here, which keeps a bounded number of tasks in flight and writes each row and feedback as it
arrives. Only this module writes to the output folder, and only in the client process.

Resume: grades.csv has a ``sha256`` column (of the graded notebook's bytes). A run into an existing
``--out`` grades only the submissions whose (student, chapter) has no row, whose row is an ``error``
(an error may be transient: a dead kernel, a lost worker) or whose notebook changed; every other row
is kept (``merge_rows``). ``force=True`` grades everything. Rows are appended to
``OUT/.dlcourse/rows.jsonl`` as they arrive, so a run killed before it rewrote grades.csv loses nothing:
the next run reads that journal too.
"""

from __future__ import annotations

import atexit
import csv
import hashlib
import json
import os
import shutil
import tempfile
import threading
import unicodedata
import zipfile
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import nbformat

from .. import notebooks
from ..sandbox import THREAD_VARS
from .submission import (DEFAULT_MEMORY_GB, DEFAULT_TIMEOUT, STATUSES, ChapterSource, Result, _fmt, chapter_exercises,
                         grade_one, prepare_chapter)


# ---------------------------------------------------------------------------- a class


def _safe_extract(zip_path: Path, dest: Path) -> list[str]:
    """Extract a zip into ``dest``, refusing entries that would land outside it. Returns notes (warnings).

    An entry is refused when its name is absolute, has a ``..`` part, or names ``dest`` itself;
    the rest land at ``dest / name`` (zipfile writes no symlinks, so none can lead out).
    Where two entries land on one file, the later one is extracted last: that one is graded.
    """
    notes, safe = [], []
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            parts = PurePosixPath(info.filename).parts
            if info.filename.startswith("/") or ".." in parts or not parts:
                notes.append(f"skipped unsafe path in zip: {info.filename!r}")
            else:
                safe.append(info)
        counts = Counter(PurePosixPath(info.filename) for info in safe)  # "a//b" and "a/./b/" are "a/b"
        notes += [f"duplicate entry in zip: {str(name)!r} (the last one is graded)"
                  for name, n in counts.items() if n > 1]
        zf.extractall(dest, members=safe)
    return notes


def _students_root(folder: Path, chapters: list[str]) -> Path:
    """The folder whose subfolders are students: ``folder`` itself, or its only subfolder
    when a zip wraps everything in one top folder."""
    def has_chapters(p):
        return any((s / c).is_dir() for s in p.iterdir() if s.is_dir() for c in chapters)

    subdirs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("__MACOSX", "."))]
    if not has_chapters(folder) and len(subdirs) == 1 and has_chapters(subdirs[0]):
        return subdirs[0]
    return folder


def find_submissions(folder: Path, chapters: list[str]) -> tuple[list[tuple[str, str, Path | None]], list[str]]:
    """(student, chapter, notebook path or None) for every student and chapter, plus notes (warnings).

    Every folder at the top is a student. The chapters are those of ``chapters`` that any
    student submitted; each student gets one item per such chapter, with None where the
    notebook is missing. Names are NFC-normalised; two folders with the same normalised name
    are one student (the newer folder is graded).
    """
    root = _students_root(folder, chapters)
    by_name: dict[str, Path] = {}
    notes = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))):
        name = unicodedata.normalize("NFC", d.name)
        if name in by_name:
            keep = max(by_name[name], d, key=lambda p: p.stat().st_mtime)
            notes.append(f"two folders for student {name!r}: grading {keep.name!r}, the newer")
            d = keep
        by_name[name] = d
    present = [c for c in chapters if any((d / c).is_dir() for d in by_name.values())]
    items = []
    for name, d in sorted(by_name.items()):
        if not any((d / c).is_dir() for c in chapters):
            notes.append(f"{name}: no chapter folder (expected {name}/<chapter>/<chapter>.ipynb)")
        for chapter in present:
            nb = d / chapter / f"{chapter}.ipynb"
            items.append((name, chapter, nb if nb.is_file() else None))
            extra = sorted(p.name for p in (d / chapter).glob("*.ipynb") if p.name != nb.name)
            if extra:
                notes.append(f"{name}/{chapter}: ignored other notebooks {extra}")
    return items, notes


# ---------------------------------------------------------------------------- one task: the same in a local process and on a Dask worker

_templates: dict[str, Path] = {}  # ChapterSource.digest() -> its nbgrader template, made once per process
_templates_lock = threading.Lock()


def _template(source: ChapterSource) -> Path:
    """The chapter's nbgrader template (``prepare_chapter``), made the first time this process grades it."""
    digest = source.digest()
    with _templates_lock:
        if digest not in _templates:
            folder = Path(tempfile.mkdtemp(prefix="dlg-template-"))
            atexit.register(shutil.rmtree, folder, True)
            _templates[digest] = prepare_chapter(source, folder / "course")
        return _templates[digest]


def grade_task(student: str, source: ChapterSource, data: bytes | None, timeout: int, memory_gb: float,
               sandbox: bool) -> tuple[Result, bytes | None]:
    """Grade one submission (its bytes; None when missing) -> (its Result, its feedback HTML or None).

    Needs no course folder and writes only to temporary folders: the caller writes the output folder.
    """
    template = _template(source) if data is not None else None
    with tempfile.TemporaryDirectory(prefix="dlg-feedback-") as tmp:
        result = grade_one(student, source, data, Path(tmp), timeout=timeout, memory_gb=memory_gb,
                           sandbox=sandbox, template=template)
        html = Path(tmp) / f"{source.chapter}.html"
        return result, (html.read_bytes() if html.is_file() else None)


def shippable(source: ChapterSource) -> ChapterSource:
    """``source`` with the instructor notebook's outputs cleared: what a task carries (100 kB, not 750).

    Grading never uses them: nbgrader's generate_assignment clears outputs before it records the cells.
    """
    nb = source.notebook
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    files = {**source.files, f"{source.chapter}.ipynb": nbformat.writes(nb).encode("utf-8")}
    return ChapterSource(source.chapter, files, source.config_text)


def _share_cores(jobs: int) -> None:
    """Worker start-up for ``--jobs N``: each of the N kernels gets cores // N threads (at least 1).

    Otherwise every kernel's OpenBLAS and TensorFlow start a thread per core, N times over, and the
    kernels spend the time switching. A value the instructor already set is kept.
    """
    for var in THREAD_VARS:
        os.environ.setdefault(var, str(max(1, cores() // jobs)))


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


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
    """``--jobs N``: N processes on this machine (a ``ProcessPoolExecutor``), each kernel with cores // N threads."""

    def __init__(self, jobs: int):
        import multiprocessing

        self.jobs = max(1, jobs)
        self.executor = _InProcess() if self.jobs == 1 else ProcessPoolExecutor(
            max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn"),
            initializer=_share_cores, initargs=(self.jobs,))
        self.note = None  # nothing to say about a local pool in the summary

    def window(self) -> int:
        """How many tasks may be in flight: enough to keep every process busy."""
        return 2 * self.jobs if self.jobs > 1 else 1

    def submit(self, *args) -> Future:
        return self.executor.submit(grade_task, *args)

    def failure(self, err: BaseException) -> str:
        """The ``detail`` of an error row for a task that raised ``err``; raises when the pool is gone."""
        if isinstance(err, BrokenProcessPool):
            raise RuntimeError("a grading process died and took the pool down; run the same command again "
                               "to grade the rest (the rows so far are kept)") from err
        return f"grading failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"

    def close(self, cancel: bool = False) -> None:
        self.executor.shutdown(wait=not cancel, cancel_futures=cancel)


# ---------------------------------------------------------------------------- rows, grades.csv, resume

FIXED = ("student", "chapter", "score", "max_score", "status")  # then one column per exercise, detail, sha256


class Item(NamedTuple):
    student: str
    chapter: str
    path: Path | None  # None: missing
    sha256: str  # of the notebook's bytes; "" when missing


def sha256_of(path: Path | None) -> str:
    if path is None:
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def result_row(result: Result, sha256: str) -> dict[str, str]:
    """A Result as a grades.csv row (every value a string)."""
    row = {"student": result.student, "chapter": result.chapter, "score": _fmt(result.score),
           "max_score": _fmt(result.max_score), "status": result.status}
    row.update({ex: _fmt(score) for ex, (score, _) in result.exercises.items()})
    return {**row, "detail": result.detail, "sha256": sha256}


def merge_rows(old, new) -> list[dict]:
    """Rows keyed by (student, chapter): a row of ``new`` replaces ``old``'s, every other row is kept.
    Sorted by student, then chapter."""
    rows = {(r["student"], r["chapter"]): r for r in old}
    rows.update({(r["student"], r["chapter"]): r for r in new})
    return [rows[key] for key in sorted(rows)]


def read_grades_csv(path: Path) -> tuple[list[dict], list[str]]:
    """(rows, exercise columns) of a grades.csv; nothing when there is none. Rows without a sha256
    (an older grades.csv) get an empty one."""
    if not path.is_file():
        return [], []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = [{k: v or "" for k, v in r.items() if k is not None} for r in reader]
        exercises = [c for c in reader.fieldnames or [] if c not in (*FIXED, "detail", "sha256")]
    for r in rows:
        r.setdefault("sha256", "")
    return rows, exercises


def write_grades_csv(rows, path: Path, exercises) -> None:
    """grades.csv, atomically (a temporary file, then os.replace): ``FIXED`` columns, one per exercise, detail, sha256."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([*FIXED, *exercises, "detail", "sha256"])
        for r in rows:
            writer.writerow([r.get(c, "") for c in (*FIXED, *exercises, "detail", "sha256")])
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _exercise_columns(rows, points: dict, old_columns) -> list[str]:
    """Exercise columns, chapter by chapter in notebook order; chapters of this course not in ``points``
    and old columns of chapters the course no longer has keep grades.csv's order."""
    columns = []
    for chapter in sorted({r["chapter"] for r in rows}):
        columns += points.get(chapter) or [c for c in old_columns
                                           if any(r.get(c) for r in rows if r["chapter"] == chapter)]
    return list(dict.fromkeys(columns))


class Journal:
    """``OUT/.dlcourse/rows.jsonl``: the rows of a run, one JSON line each, flushed to disk as they arrive."""

    def __init__(self, out: Path):
        self.path = out / ".dlcourse" / "rows.jsonl"

    def read(self) -> list[dict]:
        """The rows of a run that ended before it rewrote grades.csv (a torn last line is skipped)."""
        if not self.path.is_file():
            return []
        rows = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
        return rows

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "a", encoding="utf-8")
        return self

    def append(self, row: dict) -> None:
        self.file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.file.flush()
        os.fsync(self.file.fileno())

    def __exit__(self, *exc):
        self.file.close()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _write_feedback(out: Path, student: str, chapter: str, html: bytes | None) -> None:
    """OUT/feedback/<student>/<chapter>/<chapter>.html, atomically; removed when a new grading made none."""
    path = out / "feedback" / student / chapter / f"{chapter}.html"
    if html is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(html)
    os.replace(tmp, path)


def needs_grading(item: Item, previous: dict | None, force: bool = False) -> bool:
    """Resume's rule: grade when forced, when there is no row, when the row is an ``error`` (perhaps
    transient) or when the notebook's sha256 changed. A ``timeout`` is a grade, and is kept."""
    return force or previous is None or previous.get("status") == "error" or previous.get("sha256", "") != item.sha256


# ---------------------------------------------------------------------------- the loop


def run_tasks(pool, items, sources: dict, options: tuple, arrived, bar) -> None:
    """Grade ``items`` on ``pool``, never more than ``pool.window()`` in flight (a submission's bytes are
    read when it is submitted), calling ``arrived(item, result, html)`` as each one finishes.

    A task that raised becomes an ``error`` row with ``pool.failure(err)`` as its detail. On any
    exception (Ctrl-C included) the tasks in flight are cancelled and the exception goes on.
    """
    pending: dict[Future, Item] = {}
    todo = iter(items)
    more = True
    while more or pending:
        window = pool.window()  # once a round: on a cluster it asks the scheduler how many workers there are
        while more and len(pending) < window:
            item = next(todo, None)
            if item is None:
                more = False
                break
            data = item.path.read_bytes() if item.path is not None else None
            pending[pool.submit(item.student, sources[item.chapter], data, *options)] = item
        done, _ = wait(list(pending), timeout=2, return_when=FIRST_COMPLETED)  # 2 s: see new workers join
        for future in done:
            item = pending.pop(future)
            try:
                result, html = future.result()
            except Exception as err:  # noqa: BLE001 -- the pool says what it means (or raises)
                points = sources[item.chapter].exercises()
                result = Result(item.student, item.chapter, "error", max_score=sum(points.values()),
                                exercises={ex: (0.0, pts) for ex, pts in points.items()},
                                detail=pool.failure(err))
                html = None
            arrived(item, result, html)
            bar.update()


def grade_class(submissions: Path, out: Path, *, chapter: str | None = None, jobs: int = 1,
                timeout: int = DEFAULT_TIMEOUT, memory_gb: float = DEFAULT_MEMORY_GB, sandbox: bool = True,
                root: Path | None = None, progress: bool = True, cluster: str | None = None,
                force: bool = False):
    """Grade every submission under ``submissions`` (a folder or a .zip); write grades.csv and feedback.

    ``jobs``: processes of a local pool; ``cluster``: a Dask scheduler's address or scheduler file
    instead (``cluster.ClusterPool``). Resumes into an existing ``out`` (see the module's docstring)
    unless ``force``. Returns (results, notes): the Results graded in this run, sorted by student then
    chapter whatever the pool, and warnings about the submissions and the run (strings).
    """
    from tqdm.auto import tqdm

    root = root or notebooks.course_root()
    known = notebooks.chapter_ids(root)
    if chapter is not None and chapter not in known:
        raise ValueError(f"unknown chapter {chapter!r}; expected one of {known}")
    chapters = [chapter] if chapter else known
    submissions, out = Path(submissions), Path(out)
    if not submissions.exists():
        raise FileNotFoundError(f"no such folder or zip: {submissions}")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dlg-batch-") as work:
        notes = []
        if submissions.is_file():
            if not zipfile.is_zipfile(submissions):
                raise ValueError(f"{submissions} is neither a folder nor a .zip file")
            folder = Path(work) / "unzipped"
            folder.mkdir()
            notes += _safe_extract(submissions, folder)
        else:
            folder = submissions
        found, warnings = find_submissions(folder, chapters)
        notes += warnings
        items = [Item(s, c, p, sha256_of(p)) for s, c, p in found]
        sources = {c: shippable(ChapterSource.from_course(c, root)) for c in sorted({i.chapter for i in items})}
        points = {c: list(source.exercises()) for c, source in sources.items()}

        journal = Journal(out)
        old_rows, old_columns = read_grades_csv(out / "grades.csv")
        interrupted = journal.read()  # the rows of a run that died before it rewrote grades.csv
        previous = merge_rows(old_rows, interrupted)
        by_key = {(r["student"], r["chapter"]): r for r in previous}
        todo = [i for i in items if needs_grading(i, by_key.get((i.student, i.chapter)), force)]
        if len(todo) < len(items):
            notes.append(f"resumed: kept {len(items) - len(todo)} row(s) of {out / 'grades.csv'} whose notebook "
                         "is unchanged (--force grades them again)")
        notes += _changed_sources(out, sources, previous, todo)

        results, rows = [], []

        def arrived(item, result, html):
            _write_feedback(out, item.student, item.chapter, html)  # first the feedback, then its row
            row = result_row(result, item.sha256)
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
        except BaseException:
            if pool is not None:
                pool.close(cancel=True)
                pool = None
            raise
        finally:
            if pool is not None:
                pool.close()
            # Also after Ctrl-C or a lost cluster: what was graded is kept. A run that graded nothing
            # leaves grades.csv as it was.
            if rows or interrupted or (completed and not (out / "grades.csv").exists()):
                merged = merge_rows(previous, rows)
                kept = {r["chapter"] for r in merged} & set(known) - set(points)
                columns = _exercise_columns(merged, {**{c: list(chapter_exercises(c, root)) for c in kept}, **points},
                                            old_columns)
                write_grades_csv(merged, out / "grades.csv", columns)
                _record_sources(out, sources, rows)
            journal.remove()
    results.sort(key=lambda r: (r.student, r.chapter))
    return results, notes


def _record_sources(out: Path, sources: dict, rows) -> None:
    """OUT/.dlcourse/sources.json: the digest of the instructor source each chapter's rows were graded with."""
    path = out / ".dlcourse" / "sources.json"
    recorded = json.loads(path.read_text()) if path.is_file() else {}
    recorded.update({c: sources[c].digest() for c in {r["chapter"] for r in rows}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(recorded, indent=1, sort_keys=True))


def _changed_sources(out: Path, sources: dict, previous, todo) -> list[str]:
    """Notes for the chapters whose instructor source changed since kept rows were graded: resume
    compares notebooks, not tests, so those rows are kept unless --force."""
    path = out / ".dlcourse" / "sources.json"
    recorded = json.loads(path.read_text()) if path.is_file() else {}
    regraded = {(i.student, i.chapter) for i in todo}
    notes = []
    for chapter, source in sources.items():
        kept = [r for r in previous if r["chapter"] == chapter and (r["student"], chapter) not in regraded]
        if kept and chapter in recorded and recorded[chapter] != source.digest():
            notes.append(f"{chapter}: the instructor's notebook or nbgrader config changed since {len(kept)} kept "
                         "row(s) were graded; pass --force to grade them again")
    return notes


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
