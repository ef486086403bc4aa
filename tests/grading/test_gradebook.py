"""The course's nbgrader gradebook, as the formgrader and plain nbgrader commands use it (``dlcourse.grading.gradebook``).

An instructor may grade through nbgrader itself: ``nbgrader autograde`` (or the formgrader's Autograde button)
with the course's configuration must be the two-kernel grader (``SecureAutograde``), never nbgrader's own
execution in the student's kernel, and ``dlcourse grade <course>/submitted`` must leave the gradebook and the
``autograded/`` folders as the formgrader expects them, keeping a grade given there by hand.
"""

from __future__ import annotations

import csv
import html
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
from classes import CH, POINTS, ROOT, TOTAL, answered, student_nb

from dlcourse import notebooks
from dlcourse.grading import gradebook

BIN = Path(sys.executable).parent
# passes every check of its exercise in its own kernel (where plain nbgrader would run the tests), and is wrong
PATCHED_CHECK = """
from dlcourse import check
check.assert_close = lambda *args, **kwargs: None
def rel_error(a, b):
    return 0.0
"""
# right on the visible tests' inputs; on any other (the hidden tests'), an error that quotes them
QUOTES_HIDDEN_INPUTS = """
def rel_error(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape not in [(2, 3), (3,), (), (2,)]:
        raise ValueError("HIDDEN-" + "INPUT " + repr(a))
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
"""


def make_course(tmp_path: Path, students: dict) -> Path:
    """A course folder holding chapter 0 (solution, student version, configuration), with ``students``
    (name -> notebook) in ``submitted/`` as ``nbgrader collect`` leaves them, and the instructor's
    ``nbgrader_config.py`` that loads the course's (as ``dlcourse classroom`` writes it)."""
    course = tmp_path / "course"
    for part in ("solutions", "notebooks"):
        shutil.copytree(ROOT / part / CH, course / part / CH)
    shutil.copytree(ROOT / "autograde", course / "autograde")
    (course / "nbgrader_config.py").write_text(
        f"load_subconfig({str(course / 'autograde' / 'nbgrader_config.py')!r})  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(course)!r}  # noqa: F821\n")
    for name, nb in students.items():
        folder = course / "submitted" / name / CH
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{CH}.ipynb")
        (folder / "timestamp.txt").write_text("2026-03-15 10:00:00.000000 UTC")
        (folder / "submission_secret.txt").write_text(f"secret-of-{name}")
    return course


def run(args: list[str], cwd: Path) -> str:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(args)} exited with {proc.returncode}:\n{out[-3000:]}"
    return out


def scores(course: Path) -> dict[str, tuple[float, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {s.student_id: (s.score, s.max_score) for s in gb.assignment_submissions(CH)}


def test_plain_nbgrader_autograde_is_the_two_kernel_grader(tmp_path):
    """``nbgrader autograde`` in the course: an unanswered notebook earns 0 (it earned full marks when
    SecureAutograde was configured but off: nothing ran, so no test cell had an error), and a monkeypatched
    ``assert_close`` earns nothing for its exercise (in the student's own kernel it passes every test)."""
    course = make_course(tmp_path, {"carol": student_nb(), "mallory": answered(student_nb(), rel_error=PATCHED_CHECK),
                                    "quinn": answered(student_nb(), rel_error=QUOTES_HIDDEN_INPUTS)})
    gradebook._ensure_assignment(course, CH)
    out = run([str(BIN / "nbgrader"), "autograde", CH, "--force"], cwd=course)
    got = scores(course)
    quinn = got.pop("quinn")
    assert got == {"carol": (0.0, TOTAL), "mallory": (POINTS["numerical_gradient"], TOTAL)}, (
        f"nbgrader autograde with the course's configuration gave {got}: carol answered nothing, mallory only "
        f"numerical_gradient honestly\n{out[-2000:]}")
    assert quinn[0] < TOTAL, f"quinn's rel_error fails every hidden test, yet scored {quinn}"
    graded = nbformat.read(course / "autograded" / "carol" / CH / f"{CH}.ipynb", as_version=4)
    errors = [c.metadata.nbgrader["grade_id"] for c in graded.cells if notebooks.is_test_cell(c)
              and any(o.output_type == "error" for o in c.get("outputs", []))]
    assert errors, "carol's autograded notebook has no failing test cell: were the tests run at all?"

    # nbgrader's own feedback, with the course's configuration: what quinn's code made of the hidden inputs (the
    # errors of the hidden parts, in the instructor's autograded notebook) stays out of it
    kept = nbformat.read(course / "autograded" / "quinn" / CH / f"{CH}.ipynb", as_version=4)
    quoted = [html.escape(o.evalue.split(" (line ")[0]) for c in kept.cells if "dlcourse" in c.metadata
              for o in c.outputs[c.metadata["dlcourse"]["hidden_outputs_from"]:] if o.output_type == "error"]
    assert quoted and all("HIDDEN-INPUT" in q for q in quoted), f"quinn's hidden failures are not recorded: {quoted}"
    run([str(BIN / "nbgrader"), "generate_feedback", CH, "--force"], cwd=course)
    page = (course / "feedback" / "quinn" / CH / f"{CH}.html").read_text()
    assert not [q for q in quoted if q in page], f"nbgrader generate_feedback shows the hidden inputs: {quoted}"


def test_dlcourse_grade_fills_the_formgrader_and_keeps_a_grade_given_by_hand(tmp_path):
    from nbgrader.api import Gradebook
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    course = make_course(tmp_path, {"alice": answered(student_nb()), "carol": student_nb()})
    out = tmp_path / "graded"
    roster = tmp_path / "roster.csv"
    roster.write_text("student,lms_id,name\nalice,1001,Alice van Smith\n")  # carol is not on it
    grade = [str(BIN / "dlcourse"), "grade", str(course / "submitted"), "--out", str(out), "--no-report"]
    run([*grade, "--roster", str(roster)], cwd=tmp_path)
    assert scores(course) == {"alice": (TOTAL, TOTAL), "carol": (0.0, TOTAL)}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:  # the formgrader lists "last, first"
        names = {s.id: (s.last_name, s.first_name) for s in gb.students}
    assert names == {"alice": ("Smith", "Alice van"), "carol": ("carol", "")}, (
        f"{names}: nbgrader's formgrader shows a student without names as 'None, None'")
    for student in ("alice", "carol"):
        assert (course / "autograded" / student / CH / f"{CH}.ipynb").is_file(), f"no autograded notebook for {student}"
        assert (course / "feedback" / student / CH / f"{CH}.html").is_file(), f"no feedback to release for {student}"
    api = NbGraderAPI(CourseDirectory(config=notebooks.nbgrader_config(course)))
    assert set(api.get_autograded_students(CH)) == {"alice", "carol"}, (
        "the formgrader would list these submissions as needing autograding")

    # the instructor gives carol 1 point by hand on her first test cell; a re-grade keeps it
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cell = sorted(gb.find_submission_notebook(CH, CH, "carol").grades, key=lambda g: g.name)[0]
        cell.manual_score = 1.0
        gb.db.commit()
    printed = run(grade, cwd=tmp_path)
    assert scores(course)["carol"] == (1.0, TOTAL), "the re-grade overwrote the grade given by hand"
    with open(out / "grades.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["student"] == "carol")
    assert float(row["score"]) == 1.0 and "by hand" in row["detail"], row
    assert "given by hand in the formgrader" in printed, printed[-2000:]

