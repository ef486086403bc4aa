"""Gradebook files an LMS imports, from grades.csv, a roster and the chapters' LMS assignments.

- ``grades_wide.csv``: a row per student, a column per chapter (its score), and the total.
- ``canvas.csv``: the layout of Canvas's own gradebook export, which its import reads back
  ("How do I import grades in the Gradebook?", Canvas Instructor Guide): ``Student, ID, SIS User ID,
  SIS Login ID, Section``, then a column per assignment, and a ``Points Possible`` row under the header.
  Canvas matches a row to a student by ``ID`` (Canvas's user id) or the SIS ids, and a column to an
  existing assignment by its header ``Name (assignment id)``, the form of its own export; any other header
  creates a new assignment.
- ``moodle.csv``: for Moodle's CSV grade import ("Grade import", MoodleDocs): an ``ID number`` column
  to map to a user field ("Identify user by": ID number, email address or username), ``Full name``,
  and a column per chapter, named as the grade item it is mapped to.

Only a grade is exported: a row whose status is ``error``, ``unreadable`` or ``missing`` has no grade (the
notebook could not be graded, or there is none), so its cell is EMPTY, which Canvas and Moodle leave alone,
never a 0 that looks like one. A late row's exported score is after its penalty (``late``).

The roster (``--roster roster.csv``) maps our student ids (the folder or file names the submissions
came in) to the LMS's: the column ``student`` is ours, ``lms_id`` the LMS's id (the value Moodle maps on,
or Canvas's user ID), ``name``, and optionally ``section``, ``sis_user_id``, ``sis_login_id``. Without a
roster the LMS id is our student id. With one, a student missing from it is left out of canvas.csv and
moodle.csv (there is no id to give) and listed in the report; a roster entry without a submission gets
a row with empty grades, and is listed too. grades_wide.csv has every student.

The assignments (``--assignments assignments.csv``): columns ``chapter``, ``name`` (the LMS assignment's
name) and optionally ``lms_id`` (Canvas's assignment id), ``due`` (the due date, ISO 8601) and ``points``.
Both files, once given, are kept in the output folder (``OUT/.dlcourse/lms.json``, ``remember``), so that a
later run without them (a late re-grade) writes the same ids and the same columns.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from . import spreadsheet

ROSTER_COLUMNS = ("student", "lms_id", "name", "section", "sis_user_id", "sis_login_id")
ASSIGNMENT_COLUMNS = ("chapter", "name", "lms_id", "due")
GRADED = ("graded", "timeout")  # the statuses that are a grade; any other row has none (an empty LMS cell)


@dataclass
class Accounting:
    """Who is where: students of grades.csv missing from the roster, roster entries without a submission."""

    not_in_roster: list[str] = field(default_factory=list)
    without_submission: list[str] = field(default_factory=list)


def _read_table(path: Path, key: str, columns: tuple[str, ...], what: str) -> dict[str, dict[str, str]]:
    """Rows of a CSV by their ``key`` column (stripped); ValueError on a missing key column or a key twice."""
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: a file saved by Excel starts with a BOM
        reader = csv.DictReader(f)
        fields = [(c or "").strip() for c in (reader.fieldnames or [])]
        if key not in fields:
            raise ValueError(f"{path}: {what} needs a {key!r} column; its columns are {reader.fieldnames}. "
                             f"Expected: {', '.join(columns)}")
        reader.fieldnames = fields
        table = {}
        for row in reader:
            value = (row.get(key) or "").strip()
            if not value:
                continue
            if value in table:
                raise ValueError(f"{path}: {key} {value!r} appears twice")
            table[value] = {c: (row.get(c) or "").strip() for c in columns[1:]}
    return table


def read_roster(path: Path) -> dict[str, dict[str, str]]:
    """student -> {lms_id, name, section, sis_user_id, sis_login_id}. Raises ValueError on a roster
    without a ``student`` column or with a student twice."""
    roster = _read_table(path, "student", ROSTER_COLUMNS, "a roster (our student ids)")
    for student, entry in roster.items():
        entry["lms_id"] = entry["lms_id"] or student
    return roster


def read_assignments(path: Path) -> dict[str, dict[str, str]]:
    """chapter -> {name, lms_id, due}. Raises ValueError without a ``chapter`` column, with a chapter twice,
    or with a due date that is not ISO 8601."""
    from .late import parse_time

    table = _read_table(path, "chapter", ASSIGNMENT_COLUMNS, "an assignments file")
    for chapter, entry in table.items():
        if entry["due"]:
            try:
                parse_time(entry["due"])
            except ValueError:
                raise ValueError(f"{path}: {chapter}'s due date {entry['due']!r} is not a date and time such as "
                                 "2025-03-14 23:59 or 2025-03-14T23:59:00+01:00") from None
    return table


def remember(out: Path, **given) -> dict:
    """What the LMS files of ``out`` are made with: ``roster``, ``assignments``, ``extensions`` and the late
    ``policy``. Those given now (not None) are stored in ``OUT/.dlcourse/lms.json``, replacing what was there;
    those not given are the stored ones. Returns them all (a missing one is None)."""
    from .grades import write_atomic

    path = Path(out) / ".dlcourse" / "lms.json"
    stored = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    now = {k: v for k, v in given.items() if v is not None}
    if now:
        stored.update(now)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(stored, indent=1, sort_keys=True, ensure_ascii=False))
    return {k: stored.get(k) for k in ("roster", "assignments", "extensions", "policy")}


def _submitted(rows) -> set[str]:
    return {r["student"] for r in rows if r["status"] != "missing"}


def account(rows: list[dict], roster: dict | None) -> Accounting:
    if roster is None:
        return Accounting()
    students = sorted({r["student"] for r in rows})
    return Accounting([s for s in students if s not in roster], sorted(set(roster) - _submitted(rows)))


def exported_score(row: dict) -> float | None:
    """The grade an LMS gets for a grades.csv row: its score after any late penalty; None (an empty cell) when
    the row is no grade (``error``, ``unreadable``, ``missing``)."""
    if row["status"] not in GRADED:
        return None
    return max(0.0, float(row["score"]) - float(row.get("penalty") or 0))


def wide(rows: list[dict]) -> tuple[list[str], dict[str, dict[str, float | None]], dict[str, float]]:
    """(chapters, student -> chapter -> exported score or None, chapter -> max score) from grades.csv rows."""
    chapters = sorted({r["chapter"] for r in rows})
    scores: dict[str, dict[str, float | None]] = {}
    maxima: dict[str, float] = {}
    for r in rows:
        scores.setdefault(r["student"], {})[r["chapter"]] = exported_score(r)
        maxima[r["chapter"]] = max(maxima.get(r["chapter"], 0.0), float(r["max_score"] or 0))
    return chapters, scores, maxima


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def column_names(chapters: list[str], assignments: dict | None) -> dict[str, tuple[str, str]]:
    """chapter -> (Canvas's column header, Moodle's): the assignment's ``Name (lms_id)`` (Canvas's export form,
    which its import matches to that assignment), or its name, else the chapter id."""
    names = {}
    for c in chapters:
        a = (assignments or {}).get(c) or {}
        name = a.get("name") or c
        names[c] = (f"{name} ({a['lms_id']})" if a.get("lms_id") else name, name)
    return names


def write_csv(path: Path, header: list[str], rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        f.write(spreadsheet.write_rows(header, rows))


def write_exports(rows: list[dict], folder: Path, roster: dict | None = None,
                  assignments: dict | None = None) -> dict[str, Path]:
    """grades_wide.csv, canvas.csv and moodle.csv in ``folder``; returns name -> path."""
    chapters, scores, maxima = wide(rows)
    names = column_names(chapters, assignments)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.csv" for name in ("grades_wide", "canvas", "moodle")}
    people = sorted(set(scores) | set(roster or ()))
    entry = (lambda s: roster.get(s)) if roster is not None else (lambda s: {"lms_id": s, "name": ""})

    def grades(s):
        return [_num(scores.get(s, {}).get(c)) for c in chapters]

    def total(s):
        got = [v for v in scores.get(s, {}).values() if v is not None]
        return _num(sum(got)) if got else ""

    write_csv(paths["grades_wide"], ["student", "lms_id", "name", *chapters, "total"],
              [[s, (entry(s) or {}).get("lms_id", ""), (entry(s) or {}).get("name", ""), *grades(s), total(s)]
               for s in people])
    exported = [s for s in people if entry(s)]
    write_csv(paths["canvas"], ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                                *(names[c][0] for c in chapters)],
              [["Points Possible", "", "", "", "", *[_num(maxima[c]) for c in chapters]]]
              + [[entry(s)["name"] or s, entry(s)["lms_id"], entry(s).get("sis_user_id", ""),
                  entry(s).get("sis_login_id", ""), entry(s).get("section", ""), *grades(s)] for s in exported])
    write_csv(paths["moodle"], ["ID number", "Full name", *(names[c][1] for c in chapters)],
              [[entry(s)["lms_id"], entry(s)["name"] or s, *grades(s)] for s in exported])
    return paths
