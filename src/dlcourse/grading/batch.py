"""A class: find every student's notebooks (a folder or a zip), grade them in parallel, write grades.csv.

Every submission is graded alone by ``submission.grade_one``, in a worker process of a pool;
only this module writes to the output folder.
"""

from __future__ import annotations

import csv
import os
import tempfile
import unicodedata
import zipfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path, PurePosixPath

from .. import notebooks
from . import kernels
from ..sandbox import THREAD_VARS
from .submission import DEFAULT_MEMORY_GB, DEFAULT_TIMEOUT, STATUSES, ChapterSource, _fmt, grade_one, prepare_chapter


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


def _grade_job(args):
    student, source, path, out, timeout, memory_gb, sandbox, template, exercises = args
    feedback = Path(out) / "feedback" / student / source.chapter if out else None
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


def grade_class(submissions: Path, out: Path, *, chapter: str | None = None, jobs: int = 1,
                timeout: int = DEFAULT_TIMEOUT, memory_gb: float = DEFAULT_MEMORY_GB, sandbox: bool = True,
                root: Path | None = None, progress: bool = True):
    """Grade every submission under ``submissions`` (a folder or a .zip); write grades.csv and feedback.

    Returns (results, notes), notes being warnings about the submissions (strings). Results are
    sorted by student, then chapter, whatever ``jobs`` is.
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
        items, found = find_submissions(folder, chapters)
        notes += found
        sources = {c: ChapterSource.from_course(c, root) for c in sorted({c for _, c, _ in items})}  # read once
        points = {c: source.exercises() for c, source in sources.items()}
        templates = {c: prepare_chapter(source, Path(work) / "templates" / c) for c, source in sources.items()}
        jobs_args = [(s, sources[c], p, str(out), timeout, memory_gb, sandbox, templates[c], points[c])
                     for s, c, p in items]
        bar = tqdm(total=len(jobs_args), desc="grading", unit="notebook", disable=not progress)
        results = []
        if jobs <= 1:
            try:
                for a in jobs_args:
                    results.append(_grade_job(a))
                    bar.update()
            finally:
                kernels.close_pools()  # the spare kernels started for a next submission
        else:
            import multiprocessing

            with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_share_cores, initargs=(jobs,)) as pool:
                for r in pool.map(_grade_job, jobs_args):
                    results.append(r)
                    bar.update()
        bar.close()
    results.sort(key=lambda r: (r.student, r.chapter))
    write_grades_csv(results, out / "grades.csv", points)
    return results, notes


def write_grades_csv(results, path: Path, points: dict[str, dict[str, float]]) -> None:
    """grades.csv: a row per result, a column per exercise; ``points`` is chapter -> ``chapter_exercises``."""
    exercises = list(dict.fromkeys(ex for chapter in sorted({r.chapter for r in results}) for ex in points[chapter]))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "chapter", "score", "max_score", "status", *exercises, "detail"])
        for r in results:
            cells = [_fmt(r.exercises[ex][0]) if ex in r.exercises else "" for ex in exercises]
            writer.writerow([r.student, r.chapter, _fmt(r.score), _fmt(r.max_score), r.status, *cells, r.detail])


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
