"""A class: its notebooks found (``intake``), graded in parallel, merged into grades.csv.

Every submission is graded alone by ``submission.grade_one``, in a worker process of a pool, its
feedback written to a staging folder; only this module writes to the output folder:

- ``grades.csv``: a row per student and chapter (``result_row``); grading into an existing ``--out``
  merges by ``merge_rows`` (rows of this batch replace theirs, all others are kept), written atomically;
- ``feedback/<student>/<chapter>/<chapter>.html``: replaced for exactly the submissions of this batch;
- ``answers/<student>/<chapter>.py``: the answer cells' code without the stubs, and its tokens beside it, which the
  report compares for similarity.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .. import notebooks
from . import kernels
from ..sandbox import THREAD_VARS
from . import intake, similarity
from .submission import (DEFAULT_MEMORY_GB, DEFAULT_TIMEOUT, STATUSES, ChapterSource, _fmt, chapter_exercises, grade_one,
                         prepare_chapter)


def _grade_job(args):
    student, source, path, staging, timeout, memory_gb, sandbox, template, exercises = args
    feedback = Path(staging) / student / source.chapter if staging else None
    return grade_one(student, source, path, feedback, timeout=timeout, memory_gb=memory_gb,
                     sandbox=sandbox, template=template, exercises=exercises, warm=True)


def _share_cores(jobs: int) -> None:
    """Worker start-up for ``--jobs N``: each of the N kernels gets cores // N threads (at least 1).

    Otherwise every kernel's OpenBLAS and TensorFlow start a thread per core, N times over, and the
    kernels spend the time switching. A value the instructor already set is kept.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    for var in THREAD_VARS:
        os.environ.setdefault(var, str(max(1, cores // jobs)))


def _sha256(path: Path | None) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else ""


def _replace_outputs(result, path: Path | None, out: Path, staging: Path, answer_ids: list[str],
                     stubs: dict[str, str]) -> None:
    """Put one graded submission's files in ``out``: its feedback and its answer code replace
    whatever an earlier run left for that student and chapter (nothing is left when there is none now)."""
    student, chapter = result.student, result.chapter
    feedback, staged = out / "feedback" / student / chapter, staging / student / chapter
    shutil.rmtree(feedback, ignore_errors=True)
    if staged.is_dir():
        feedback.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(staged, feedback)
    similarity.save_answer(path, out / "answers" / student / f"{chapter}.py", answer_ids, stubs)


def grade_class(submissions: Path, out: Path, *, chapter: str | None = None, jobs: int = 1,
                timeout: int = DEFAULT_TIMEOUT, memory_gb: float = DEFAULT_MEMORY_GB, sandbox: bool = True,
                root: Path | None = None, progress: bool = True):
    """Grade every submission under ``submissions`` (a folder or a .zip, in any layout of
    ``intake.LAYOUTS``); merge the rows into ``out``/grades.csv and replace those students' feedback.

    Returns (results, notes), notes being warnings about the submissions (strings). Results are
    sorted by student, then chapter, whatever ``jobs`` is. Raises ValueError (intake.NoNotebooks
    among them) when there is nothing to grade.
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
        items, found = intake.find_submissions(folder, chapters, root)
        notes += found
        out.mkdir(parents=True, exist_ok=True)
        sources = {c: ChapterSource.from_course(c, root) for c in sorted({c for _, c, _ in items})}  # read once
        points = {c: source.exercises() for c, source in sources.items()}
        answer_ids = {c: similarity.chapter_answer_ids(c, root) for c in points}
        stubs = {c: similarity.chapter_stubs(c, root) for c in points}
        templates = {c: prepare_chapter(source, Path(work) / "templates" / c) for c, source in sources.items()}
        staging = Path(work) / "feedback"
        jobs_args = [(s, sources[c], p, str(staging), timeout, memory_gb, sandbox, templates[c], points[c])
                     for s, c, p in items]
        paths = {(s, c): p for s, c, p in items}
        shas = {key: _sha256(p) for key, p in paths.items()}  # before grading: the bytes that are graded
        bar = tqdm(total=len(jobs_args), desc="grading", unit="notebook", disable=not progress)
        results = []

        def done(r):
            _replace_outputs(r, paths[r.student, r.chapter], out, staging, answer_ids[r.chapter], stubs[r.chapter])
            results.append(r)
            bar.update()

        if jobs <= 1:
            try:
                for a in jobs_args:
                    done(_grade_job(a))
            finally:
                kernels.close_pools()  # the spare kernels started for a next submission
        else:
            import multiprocessing

            with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_share_cores, initargs=(jobs,)) as pool:
                for r in pool.map(_grade_job, jobs_args):
                    done(r)
        bar.close()
    results.sort(key=lambda r: (r.student, r.chapter))
    path = out / "grades.csv"
    rows = merge_rows(read_grades_csv(path), [result_row(r, shas[r.student, r.chapter]) for r in results])
    for c in {r["chapter"] for r in rows} & set(known) - set(points):  # kept rows of chapters not graded now
        points[c] = chapter_exercises(c, root)
    write_grades_csv(rows, path, exercise_columns(points, read_grades_csv_header(path)))
    return results, notes


# ---------------------------------------------------------------------------- grades.csv

FIRST_COLUMNS = ["student", "chapter", "score", "max_score", "status"]
LAST_COLUMNS = ["detail", "failures", "sha256"]  # sha256 stays last (the cluster's resume reads it)


def result_row(result, sha256: str = "") -> dict[str, str]:
    """A result as a grades.csv row. ``failures`` is a JSON object, exercise -> the first line of its
    first failure; ``sha256`` is the hash of the graded notebook's bytes (empty when missing)."""
    row = {"student": result.student, "chapter": result.chapter, "score": _fmt(result.score),
           "max_score": _fmt(result.max_score), "status": result.status}
    row.update({ex: _fmt(score) for ex, (score, _) in result.exercises.items()})
    row.update(detail=result.detail, failures=json.dumps(result.failures, ensure_ascii=False) if result.failures else "",
               sha256=sha256)
    return row


def merge_rows(old_rows: list[dict], new_rows: list[dict]) -> list[dict]:
    """THE rule for grading into an existing ``--out`` (a batch, and the cluster's resume): one row per
    (student, chapter); a new row replaces the old row of the same student and chapter, every other
    old row is kept. Sorted by student, then chapter."""
    merged = {(r["student"], r["chapter"]): r for r in old_rows}
    merged.update({(r["student"], r["chapter"]): r for r in new_rows})
    return [merged[key] for key in sorted(merged)]


def read_grades_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a grades.csv (none if there is no such file)."""
    if not Path(path).is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_grades_csv_header(path: Path) -> list[str]:
    if not Path(path).is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader(f), [])


def exercise_columns(points: dict[str, dict[str, float]], old_header: list[str] = ()) -> list[str]:
    """The exercise columns: this batch's chapters' exercises (``points`` is chapter -> ``chapter_exercises``),
    in chapter order, then those of an existing grades.csv that this batch did not grade."""
    fixed = set(FIRST_COLUMNS) | set(LAST_COLUMNS)
    new = [ex for chapter in sorted(points) for ex in points[chapter]]
    return list(dict.fromkeys(new + [c for c in old_header if c not in fixed]))


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file in the same folder, then os.replace),
    so that a crash or a reader never sees half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the file from a colleague or a web server
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_grades_csv(rows: list[dict], path: Path, exercises: list[str]) -> None:
    """Write grades.csv (atomically): the fixed columns, ``exercises``, then detail, failures, sha256."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, [*FIRST_COLUMNS, *exercises, *LAST_COLUMNS], restval="", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buf.getvalue())


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
