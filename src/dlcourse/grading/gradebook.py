"""A graded class handed back through nbgrader: scores into the course's gradebook, feedback where
``nbgrader release_feedback`` looks for it.

``dlcourse grade <course>/submitted`` grades what ``nbgrader collect`` gathered, each notebook alone in a
throwaway course (``submission``), so the course's own gradebook learns nothing and its ``feedback/``
folder stays empty: ``nbgrader generate_feedback`` then finds no autograded notebook, and
``release_feedback`` finds no feedback. ``record_collected`` closes that gap for such a run:

- the course's gradebook (``<course>/gradebook.db``) gets the chapter (nbgrader's own
  ``generate_assignment`` records it, into a throwaway release folder so ``notebooks/`` is untouched),
  the students, and one submission each, with an autograded score per test cell, so the formgrader
  shows them;
- each feedback file goes to ``<course>/feedback/<student>/<chapter>/<chapter>.html``, beside the
  ``timestamp.txt`` and ``submission_secret.txt`` that ``nbgrader collect`` put in
  ``submitted/<student>/<chapter>/``: ``release_feedback`` reads both and names the released file after a
  hash of the secret (nbgrader #1712); without the secret it fails (nbgrader #1897).
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

import nbformat

from .. import notebooks

__all__ = ["collected_course", "record_collected", "cell_scores"]


def collected_course(submissions: Path) -> Path | None:
    """The course whose ``submitted/`` folder ``submissions`` is (nbgrader collect's layout), else None."""
    submissions = Path(submissions).resolve()
    if submissions.is_dir() and submissions.name == "submitted" and notebooks.is_course(submissions.parent):
        return submissions.parent
    return None


def cell_scores(result, grade_cells: list[tuple[str, float]]) -> dict[str, float]:
    """Autograded score of each test cell (grade_id -> score), for ``grade_cells`` in notebook order.

    ``result.grades`` (grade_id -> (score, max_score)) is used when the grader reports it. Otherwise an
    exercise's score is given to its cells in notebook order, each up to its points: the visible tests
    first. The exercise totals, which is what grades.csv and the feedback show, are exact either way.
    """
    exact = getattr(result, "grades", None)
    if exact:
        return {name: float(exact[name][0] or 0.0) for name, _ in grade_cells if name in exact}
    from .submission import exercise_of

    left = {ex: float(score) for ex, (score, _) in result.exercises.items()}
    scores = {}
    for name, points in grade_cells:
        ex = exercise_of(name)
        scores[name] = min(points, left.get(ex, 0.0))
        left[ex] = left.get(ex, 0.0) - scores[name]
    return scores


def _ensure_assignment(course: Path, chapter: str) -> None:
    """Record ``chapter`` in the course's gradebook with nbgrader's generate_assignment, unless it is there
    (``nbgrader autograde`` and the formgrader need it too). Its student version goes to a throwaway folder."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.coursedir import CourseDirectory

    notebooks.venv_on_path()  # nbgrader runs the `alembic` command to open its gradebook
    db_url = CourseDirectory(config=notebooks.nbgrader_config(course)).db_url
    with Gradebook(db_url) as gb:
        try:
            gb.find_assignment(chapter)
            return
        except MissingEntry:
            pass
    with tempfile.TemporaryDirectory(prefix="dlg-release-") as tmp:
        notebooks.generate_student_notebooks([chapter], release_dir=Path(tmp), root=course, db_url=db_url)


def record_collected(course: Path, results, feedback_root: Path) -> list[str]:
    """Write ``results`` (``Result``s of a ``dlcourse grade`` run on ``<course>/submitted``) into the course's
    gradebook, and copy the run's feedback (``feedback_root/<student>/<chapter>/<chapter>.html``) to where
    ``nbgrader release_feedback`` expects it. Returns notes for the instructor, one a line.
    """
    from nbgrader.api import Gradebook
    from nbgrader.coursedir import CourseDirectory

    course, feedback_root = Path(course), Path(feedback_root)
    coursedir = CourseDirectory(config=notebooks.nbgrader_config(course))
    graded = [r for r in results if r.status in ("graded", "timeout", "error") and r.exercises]
    notes = []
    order = {}  # chapter -> {grade_id: position of its test cell in the notebook}
    for chapter in sorted({r.chapter for r in graded}):
        _ensure_assignment(course, chapter)
        source = nbformat.read(notebooks.solution_path(chapter, course), as_version=4)
        ids = [c.metadata["nbgrader"]["grade_id"] for c in source.cells if notebooks.is_test_cell(c)]
        order[chapter] = {name: i for i, name in enumerate(ids)}
    with Gradebook(coursedir.db_url) as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy warnings from inside nbgrader's gradebook
        for r in graded:
            submitted = course / "submitted" / r.student / r.chapter
            stamp = submitted / "timestamp.txt"
            gb.update_or_create_student(r.student)
            kwargs = {"timestamp": stamp.read_text().strip()} if stamp.is_file() else {}
            gb.update_or_create_submission(r.chapter, r.student, **kwargs)
            notebook = gb.find_submission_notebook(r.chapter, r.chapter, r.student)
            cells = sorted(notebook.grades, key=lambda g: order[r.chapter].get(g.name, len(order[r.chapter])))
            scores = cell_scores(r, [(g.name, g.max_score) for g in cells])
            for grade in cells:
                grade.auto_score = scores.get(grade.name, 0.0)
                grade.needs_manual_grade = grade.manual_score is not None  # as nbgrader's SaveAutoGrades
            gb.db.commit()

            html = feedback_root / r.student / r.chapter / f"{r.chapter}.html"
            dest = course / "feedback" / r.student / r.chapter
            if not html.is_file():
                notes.append(f"{r.student}/{r.chapter}: no feedback file to hand back")
                continue
            missing = [n for n in ("timestamp.txt", "submission_secret.txt") if not (submitted / n).is_file()]
            if missing:
                notes.append(f"{r.student}/{r.chapter}: {', '.join(missing)} missing in {submitted} (not collected "
                             f"with nbgrader collect?): nbgrader release_feedback cannot hand this feedback back")
                continue
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(html, dest / html.name)
            for name in ("timestamp.txt", "submission_secret.txt"):
                shutil.copyfile(submitted / name, dest / name)
    return notes
