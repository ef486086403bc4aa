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
import json
import os
import re
import shutil
import stat
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


#: The largest notebook that is read. A chapter's solution with all its outputs is under 1 MB; a notebook of
#: several hundred MB is printed output or embedded data, and reading it would cost the grading process its
#: memory (nbformat holds the file several times over).
MAX_NOTEBOOK_BYTES = 64 * 2**20
#: What a zip of submissions may unpack to, and how many entries it may hold: beyond, a zip bomb or not a class.
MAX_ZIP_BYTES = 4 * 2**30
MAX_ZIP_ENTRIES = 100_000


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
    notes, safe, oversized = [], [], []
    with zipfile.ZipFile(zip_path) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            raise ValueError(f"{zip_path.name} holds {len(infos):,} entries, more than the {MAX_ZIP_ENTRIES:,} a class's "
                             "zip is read with: is it the class's submissions? Unzip it yourself and pass the folder")
        for info in infos:
            parts = PurePosixPath(info.filename).parts
            if info.filename.startswith("/") or ".." in parts or not parts:
                notes.append(f"skipped unsafe path in zip: {info.filename!r}")
            elif info.file_size > MAX_NOTEBOOK_BYTES:
                oversized.append(info)
            else:
                safe.append(info)
        # zipfile writes at most an entry's stated size (ZipExtFile stops there), so the stated sizes bound the disk
        total = sum(info.file_size for info in safe)
        if total > MAX_ZIP_BYTES:
            raise ValueError(f"{zip_path.name} unpacks to {total / 2**30:.1f} GB, more than the {MAX_ZIP_BYTES / 2**30:g} GB "
                             "a class's zip is read with (a zip bomb?). Unzip it yourself and pass the folder")
        free = shutil.disk_usage(dest).free
        if total > free:
            raise ValueError(f"{zip_path.name} unpacks to {total / 2**20:,.0f} MB, and {dest.anchor or dest} has "
                             f"{free / 2**20:,.0f} MB free: set TMPDIR to a larger disk, or unzip it and pass the folder")
        counts = Counter(PurePosixPath(info.filename) for info in safe)  # "a//b" and "a/./b/" are "a/b"
        notes += [f"duplicate entry in zip: {str(name)!r} (the last one is graded)"
                  for name, n in counts.items() if n > 1]
        zf.extractall(dest, members=safe)
    for info in oversized:  # not unpacked: a sparse file of its size stands for it, refused as too large (a row)
        notes.append(f"not unpacked: {info.filename!r} is {info.file_size / 2**20:,.0f} MB")
        if not info.is_dir():
            (dest / info.filename).parent.mkdir(parents=True, exist_ok=True)
            with open(dest / info.filename, "wb") as f:
                f.truncate(info.file_size)
    for info in safe + oversized:
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


class Refused(str):
    """Stands, in a found item, for a notebook that is not read: its text says why (an ``unreadable`` row)."""


def refusal(path: Path, top: Path) -> str | None:
    """Why ``path`` (found under the submissions folder ``top``) is not read, or None: only regular files that
    lie inside ``top`` are graded. A symbolic link, on the way or at the end (a link to the solution, or to
    another student's notebook, would grade that file), anything resolving outside ``top``, and a file with
    several hard links (another name for a file elsewhere) are refused. The reason names no path outside."""
    rel = path.relative_to(top)
    here = top
    for part in rel.parts:
        here = here / part
        if here.is_symlink():
            return f"{here.relative_to(top)} is a symbolic link: only regular files are graded"
    try:
        st = path.lstat()
    except OSError as err:
        return f"{rel} cannot be read ({err.strerror})"
    if not stat.S_ISREG(st.st_mode):
        return f"{rel} is not a regular file"
    if not path.resolve().is_relative_to(top.resolve()):
        return f"{rel} lies outside the submissions folder"
    if st.st_nlink > 1:
        return f"{rel} is a hard link ({st.st_nlink} names for one file): only a file of its own is graded"
    if st.st_size > MAX_NOTEBOOK_BYTES:
        return (f"{rel} is {st.st_size / 2**20:,.0f} MB, and a notebook is graded up to {MAX_NOTEBOOK_BYTES / 2**20:g} MB: "
                "clear its outputs (Edit > Clear Outputs of All Cells), save it and hand it in again")
    return None


