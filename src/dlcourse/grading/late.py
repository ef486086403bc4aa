"""Late work: when a notebook was handed in, its chapter's due date, a student's extension, and the penalty.

- When (``submitted_at``): nbgrader's exchange timestamp (``timestamp.txt`` beside the notebook, written by
  ``nbgrader submit`` and kept by ``nbgrader collect``); in a Moodle export, the file's time (Moodle's zip
  stores each file's modification time, which is its submission time); in a Canvas export only the ``_LATE``
  Canvas puts in the file name (``LATE``: late by an unknown time). Recorded in grades.csv's ``submitted``.
- The due date: the ``due`` column of the assignments file (``--assignments``), else the chapter's
  ``duedate`` in the course's nbgrader gradebook (nbgrader's own, set with ``nbgrader db assignment add
  ID --duedate ...`` or the formgrader). An extension: the extensions file (``--extensions``: ``student,
  chapter, hours``), else the submission's ``extension`` in the gradebook, as nbgrader's own
  ``Submission.extension`` is.
- The penalty (``Policy``): ``--late-penalty P``: P % of the chapter's points for each day or part of a day late
  (after ``grace`` minutes), never below zero; 0 (the default) marks late work without a penalty, as nbgrader's
  ``LateSubmissionPlugin`` does by default. A Canvas ``LATE`` counts as one day.

``apply`` fills grades.csv's ``late_hours``, ``extension_hours`` and ``penalty``; the exports give the score
minus the penalty; the report lists every late row.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

CANVAS_LATE = "LATE"  # submitted: Canvas says late, but not when


def parse_time(text: str) -> datetime:
    """A date and time as naive UTC (nbgrader's convention, ``nbgrader.utils.parse_utc``): ISO 8601 or
    nbgrader's ``2025-03-14 12:00:00.000000 UTC``; a time without a zone is UTC. ValueError otherwise."""
    from nbgrader.utils import parse_utc

    try:
        parsed = parse_utc(text.strip())
    except (ValueError, OverflowError, TypeError) as err:
        raise ValueError(f"not a date and time: {text!r}") from err
    if parsed is None:
        raise ValueError(f"not a date and time: {text!r}")
    return parsed


def _iso(t: datetime) -> str:
    return t.replace(microsecond=0).isoformat(sep=" ") + " UTC"


def submitted_at(path: Path | None) -> str:
    """When a submission (its notebook's path, as intake found it) was handed in, as grades.csv's ``submitted``:
    a UTC time, ``LATE`` (a Canvas export's late file), or '' when nothing tells."""
    if path is None:
        return ""
    path = Path(path)
    stamp = path.parent / "timestamp.txt"
    if stamp.is_file():
        try:
            return _iso(parse_time(stamp.read_text(encoding="utf-8")))
        except ValueError:
            return ""
    from .intake import CANVAS, MOODLE

    if (m := CANVAS.match(path.name)) and re.search(r"_late_\d+_\d+_", path.name, re.IGNORECASE):
        return CANVAS_LATE
    if m is None and any(MOODLE.match(part) for part in path.parts[-2:]):
        return _iso(datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc).replace(tzinfo=None))
    return ""


@dataclass(frozen=True)
class Policy:
    """The late penalty: ``per_day`` percent of the chapter's points per day or part of one, after ``grace`` minutes."""

    per_day: float = 0.0
    grace: float = 0.0

    def penalty(self, hours_late: float, max_score: float) -> float:
        if hours_late <= self.grace / 60 or self.per_day <= 0:
            return 0.0
        return min(max_score, max_score * self.per_day / 100 * math.ceil(hours_late / 24))


def read_extensions(path: Path) -> dict[str, float]:
    """``student/chapter`` -> hours of extension, from a CSV with columns student, chapter, hours."""
    import csv

    out = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not {"student", "chapter", "hours"} <= set(reader.fieldnames or []):
            raise ValueError(f"{path}: an extensions file needs the columns student, chapter, hours; "
                             f"its columns are {reader.fieldnames}")
        for n, row in enumerate(reader, start=2):
            try:
                out[f"{row['student'].strip()}/{row['chapter'].strip()}"] = float(row["hours"])
            except ValueError:
                raise ValueError(f"{path}, line {n}: hours must be a number, got {row['hours']!r}") from None
    return out


def _hours(x: float) -> str:
    return f"{x:.4g}"


def apply(rows: list[dict], due: dict[str, str], extensions: dict[str, float], policy: Policy) -> int:
    """Fill each row's ``late_hours`` (empty when on time or not known), ``extension_hours`` and ``penalty`` from
    its ``submitted``, its chapter's ``due`` date (chapter -> time), the ``extensions`` (``student/chapter`` ->
    hours) and ``policy``. Only rows that are a grade get a penalty. Returns how many rows are late."""
    late = 0
    for r in rows:
        ext = extensions.get(f"{r['student']}/{r['chapter']}", 0.0)
        r["extension_hours"] = _hours(ext) if ext else ""
        r["late_hours"], r["penalty"] = "", ""
        when, deadline = r.get("submitted", ""), due.get(r["chapter"])
        if not when or r["status"] == "missing":
            continue
        if when == CANVAS_LATE:
            hours = 1e-9  # late, by an unknown time: the first day's penalty
            r["late_hours"] = "late (Canvas)"
        elif deadline:
            hours = (parse_time(when) - (parse_time(deadline) + timedelta(hours=ext))).total_seconds() / 3600
            if hours <= 0:
                continue
            r["late_hours"] = _hours(hours)
        else:
            continue
        late += 1
        if r["status"] in ("graded", "timeout"):
            r["penalty"] = f"{policy.penalty(hours, float(r['max_score'] or 0)):g}"
    return late


def policy_dict(policy: Policy) -> dict:
    return asdict(policy)
