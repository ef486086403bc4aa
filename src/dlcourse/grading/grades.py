"""The output folder's records: grades.csv, the journal of a run, and resume's rule.

- ``grades.csv``: a row per student and chapter (``result_row``): ``FIRST_COLUMNS``, one column per
  exercise, then ``LAST_COLUMNS`` (``sha256`` is the hash of the graded notebook's bytes, which resume
  compares). Grading into an existing ``--out`` merges (``merge_rows``): a new row replaces the old row of
  its student and chapter, every other row is kept. Written atomically (``write_atomic``).
- ``.dlcourse/rows.jsonl`` (``Journal``): each row of a run, flushed to disk as it arrives, so that a run
  killed before it rewrote grades.csv (Ctrl-C, a lost client machine) loses no grade.
- ``.dlcourse/sources.json``: for each row, the digest of the instructor source it was graded with.
- ``.dlcourse/scores.json`` (``record_scores``): each row's score as graded, and as its feedback shows it, so
  that a score changed in grades.csv by hand, which the feedback does not follow, is named (``edited_by_hand``).
- Resume (``needs_grading``): a run grades only what is new, changed, or ended in error.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import NamedTuple

from . import spreadsheet
from .submission import Result, _fmt

FIRST_COLUMNS = ["student", "chapter", "score", "max_score", "status"]
LAST_COLUMNS = ["submitted", "late_hours", "extension_hours", "penalty", "detail", "failures", "sha256"]


class Item(NamedTuple):
    """One submission of a batch."""

    student: str
    chapter: str
    path: Path | None  # None: missing
    sha256: str  # of the notebook's bytes; "" when missing


def sha256_of(path: Path | None) -> str:
    """The hash resume compares: of the notebook's bytes, read in blocks ("" for a missing notebook)."""
    if path is None or isinstance(path, str):  # missing, or intake.Refused
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def needs_grading(item: Item, previous: dict | None, force: bool = False) -> bool:
    """Resume's rule, the same for the local pool and a cluster: grade when forced, when there is no row,
    when the row is an ``error`` (perhaps transient: a dead kernel, a lost worker) or when the notebook's
    sha256 changed. A ``timeout`` is a grade, and is kept."""
    return force or previous is None or previous.get("status") == "error" or previous.get("sha256", "") != item.sha256


def result_row(result: Result, sha256: str = "", submitted: str = "") -> dict[str, str]:
    """A result as a grades.csv row (every value a string). ``failures`` is a JSON object, exercise -> the
    first line of its first failure; ``submitted`` is when it was handed in (``late.submitted_at``)."""
    row = {"student": result.student, "chapter": result.chapter, "score": _fmt(result.score),
           "max_score": _fmt(result.max_score), "status": result.status}
    row.update({ex: _fmt(score) for ex, (score, _) in result.exercises.items()})
    row.update(submitted=submitted, detail=result.detail, failures=json.dumps(result.failures, ensure_ascii=False) if result.failures else "",
               sha256=sha256)
    return row


def merge_rows(old_rows: list[dict], new_rows: list[dict]) -> list[dict]:
    """THE rule for grading into an existing ``--out`` (a new batch, and resume): one row per (student,
    chapter); a new row replaces the old row of the same student and chapter, every other old row is
    kept. Sorted by student, then chapter."""
    merged = {(r["student"], r["chapter"]): r for r in old_rows}
    merged.update({(r["student"], r["chapter"]): r for r in new_rows})
    return [merged[key] for key in sorted(merged)]