def _checked(items, top: Path):
    return [(s, c, Refused(why) if p is not None and (why := refusal(p, top)) else p) for s, c, p in items]


def find_submissions(folder: Path, chapters: list[str], root: Path | None = None
                     ) -> tuple[list[tuple[str, str, Path | None]], list[str]]:
    """(student, chapter, notebook path or None) for every student and chapter, plus notes (warnings). A
    notebook that is not read (``refusal``) is a ``Refused`` with the reason instead of its path.

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
    items = _checked(items, folder)
    if not any(path for _, _, path in items):
        raise NoNotebooks(f"no notebook found in {folder} for {', '.join(chapters)}. These layouts were looked for:\n"
                          f"{LAYOUTS}")
    return items, notes


# ---------------------------------------------------------------------------- one notebook, before grading


def _title(nb) -> str:
    """The first heading of a notebook's first markdown cell ('' if none)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("# ").strip()
            return ""
    return ""


def _key(cell) -> tuple[str, str]:
    return cell.cell_type, "\n".join(line.rstrip() for line in cell.source.strip().splitlines())


def _is_slot(cell) -> bool:
    """An answer or test cell of the source: its text differs between the source, the release and a student's copy."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("solution") or meta.get("grade"))


def recover_metadata(nb, source) -> tuple[int, list[str]]:
    """Put back the nbgrader metadata of a notebook that lost all of it (Google Colab, or cells copied into a new
    notebook), by matching its cells to the chapter's ``source``: the cells whose text is unchanged (instructions,
    given code) anchor the match (difflib), and between two anchors the answer and test cells are given their
    metadata only when the student's copy has exactly as many cells there, of the same kinds, in order.

    Returns (how many cells got their metadata back, the grade ids that could not be placed for certain); the
    notebook is changed in place only when every grade id was placed.
    """
    import difflib

    slot = object()
    theirs = [_key(c) for c in nb.cells]
    ours = [(slot, i) if _is_slot(c) else _key(c) for i, c in enumerate(source.cells)]
    matcher = difflib.SequenceMatcher(None, ours, theirs, autojunk=False)
    placed, lost = {}, []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        src = source.cells[i1:i2]
        if op == "equal":
            placed.update({j1 + k: cell for k, cell in enumerate(src) if "nbgrader" in cell.metadata})
            continue
        slots = [c for c in src if _is_slot(c) or "nbgrader" in c.metadata]
        if not slots:
            continue
        mine = nb.cells[j1:j2]
        if len(mine) == len(src) and all(a.cell_type == b.cell_type for a, b in zip(src, mine)):
            placed.update({j1 + k: cell for k, cell in enumerate(src) if "nbgrader" in cell.metadata})
        else:
            lost += [c.metadata["nbgrader"]["grade_id"] for c in slots]
    if lost:
        return 0, lost
    for j, cell in placed.items():
        nb.cells[j].metadata["nbgrader"] = dict(cell.metadata["nbgrader"])
    return len(placed), []


def diagnose(data: bytes, source, chapters: dict[str, frozenset[str]] | None = None):
    """Whether a submission (its bytes) can be graded as ``source``'s chapter: (the notebook, a note or '') when it
    can, (None, why not) when it cannot, each message one a person can act on (no path of the grading machine).

    Not gradable: an empty file, a file that is not JSON, JSON that is not a valid notebook, a notebook with no
    cells, another chapter's notebook (``chapters``: chapter -> its grade ids, to name it; else its title), and
    a notebook whose nbgrader metadata is gone when its cells cannot be matched to the chapter's for certain.
    """
    chapter = source.chapter
    again = f"hand in {chapter}.ipynb again"
    if not data.strip():
        return None, f"the file is empty ({len(data)} bytes): it was not saved, or the upload failed; {again}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    try:
        raw = json.loads(text) if text is not None else None
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        start = data[:12].decode("utf-8", "replace").strip()
        return None, (f"not a Jupyter notebook: the file is not a notebook's JSON (it starts with {start!r}); "
                      f"hand in the .ipynb file itself ({chapter}.ipynb), not a .py, .html or .pdf export")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001 -- every reason a notebook is invalid
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        return None, (f"not a valid Jupyter notebook ({first}); open it in Jupyter, save it, and {again}")
    if not nb.cells:
        return None, f"the notebook has no cells (was it saved before the release was opened?); {again}"
    ref = nbformat.reads(nbformat.writes(source.notebook), as_version=4) if hasattr(source, "notebook") else source
    ours, theirs = _graded_ids(ref), _graded_ids(nb)  # answers and tests: chapters share given_* cells
    if theirs and not theirs & ours:
        named = [c for c, ids in (chapters or {}).items() if theirs & ids and c != chapter]
        which = (f"{max(named, key=lambda c: len(theirs & chapters[c]))}'s" if named
                 else f"another chapter's ({_title(nb)!r})" if _title(nb) else "another chapter's")
        return None, (f"this notebook is {which}, not {chapter}'s: none of its graded cells is one of {chapter}'s. "
                      f"Hand in {chapter}.ipynb, the notebook of this assignment")
    if not _grade_ids(nb):
        recovered, lost = recover_metadata(nb, ref)
        if lost:
            return None, (f"the notebook's nbgrader metadata is missing (saved by Google Colab, or its cells copied "
                          f"into a new notebook), and the cells of {', '.join(lost[:6])}"
                          f"{' ...' if len(lost) > 6 else ''} cannot be matched to {chapter}'s for certain. Download "
                          f"the released {chapter}.ipynb again, paste each answer into its own cell, and hand that in")
        return nb, (f"the notebook's nbgrader metadata was missing (saved by Google Colab?): recovered for "
                    f"{recovered} cell(s) by matching them to the released {chapter}")
    return nb, ""


def _graded_ids(nb) -> set[str]:
    """The grade ids of a notebook's answer and test cells."""
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells if _is_slot(c) and "grade_id" in c.metadata["nbgrader"]}


