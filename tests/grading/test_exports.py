"""The LMS files and the late policy (``grading.exports``, ``grading.late``), from grades.csv rows: no grading."""

from __future__ import annotations

import os
import time
import zipfile

import pytest
from classes import read_csv

from dlcourse.grading import exports, late, report

CH, CH1 = "ch00_start", "ch01_gradient_descent"


def row(student, status="graded", score="4", chapter=CH, **extra):
    return {"student": student, "chapter": chapter, "score": score, "max_score": "6", "status": status,
            "rel_error": score, "detail": extra.pop("detail", ""), "failures": "", **extra}


ROWS = [row("ana"), row("ben", "error", "0", detail="the kernel died"), row("cy", "unreadable", "0"),
        row("dee", "missing", "0"), row("eve", "timeout", "3")]


def test_rows_without_a_grade_are_empty_in_every_lms_file_never_zero(tmp_path):
    exports.write_exports(ROWS, tmp_path)
    for name, key in (("canvas", "ID"), ("moodle", "ID number")):
        got = {r[key]: r[CH] for r in read_csv(tmp_path / f"{name}.csv") if r[key]}
        assert got == {"ana": "4", "ben": "", "cy": "", "dee": "", "eve": "3"}, name
    wide = {r["student"]: r for r in read_csv(tmp_path / "grades_wide.csv")}
    assert (wide["ben"][CH], wide["ben"]["total"]) == ("", "")


def test_statistics_leave_out_rows_without_a_grade_and_the_report_lists_them_first():
    stats = report.chapter_statistics(ROWS, ["rel_error"])
    assert sorted(stats["fractions"]) == [0.5, 4 / 6], "only ana and eve are grades"
    html = report._attention_section(ROWS, exports.Accounting(), None)
    assert html.index("ben") < html.index("cy") < html.index("dee") and "the kernel died" in html
    assert "ana" not in html and "eve" not in html


def test_canvas_and_moodle_columns_are_the_instructors_assignments(tmp_path):
    names = tmp_path / "assignments.csv"
    names.write_text("chapter,name,lms_id,due\nch00_start,Start here,4711,2025-03-14 23:59\n"
                     "ch01_gradient_descent,Gradient descent,,\n")
    rows = ROWS + [row("ana", chapter=CH1)]
    exports.write_exports(rows, tmp_path, None, exports.read_assignments(names))
    assert list(read_csv(tmp_path / "canvas.csv")[0])[5:] == ["Start here (4711)", "Gradient descent"]
    assert list(read_csv(tmp_path / "moodle.csv")[0])[2:] == ["Start here", "Gradient descent"]
    names.write_text("chapter,name,due\nch00_start,Start,next friday-ish\n")
    with pytest.raises(ValueError, match="ch00_start's due date 'next friday-ish' is not a date"):
        exports.read_assignments(names)


def test_the_roster_and_assignments_given_once_are_kept_for_a_later_run(tmp_path):
    roster = {"ana": {"lms_id": "1001", "name": "Ana", "section": "", "sis_user_id": "", "sis_login_id": ""}}
    kept = exports.remember(tmp_path, roster=roster, assignments={CH: {"name": "Start here", "lms_id": "9"}})
    again = exports.remember(tmp_path)  # the late re-grade: no --roster, no --assignments
    assert again["roster"] == kept["roster"] == roster and again["assignments"][CH]["lms_id"] == "9"
    exports.write_exports(ROWS, tmp_path / "r", again["roster"], again["assignments"])
    canvas = read_csv(tmp_path / "r" / "canvas.csv")
    assert [r["ID"] for r in canvas[1:]] == ["1001"], "ben, cy, dee, eve are not on the roster: not in canvas.csv"
    assert "Start here (9)" in canvas[0]


def test_late_work_is_penalised_per_day_after_the_extension():
    rows = [row("ana", submitted="2025-03-15 10:00:00 UTC"),  # 10 h 1 min late: one day
            row("ben", submitted="2025-03-17 00:30:00 UTC"),  # 48.5 h late, 24 h extension: 24.5 h, two days
            row("cy", submitted="2025-03-14 20:00:00 UTC"),  # on time
            row("dee", submitted=late.CANVAS_LATE),  # Canvas says late
            row("eve", "error", "0", submitted="2025-03-20 00:00:00 UTC")]  # late, but no grade
    n = late.apply(rows, {CH: "2025-03-14T23:59:00+00:00"}, {f"ben/{CH}": 24}, late.Policy(per_day=10))
    got = {r["student"]: (r["late_hours"], r["extension_hours"], r["penalty"]) for r in rows}
    assert got == {"ana": ("10.02", "", "0.6"), "ben": ("24.52", "24", "1.2"), "cy": ("", "", ""),
                   "dee": ("late (Canvas)", "", "0.6"), "eve": ("120", "", "")} and n == 4
    assert [exports.exported_score(r) for r in rows] == [pytest.approx(3.4), pytest.approx(2.8), 4.0,
                                                         pytest.approx(3.4), None]
    assert late.Policy(per_day=10, grace=15).penalty(0.2, 6) == 0, "12 minutes late, 15 of grace"


def test_when_a_notebook_was_handed_in_is_read_from_the_exchange_moodle_or_canvas(tmp_path):
    ours = tmp_path / "ana" / CH
    ours.mkdir(parents=True)
    (ours / f"{CH}.ipynb").write_text("{}")
    (ours / "timestamp.txt").write_text("2025-03-15 10:00:00.123456 UTC")  # nbgrader submit's
    assert late.submitted_at(ours / f"{CH}.ipynb") == "2025-03-15 10:00:00 UTC"
    canvas = tmp_path / f"anaames_LATE_101_5000_{CH}.ipynb"
    canvas.write_text("{}")
    assert late.submitted_at(canvas) == late.CANVAS_LATE
    on_time = tmp_path / f"anaames_101_5000_{CH}.ipynb"
    on_time.write_text("{}")
    assert late.submitted_at(on_time) == ""
    moodle = tmp_path / "Ana Ames_101_assignsubmission_file_" / f"{CH}.ipynb"
    moodle.parent.mkdir()
    moodle.write_text("{}")
    stamp = 1742032800  # 2025-03-15 10:00:00 UTC
    os.utime(moodle, (stamp, stamp))
    assert late.submitted_at(moodle) == "2025-03-15 10:00:00 UTC"
