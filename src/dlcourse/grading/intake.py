"""Getting a class's notebooks in: a folder or a zip, in our layout or as an LMS exports it.

Three layouts are read (``LAYOUTS`` is the text the error and ``dlcourse grade --help`` show):

- ours (nbgrader's submitted layout): ``<student>/<chapter>/<notebook>.ipynb``; the student id is
  the folder name; one wrapping top folder is fine;
- Moodle's "Download all submissions": a folder ``Full Name_12345_assignsubmission_file_/`` per
  submission (or, without "download submissions in folders", flat files
  ``Full Name_12345_assignsubmission_file_<name>.ipynb``); 12345 is Moodle's participant number;
  the student id is ``Full Name_12345``;
- Canvas's "Download Submissions": flat files ``<login>_<user id>_<file id>_<name>.ipynb``, with
  ``_LATE`` after the login for a late one; the student id is ``<login>_<user id>``.

The layout is ours when any student folder holds a chapter folder; otherwise Moodle's names are
looked for, then Canvas's. A Moodle or Canvas export is ONE assignment, so one chapter: the one given by ``--chapter``, else
the one its notebooks name (a chapter id in the file name, such as ``ch01_gradient_descent (1).ipynb``)
or carry (the nbgrader ``grade_id``s of the chapter's cells). Notebooks of several chapters, or of none,
are an error that asks for ``--chapter``.

In any layout, a student's chapter holding one notebook has it graded, whatever its name (with a
note when the name is not ``<chapter>.ipynb``); one holding several has the newest graded, with a
note naming the others.
"""

from __future__ import annotations

import functools
import os
import re
import time
import unicodedata
import zipfile
from collections import Counter
from pathlib import Path, PurePosixPath

import nbformat

from .. import notebooks

LAYOUTS = """\
  ours:   <student>/<chapter>/<chapter>.ipynb (any one notebook in the chapter folder)
  Moodle: Full Name_12345_assignsubmission_file_/<notebook>.ipynb, or the same prefix on flat files
  Canvas: <login>_<user id>_<file id>_<notebook>.ipynb (flat; _LATE after the login when late)"""

MOODLE = re.compile(r"^(?P<name>.+)_(?P<id>\d+)_assignsubmission_file_(?P<rest>.*)$")
CANVAS = re.compile(r"^(?P<login>[^_]+?)(?:_late)?_(?P<uid>\d+)_(?P<fid>\d+)_(?P<rest>.+\.ipynb)$", re.IGNORECASE)
IGNORED = (".", "__MACOSX")


class NoNotebooks(ValueError):
    """A batch in which no notebook was found: an error, never an empty success."""


# ---------------------------------------------------------------------------- a folder or a zip


