"""The output folder's records (``grading.grades``): merging rows, resume's rule, the journal."""

from __future__ import annotations

import sys

import pytest
from classes import (
    CH,
)

from dlcourse import grading
from dlcourse.grading import grades

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the grading sandbox (bwrap) is Linux only")


def test_merge_rows_replaces_this_batch_and_keeps_the_rest():
    old = [{"student": s, "chapter": c, "score": "1"} for s in ("a", "b") for c in ("ch0", "ch1")]
    new = [{"student": "b", "chapter": "ch1", "score": "9"}, {"student": "c", "chapter": "ch0", "score": "5"}]
    merged = grading.merge_rows(old, new)
    assert [(r["student"], r["chapter"], r["score"]) for r in merged] == [
        ("a", "ch0", "1"), ("a", "ch1", "1"), ("b", "ch0", "1"), ("b", "ch1", "9"), ("c", "ch0", "5")]


def row(student, status="graded", sha="a", chapter=CH, score="1"):
    return {"student": student, "chapter": chapter, "score": score, "max_score": "6", "status": status,
            "detail": "", "sha256": sha}


@pytest.mark.parametrize("previous, sha, force, grade", [
    (None, "a", False, True),  # no row
    (row("ann"), "a", False, False),  # unchanged
    (row("ann"), "b", False, True),  # changed
    (row("ann", status="error"), "a", False, True),  # an error may be transient
    (row("ann", status="timeout"), "a", False, False),  # a timeout is a grade
    (row("ann", status="missing", sha=""), "", False, False),  # still missing
    (row("ann", status="missing", sha=""), "c", False, True),  # handed in since
    (row("ann"), "a", True, True),  # --force
])
def test_resume_grades_what_is_new_changed_or_an_error(previous, sha, force, grade):
    item = grades.Item("ann", CH, None, sha)
    assert grades.needs_grading(item, previous, force) is grade


def test_grades_csv_is_replaced_atomically_and_the_journal_survives_a_torn_line(tmp_path):
    path = tmp_path / "grades.csv"
    grades.write_grades_csv([row("ann"), row("ben")], path, [])
    grades.write_grades_csv([row("cy")], path, ["rel_error"])
    assert [p.name for p in tmp_path.iterdir()] == ["grades.csv"], "no temporary file left"
    assert [r["student"] for r in grades.read_grades_csv(path)] == ["cy"]
    assert grades.read_grades_csv_header(path) == [*grades.FIRST_COLUMNS, "rel_error", *grades.LAST_COLUMNS]
    journal = grades.Journal(tmp_path)
    with journal as book:
        book.append(row("ann"))
        book.append(row("ben"))
    with open(journal.path, "a") as f:
        f.write('{"student": "cy", "chap')  # the client died mid-line
    assert [r["student"] for r in journal.read()] == ["ann", "ben"]
    with journal as book:  # the next run appends after it
        book.append({**row("dan"), "detail": "a line\u2028separator"})  # str.splitlines() would split there
    assert [r["student"] for r in journal.read()] == ["ann", "ben", "dan"]
