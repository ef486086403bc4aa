"""The ``dlcourse`` command: check, grade's argument errors, report."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest
from classes import (
    CH,
    POINTS,
    TOTAL,
    answered,
    read_csv,
    student_nb,
)

from dlcourse import grading
from dlcourse.grading import synthetic

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the grading sandbox (bwrap) is Linux only")


def test_cli_report_on_a_generated_class(tmp_path):
    students = synthetic.make_class(tmp_path, 60, copy_every=20)
    proc = subprocess.run([sys.executable, "-m", "dlcourse.cli", "report", str(tmp_path)], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    pairs = read_csv(tmp_path / "report" / "similarity.csv")
    planted = {(students[i - 1], students[i]) for i in range(19, 60, 20)}  # each 20th copies the one before
    for chapter in {r["chapter"] for r in grading.read_grades_csv(tmp_path / "grades.csv")}:
        flagged = {(r["student_a"], r["student_b"]) for r in pairs if r["chapter"] == chapter and r["flagged"] == "yes"}
        copied = {(a, b) for a, b in planted if (tmp_path / "answers" / b / f"{chapter}.py").is_file()
                  and (tmp_path / "answers" / a / f"{chapter}.py").is_file()}
        assert flagged == copied, chapter
    bad = subprocess.run([sys.executable, "-m", "dlcourse.cli", "report", str(tmp_path), "--similarity-threshold", "7"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "threshold" in bad.stderr


def test_cli_check_prints_a_table_and_exits_0(tmp_path):
    nb = tmp_path / f"{CH}.ipynb"
    nbformat.write(answered(student_nb(), numerical_gradient="def numerical_gradient(f, x, h=1e-5):\n    return x\n"), nb)
    proc = subprocess.run([sys.executable, "-m", "dlcourse.cli", "check", str(nb)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert f"{POINTS['rel_error']:g} / {TOTAL:g} points" in proc.stdout
    lines = {ln.split()[0]: ln for ln in proc.stdout.splitlines() if ln.startswith("  ") and len(ln.split()) > 1}
    assert "passed" in lines["rel_error"] and "FAILED" in lines["numerical_gradient"]
    assert "AssertionError" in lines["numerical_gradient"] or "shape" in lines["numerical_gradient"]


def test_cli_grade_rejects_bad_arguments(tmp_path):
    bad = subprocess.run([sys.executable, "-m", "dlcourse.cli", "grade", str(tmp_path / "nope"), "--out",
                          str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no such folder" in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "dlcourse.cli", "grade", str(tmp_path), "--out", str(tmp_path / "o"),
                          "--chapter", "ch99"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown chapter" in bad.stderr


def test_cli_grade_and_report_errors_escape_control_characters(tmp_path, monkeypatch, capsys):
    """An error `dlcourse grade` or `dlcourse report` prints may quote a student's id or file name (issue 27): its
    ESC and BEL are shown escaped on the instructor's terminal; its line breaks are kept."""
    from dlcourse import cli
    from dlcourse.grading import batch, report

    evil = "ana\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J"

    def fails(*args, **kwargs):
        raise ValueError(f"cannot read {evil}.ipynb\nsecond line")

    monkeypatch.setattr(batch, "grade_class", fails)
    monkeypatch.setattr(report, "build_report", fails)
    (tmp_path / "subs").mkdir()
    assert cli.main(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out"), "--no-sandbox"]) == 2
    assert cli.main(["report", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    for command in ("grade", "report"):
        assert f"dlcourse {command}: cannot read ana\\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b[2J.ipynb\nsecond line" in err
