"""Gradebook files an LMS imports, from grades.csv and a roster.

- ``grades_wide.csv``: a row per student, a column per chapter (its score), and the total.
- ``canvas.csv``: the layout of Canvas's own gradebook export, which its import reads back
  ("How do I import grades in the Gradebook?", Canvas Instructor Guide): ``Student, ID, SIS User ID,
  SIS Login ID, Section``, then a column per assignment (here a chapter id), and a ``Points Possible``
  row under the header. Canvas matches a row to a student by ``ID`` (Canvas's user id) or the SIS ids.
- ``moodle.csv``: for Moodle's CSV grade import ("Grade import", MoodleDocs): an ``ID number`` column
  to map to a user field ("Identify user by": ID number, email address or username), ``Full name``,
  and a column per chapter to map to a grade item.

The roster (``--roster roster.csv``) maps our student ids (the folder or file names the submissions
came in) to the LMS's: the column ``student`` is ours, ``lms_id`` the LMS's id (the value Moodle maps on,
or Canvas's user ID), ``name``, and optionally ``section``, ``sis_user_id``, ``sis_login_id``. Without a
roster the LMS id is our student id. With one, a student missing from it is left out of canvas.csv and
moodle.csv (there is no id to give) and listed in the report; a roster entry without a submission gets
a row with empty grades, and is listed too. grades_wide.csv has every student.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

ROSTER_COLUMNS = ("student", "lms_id", "name", "section", "sis_user_id", "sis_login_id")


@dataclass
class Accounting:
    """Who is where: students of grades.csv missing from the roster, roster entries without a submission."""

    not_in_roster: list[str] = field(default_factory=list)
    without_submission: list[str] = field(default_factory=list)


def read_roster(path: Path) -> dict[str, dict[str, str]]:
    """student -> {lms_id, name, section, sis_user_id, sis_login_id}. Raises ValueError on a roster
    without a ``student`` column or with a student twice."""
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: a roster saved by Excel starts with a BOM
        reader = csv.DictReader(f)
        if "student" not in (reader.fieldnames or []):
            raise ValueError(f"{path}: a roster needs a 'student' column (our student ids); "
                             f"its columns are {reader.fieldnames}. Expected: {', '.join(ROSTER_COLUMNS)}")
        roster = {}
        for row in reader:
            student = (row.get("student") or "").strip()
            if not student:
                continue
            if student in roster:
                raise ValueError(f"{path}: student {student!r} appears twice")
            entry = {c: (row.get(c) or "").strip() for c in ROSTER_COLUMNS[1:]}
            entry["lms_id"] = entry["lms_id"] or student
            roster[student] = entry
    return roster


def _submitted(rows) -> set[str]:
    return {r["student"] for r in rows if r["status"] != "missing"}


def account(rows: list[dict], roster: dict | None) -> Accounting:
    if roster is None:
        return Accounting()
    students = sorted({r["student"] for r in rows})
    return Accounting([s for s in students if s not in roster], sorted(set(roster) - _submitted(rows)))


def wide(rows: list[dict]) -> tuple[list[str], dict[str, dict[str, float]], dict[str, float]]:
    """(chapters, student -> chapter -> score, chapter -> max score) from grades.csv rows."""
    chapters = sorted({r["chapter"] for r in rows})
    scores: dict[str, dict[str, float]] = {}
    maxima: dict[str, float] = {}
    for r in rows:
        scores.setdefault(r["student"], {})[r["chapter"]] = float(r["score"])
        maxima[r["chapter"]] = max(maxima.get(r["chapter"], 0.0), float(r["max_score"] or 0))
    return chapters, scores, maxima


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def write_csv(path: Path, header: list[str], rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def write_exports(rows: list[dict], folder: Path, roster: dict | None = None) -> dict[str, Path]:
    """grades_wide.csv, canvas.csv and moodle.csv in ``folder``; returns name -> path."""
    chapters, scores, maxima = wide(rows)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.csv" for name in ("grades_wide", "canvas", "moodle")}
    people = sorted(set(scores) | set(roster or ()))
    entry = (lambda s: roster.get(s)) if roster is not None else (lambda s: {"lms_id": s, "name": ""})

    def grades(s):
        return [_num(scores.get(s, {}).get(c)) for c in chapters]

    def total(s):
        return _num(sum(scores[s].values())) if s in scores else ""

    write_csv(paths["grades_wide"], ["student", "lms_id", "name", *chapters, "total"],
           [[s, (entry(s) or {}).get("lms_id", ""), (entry(s) or {}).get("name", ""), *grades(s), total(s)]
            for s in people])
    exported = [s for s in people if entry(s)]
    write_csv(paths["canvas"], ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *chapters],
           [["Points Possible", "", "", "", "", *[_num(maxima[c]) for c in chapters]]]
           + [[entry(s)["name"] or s, entry(s)["lms_id"], entry(s).get("sis_user_id", ""),
               entry(s).get("sis_login_id", ""), entry(s).get("section", ""), *grades(s)] for s in exported])
    write_csv(paths["moodle"], ["ID number", "Full name", *chapters],
           [[entry(s)["lms_id"], entry(s)["name"] or s, *grades(s)] for s in exported])
    return paths