def _safe_extract(zip_path: Path, dest: Path) -> list[str]:
    """Extract a zip into ``dest``, refusing entries that would land outside it. Returns notes (warnings).

    An entry is refused when its name is absolute, has a ``..`` part, or names ``dest`` itself;
    the rest land at ``dest / name`` (zipfile writes no symlinks, so none can lead out).
    Where two entries land on one file, the later one is extracted last: that one is graded.
    Each file keeps the time stored in the zip (zipfile sets none), so "the newest notebook" means
    the same in a zip as in the folder it was made from.
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
    for info in safe:
        path = dest / info.filename
        if path.is_file() and not info.is_dir():
            stamp = time.mktime((*info.date_time, 0, 0, -1))
            os.utime(path, (stamp, stamp))
    return notes


def unpack(submissions: Path, work: Path) -> tuple[Path, list[str]]:
    """The folder to read: ``submissions`` itself, or the zip extracted into ``work``; plus notes."""
    submissions = Path(submissions)
    if not submissions.exists():
        raise FileNotFoundError(f"no such folder or zip: {submissions}")
    if submissions.is_dir():
        return submissions, []
    if not zipfile.is_zipfile(submissions):
        raise ValueError(f"{submissions} is neither a folder nor a .zip file")
    folder = Path(work) / "unzipped"
    folder.mkdir(parents=True)
    return folder, _safe_extract(submissions, folder)


# ---------------------------------------------------------------------------- one chapter's notebook


def _visible_name(name: str) -> bool:
    return not name.startswith(IGNORED)


def _visible(p: Path) -> bool:
    return _visible_name(p.name)


def pick_notebook(candidates: list[Path], chapter: str, where: str) -> tuple[Path | None, list[str]]:
    """The notebook to grade among a student's ``candidates`` for ``chapter``, and notes.

    None when there is none; the only one, whatever its name; the newest of several (by
    modification time, then name), with a note naming the others.
    """
    if not candidates:
        return None, []
    newest = max(candidates, key=lambda p: (p.stat().st_mtime, p.name))
    if len(candidates) == 1:
        if newest.name == f"{chapter}.ipynb":
            return newest, []
        return newest, [f"{where}: graded {newest.name!r}, the only notebook there"]
    others = sorted(p.name for p in candidates if p != newest)
    return newest, [f"{where}: {len(candidates)} notebooks; graded the newest, {newest.name!r}; not graded: {others}"]


def _notebooks_in(folder: Path, recursive: bool = False) -> list[Path]:
    """The notebooks in ``folder`` (and below it if ``recursive``), hidden files, folders and
    ``__MACOSX`` left out (``.ipynb_checkpoints`` is hidden)."""
    found = folder.rglob("*.ipynb") if recursive else folder.glob("*.ipynb")
    return sorted(p for p in found if p.is_file() and all(map(_visible_name, p.relative_to(folder).parts)))


# ---------------------------------------------------------------------------- our layout


def _students_root(folder: Path, chapters: list[str]) -> Path:
    """The folder whose subfolders are students: ``folder`` itself, or its only subfolder
    when a zip wraps everything in one top folder."""
    def has_chapters(p):
        return any((s / c).is_dir() for s in p.iterdir() if s.is_dir() for c in chapters)

    subdirs = [p for p in folder.iterdir() if p.is_dir() and _visible(p)]
    if not has_chapters(folder) and len(subdirs) == 1 and has_chapters(subdirs[0]):
        return subdirs[0]
    return folder


def _ours(folder: Path, chapters: list[str]):
    """Every folder at the top is a student. The chapters are those of ``chapters`` that any
    student submitted; each student gets one item per such chapter, with None where the
    notebook is missing. Names are NFC-normalised; two folders with the same normalised name
    are one student (the newer folder is graded)."""
    root = _students_root(folder, chapters)
    by_name: dict[str, Path] = {}
    notes = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and _visible(p)):
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
            nb, why = pick_notebook(_notebooks_in(d / chapter) if (d / chapter).is_dir() else [], chapter,
                                    f"{name}/{chapter}")
            items.append((name, chapter, nb))
            notes += why
    return items, notes


# ---------------------------------------------------------------------------- Moodle and Canvas


def _lms_students(folder: Path) -> tuple[str | None, dict[str, list[Path]]]:
    """("moodle" | "canvas" | None, student id -> notebooks), read from ``folder`` or its one wrapping folder."""
    entries = [p for p in folder.iterdir() if _visible(p)]
    if len(entries) == 1 and entries[0].is_dir() and not MOODLE.match(entries[0].name):
        return _lms_students(entries[0])
    moodle: dict[str, list[Path]] = {}
    canvas: dict[str, list[Path]] = {}
    for p in entries:
        name = unicodedata.normalize("NFC", p.name)
        if (m := MOODLE.match(name)):
            student = f"{m['name']}_{m['id']}"
            found = _notebooks_in(p, recursive=True) if p.is_dir() else ([p] if name.endswith(".ipynb") else [])
            moodle.setdefault(student, []).extend(found)
        elif p.is_file() and (m := CANVAS.match(name)):
            canvas.setdefault(f"{m['login']}_{m['uid']}", []).append(p)
    if moodle:
        return "moodle", moodle
    if canvas:
        return "canvas", canvas
    return None, {}


def _grade_ids(nb) -> set[str]:
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if "grade_id" in c.get("metadata", {}).get("nbgrader", {})}


@functools.lru_cache(maxsize=None)
def _chapter_grade_ids(root: Path, chapter: str) -> frozenset[str]:
    return frozenset(_grade_ids(nbformat.read(notebooks.student_path(chapter, root), as_version=4)))


def recognise_chapter(path: Path, chapters: list[str], root: Path) -> str | None:
    """The chapter a notebook belongs to: the chapter id its file name holds, else the chapter
    whose nbgrader cells (grade_ids) it carries most of; None when neither tells."""
    named = [c for c in chapters if c in path.name]
    if len(named) == 1:
        return named[0]
    try:
        ids = _grade_ids(nbformat.read(path, as_version=4))
    except Exception:  # not a notebook: its chapter cannot be told from inside
        return None
    overlap = {c: len(ids & _chapter_grade_ids(root, c)) for c in chapters}
    best = max(chapters, key=overlap.get, default=None)
    return best if best and overlap[best] else None


def _lms(kind: str, students: dict[str, list[Path]], chapters: list[str], root: Path):
    label = {"moodle": "Moodle", "canvas": "Canvas"}[kind]
    notes = [f"read a {label} export: {len(students)} submission(s), student ids taken from the file names"]
    if len(chapters) == 1:
        chapter = chapters[0]
    else:
        seen = Counter(c for nbs in students.values() for p in nbs if (c := recognise_chapter(p, chapters, root)))
        if len(seen) != 1:
            which = ", ".join(f"{c} ({n})" for c, n in seen.most_common()) or "none"
            raise ValueError(f"cannot tell which chapter this {label} export is (one export is one assignment); "
                             f"chapters recognised in its notebooks: {which}. Pass --chapter ID.")
        chapter = next(iter(seen))
        notes.append(f"the {label} export is graded as {chapter} (recognised from its notebooks)")
    items = []
    for student, nbs in sorted(students.items()):
        nb, why = pick_notebook(nbs, chapter, student)
        items.append((student, chapter, nb))
        notes += why
        if nb is None:
            notes.append(f"{student}: no notebook in the {label} submission")
    return items, notes


# ---------------------------------------------------------------------------- a class


def find_submissions(folder: Path, chapters: list[str], root: Path | None = None
                     ) -> tuple[list[tuple[str, str, Path | None]], list[str]]:
    """(student, chapter, notebook path or None) for every student and chapter, plus notes (warnings).

    ``chapters`` are the chapters to grade (one when ``--chapter`` was given). Raises NoNotebooks
    when no notebook is found in any layout, and ValueError when an LMS export's chapter cannot be told.
    """
    root = root or notebooks.course_root()
    folder = Path(folder)
    items, notes = _ours(folder, chapters)
    if not items:  # no student has a chapter folder: an LMS export, if it is one
        kind, students = _lms_students(folder)
        if kind:
            items, notes = _lms(kind, students, chapters, root)
    if not any(path for _, _, path in items):
        raise NoNotebooks(f"no notebook found in {folder} for {', '.join(chapters)}. These layouts were looked for:\n"
                          f"{LAYOUTS}")
    return items, notes