@functools.lru_cache(maxsize=None)
def _chapter_graded_ids(root: Path, chapter: str) -> frozenset[str]:
    return frozenset(_graded_ids(nbformat.read(notebooks.student_path(chapter, root), as_version=4)))


def known_chapters(root: Path | None = None) -> dict[str, frozenset[str]]:
    """chapter -> its grade ids, for the course at ``root`` (default: the one here; {} when there is none)."""
    try:
        root = root or notebooks.course_root()
        return {c: _chapter_graded_ids(Path(root), c) for c in notebooks.chapter_ids(root)}
    except Exception:  # noqa: BLE001 -- no course here (a Dask worker): messages name the chapter by its title
        return {}


REJECTION_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{chapter}: not graded</title></head>
<body style="font-family:system-ui,sans-serif;max-width:50em;margin:2em auto">
<h1>{chapter}: your notebook could not be graded</h1>
<p style="background:#fff3f3;border-left:4px solid #c00;padding:.5em 1em">{why}</p>
<p>No points were given or taken: this is not a grade. Fix what is said above and hand the notebook in again;
your instructor sees the same message.</p></body></html>
"""


def rejection_html(result) -> bytes:
    """The learner's feedback for a notebook that could not be graded: a page saying why (``result.detail``)."""
    import html

    return REJECTION_PAGE.format(chapter=html.escape(result.chapter), why=html.escape(result.detail)).encode("utf-8")


def write_rejection(result, feedback_dir: Path) -> Path:
    """``rejection_html`` as ``feedback_dir/<chapter>.html``."""
    feedback_dir = Path(feedback_dir)
    feedback_dir.mkdir(parents=True, exist_ok=True)
    path = feedback_dir / f"{result.chapter}.html"
    path.write_bytes(rejection_html(result))
    return path
