"""JupyterLab's "Check my grade" button (dlcourse.lab), in a real browser, as a learner uses it.

Chapter 0's student notebook with the solution's answers is put in a folder of the course (so the course's
hidden tests apply) and opened. In JupyterLab the learner replaces ``numerical_gradient`` with a wrong one
whose error message is HTML, and clicks the button without saving. The button must save the notebook, and
the dialog must show the grade of the edited notebook (``rel_error`` passed, ``numerical_gradient`` FAILED with
its message), that message as text: no element made from it, no script run.

How long a click takes to show the grade is printed (the first check and a second one), not asserted: speed
is measured in ``make bench``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import nbformat

from dlcourse import notebooks

ROOT = notebooks.course_root()
CH = "ch00_start"
FOLDER = Path(__file__).resolve().parent / "screenshots" / "check-button"  # ignored by git, inside the course
INJECTED = '<img src=x onerror="window.__dlcourse_pwned = 1">'
WRONG = f"def numerical_gradient(f, x, h=1e-5):\n    raise ValueError('{INJECTED}')\n"

READ_REPORT = """
() => {
  const report = document.querySelector('.jp-Dialog .dlcourse-check-report');
  if (!report) return null;
  return {
    summary: report.querySelector('.dlcourse-check-summary').textContent,
    rows: Array.from(report.querySelectorAll('tr')).slice(1).map(tr => Array.from(tr.children).map(td => td.textContent)),
    messages: Array.from(report.querySelectorAll('.dlcourse-check-message')).map(m => m.textContent),
    elements: report.querySelectorAll('img, script, iframe, object').length,
    pwned: window.__dlcourse_pwned === 1,
  };
}
"""


def _answered() -> nbformat.NotebookNode:
    solution = nbformat.read(notebooks.solution_path(CH, ROOT), as_version=4)
    answers = {c.metadata.nbgrader["grade_id"]: c.source for c in solution.cells if notebooks.is_answer_cell(c)}
    nb = nbformat.read(notebooks.student_path(CH, ROOT), as_version=4)
    for cell in nb.cells:
        if notebooks.is_answer_cell(cell):
            cell.source = answers[cell.metadata.nbgrader["grade_id"]]
    return nb


def _click_and_read(page, timeout_s: float = 240) -> tuple[dict, float]:
    started = time.monotonic()
    page.locator(".dlcourse-check-button").click()
    page.locator(".jp-Dialog .dlcourse-check-report, .jp-Dialog .dlcourse-check-error").first.wait_for(
        timeout=timeout_s * 1000)
    seconds = time.monotonic() - started
    error = page.locator(".jp-Dialog .dlcourse-check-error")
    assert error.count() == 0, f"the check did not run: {error.first.text_content()}"
    return page.evaluate(READ_REPORT), seconds


def test_check_my_grade_saves_grades_and_shows_the_table(page, lab):
    FOLDER.mkdir(parents=True, exist_ok=True)
    path = FOLDER / f"{CH}.ipynb"
    nbformat.write(_answered(), path)
    try:
        rel = path.relative_to(lab.root).as_posix()
        page.goto(lab.lab_url(rel), timeout=120_000)
        button = page.locator(".dlcourse-check-button")
        button.wait_for(timeout=120_000)
        assert button.text_content() == "Check my grade"

        # the learner's edit, in the browser only: numerical_gradient made wrong, the notebook not saved
        editor = page.locator(".jp-CodeCell", has_text="def numerical_gradient").first.locator(".cm-content")
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(WRONG)
        page.keyboard.press("Escape")
        assert "__dlcourse_pwned" not in path.read_text(), "the notebook was saved before the button was clicked"

        report, first = _click_and_read(page)
        rows = {row[0]: row for row in report["rows"]}
        print(f"\n[browser] Check my grade: {report['summary']!r}, shown {first:.1f} s after the click")
        assert report["summary"] == f"{CH}: graded, 3 / 6 points", report
        assert rows["rel_error"][1:] == ["3 / 3", "passed"], rows
        assert rows["numerical_gradient"][1] == "0 / 3" and rows["numerical_gradient"][2].startswith("FAILED"), rows
        assert any("raised ValueError" in m and INJECTED in m for m in report["messages"]), report["messages"]
        assert report["elements"] == 0 and not report["pwned"], "the message was put in the page as HTML"
        assert "__dlcourse_pwned" in path.read_text(), "the button did not save the notebook"
        page.screenshot(path=str(FOLDER.parent / "check-my-grade.png"))

        page.locator(".jp-Dialog button", has_text="Close").click()
        again, second = _click_and_read(page)
        print(f"[browser] a second check: {again['summary']!r}, shown {second:.1f} s after the click")
        assert again["summary"] == report["summary"] and again["rows"] == report["rows"]
    finally:
        shutil.rmtree(FOLDER, ignore_errors=True)  # with the .ipynb_checkpoints JupyterLab leaves behind