def read_grades_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a grades.csv (none if there is no such file)."""
    if not Path(path).is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return spreadsheet.read_dicts(f)


def read_grades_csv_header(path: Path) -> list[str]:
    if not Path(path).is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [spreadsheet.read_cell(h) for h in next(csv.reader(f), [])]


def exercise_columns(points: dict[str, dict[str, float]], old_header: list[str] = ()) -> list[str]:
    """The exercise columns: this batch's chapters' exercises (``points`` is chapter -> ``chapter_exercises``),
    in chapter order, then those of an existing grades.csv that this batch did not grade."""
    fixed = set(FIRST_COLUMNS) | set(LAST_COLUMNS)
    new = [ex for chapter in sorted(points) for ex in points[chapter]]
    return list(dict.fromkeys(new + [c for c in old_header if c not in fixed]))


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file in the same folder, then os.replace),
    so that a crash or a reader never sees half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        if isinstance(text, bytes):
            with os.fdopen(fd, "wb") as f:
                f.write(text)
        else:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
                f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the file from a colleague or a web server
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_grades_csv(rows: list[dict], path: Path, exercises: list[str]) -> None:
    """Write grades.csv (atomically): the fixed columns, ``exercises``, then ``LAST_COLUMNS``."""
    write_atomic(path, spreadsheet.write_rows([*FIRST_COLUMNS, *exercises, *LAST_COLUMNS], rows, dict_rows=True))


class Journal:
    """``OUT/.dlcourse/rows.jsonl``: the rows of a run, one JSON line each, on disk as they arrive."""

    def __init__(self, out: Path):
        self.path = Path(out) / ".dlcourse" / "rows.jsonl"

    def read(self) -> list[dict]:
        """The rows of a run that ended before it rewrote grades.csv (a torn last line is skipped)."""
        if not self.path.is_file():
            return []
        rows = []
        for line in self.path.read_text(encoding="utf-8").split("\n"):  # not splitlines: U+2028 may be in a row
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and {"student", "chapter"} <= row.keys():
                rows.append(row)
        return rows

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        torn = self.path.is_file() and self.path.stat().st_size and not self.path.read_bytes().endswith(b"\n")
        self.file = open(self.path, "a", encoding="utf-8")
        if torn:  # a run killed mid-line: the next row starts on a line of its own
            self.file.write("\n")
        return self

    def append(self, row: dict) -> None:
        self.file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.file.flush()
        os.fsync(self.file.fileno())

    def __exit__(self, *exc):
        self.file.close()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _read_sources(out: Path) -> dict[str, dict[str, str]]:
    """OUT/.dlcourse/sources.json: chapter -> student -> the digest of the instructor source that row was
    graded with. (A file of an older run, chapter -> digest, counts for every student of the chapter.)"""
    path = Path(out) / ".dlcourse" / "sources.json"
    recorded = json.loads(path.read_text()) if path.is_file() else {}
    return {c: v if isinstance(v, dict) else {"*": v} for c, v in recorded.items()}


def record_sources(out: Path, rows: list[dict], digests: dict[str, str]) -> None:
    """Note in OUT/.dlcourse/sources.json the instructor source (``digests``: chapter -> digest) each of
    ``rows`` was graded with."""
    recorded = _read_sources(out)
    for r in rows:
        recorded.setdefault(r["chapter"], {})[r["student"]] = digests[r["chapter"]]
    path = Path(out) / ".dlcourse" / "sources.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(recorded, indent=1, sort_keys=True, ensure_ascii=False))


def changed_sources(out: Path, digests: dict[str, str], kept: list[dict]) -> list[str]:
    """Notes for the chapters with ``kept`` rows graded with another instructor source than today's
    (``digests``: chapter -> digest now): resume compares notebooks, not tests, so those rows stay unless
    --force, on every run until then."""
    recorded = _read_sources(out)
    notes = []
    for chapter, digest in digests.items():
        by_student = recorded.get(chapter, {})
        stale = [r for r in kept if r["chapter"] == chapter
                 and by_student.get(r["student"], by_student.get("*", digest)) != digest]
        if stale:
            notes.append(f"{chapter}: the instructor's notebook or nbgrader config changed since {len(stale)} kept "
                         "row(s) were graded; grade the whole class again with --force to grade them with it")
    return notes


def _scores_path(out: Path) -> Path:
    return Path(out) / ".dlcourse" / "scores.json"


def record_scores(out: Path, rows: list[dict]) -> None:
    """Note in OUT/.dlcourse/scores.json the score of each of ``rows``, graded (or given in the formgrader) just
    now, with its feedback made from that score."""
    path = _scores_path(out)
    try:
        recorded = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError:
        recorded = {}
    for r in rows:
        recorded[f"{r['student']}/{r['chapter']}"] = str(r.get("score", ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(recorded, ensure_ascii=False, indent=0, sort_keys=True) + "\n")


def edited_by_hand(out: Path, rows: list[dict]) -> list[dict]:
    """The rows of grades.csv whose score is not the one they were graded with (``record_scores``): changed in
    the file by hand, so the LMS files, made from grades.csv, have it but the student's feedback does not.
    Each is {student, chapter, graded, now}."""
    path = _scores_path(out)
    try:
        recorded = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError:
        return []
    edited = []
    for r in rows:
        graded = recorded.get(f"{r['student']}/{r['chapter']}")
        if graded is not None and not _same_score(graded, r.get("score", "")):
            edited.append({"student": r["student"], "chapter": r["chapter"], "graded": graded, "now": r.get("score", "")})
    return edited


def _same_score(a: str, b: str) -> bool:
    try:
        return abs(float(a) - float(b)) < 1e-9
    except ValueError:
        return str(a).strip() == str(b).strip()
