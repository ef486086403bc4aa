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

__all__ = ["collected_course", "record_collected", "cell_scores", "write_autograded", "manual_grades",
           "SecureAutograde"]
GRADED = ("graded", "timeout")  # a grade; an error, unreadable or missing row is none (nothing in the gradebook)


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


def names_for_the_formgrader(student: str, name: str = "") -> tuple[str, str]:
    """(first_name, last_name) of a student the gradebook has no name for: the roster's ``name`` (its last word
    the last name), else the student id as the last name. The formgrader lists a student without names as
    "None, None"."""
    words = name.split()
    return (" ".join(words[:-1]), words[-1]) if words else ("", student)


def record_collected(course: Path, results, feedback_root: Path, names: dict[str, str] | None = None) -> list[str]:
    """Write ``results`` (``Result``s of a ``dlcourse grade`` run on ``<course>/submitted``) into the course's
    gradebook, and copy the run's feedback (``feedback_root/<student>/<chapter>/<chapter>.html``) to where
    ``nbgrader release_feedback`` expects it. ``names``: student -> full name (the roster's), for students the
    gradebook has no name for (a name given in the formgrader is kept). Returns notes for the instructor, one a
    line.
    """
    from nbgrader.api import Gradebook
    from nbgrader.coursedir import CourseDirectory

    course, feedback_root = Path(course), Path(feedback_root)
    coursedir = CourseDirectory(config=notebooks.nbgrader_config(course))
    graded = [r for r in results if r.status in GRADED and r.exercises]
    for r in results:  # no grade: nbgrader's formgrader lists it as needing autograding, which it does
        if r.status not in GRADED:
            shutil.rmtree(course / "autograded" / r.student / r.chapter, ignore_errors=True)
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
            student = gb.update_or_create_student(r.student)
            if student.first_name is None and student.last_name is None:
                student.first_name, student.last_name = names_for_the_formgrader(r.student, (names or {}).get(r.student, ""))
            kwargs = {"timestamp": stamp.read_text().strip()} if stamp.is_file() else {}
            gb.update_or_create_submission(r.chapter, r.student, **kwargs)
            notebook = gb.find_submission_notebook(r.chapter, r.chapter, r.student)
            cells = sorted(notebook.grades, key=lambda g: order[r.chapter].get(g.name, len(order[r.chapter])))
            scores = cell_scores(r, [(g.name, g.max_score) for g in cells])
            for grade in cells:  # a manual score given in the formgrader is kept: it overrides auto_score
                grade.auto_score = scores.get(grade.name, 0.0)
                grade.needs_manual_grade = False
            gb.db.commit()
            _copy_autograded(course, r, feedback_root.parent, submitted)

    for r in [r for r in results if r.status not in GRADED + ("missing",)] + graded:  # rejected: why, to the learner
        submitted = course / "submitted" / r.student / r.chapter
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


def write_autograded(out: Path, result) -> None:
    """``OUT/autograded/<student>/<chapter>/<chapter>.ipynb``: nbgrader's autograded notebook of a graded result
    (what the formgrader shows and grades manually), replacing any earlier one; then dropped from ``result``."""
    folder = Path(out) / "autograded" / result.student / result.chapter
    shutil.rmtree(folder, ignore_errors=True)
    data, result.autograded = getattr(result, "autograded", None), None
    if data and result.status in GRADED:
        folder.mkdir(parents=True)
        (folder / f"{result.chapter}.ipynb").write_bytes(data)


def _copy_autograded(course: Path, result, out: Path, submitted: Path) -> None:
    """The autograded notebook of ``OUT/autograded`` into the course's ``autograded/<student>/<chapter>/``, with
    the submission's ``timestamp.txt``: nbgrader counts a submission autograded only when that folder exists and
    the gradebook's timestamp is the submitted one (``NbGraderAPI.get_autograded_students``)."""
    source = out / "autograded" / result.student / result.chapter / f"{result.chapter}.ipynb"
    dest = course / "autograded" / result.student / result.chapter
    if not source.is_file():
        return
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    shutil.copyfile(source, dest / source.name)
    if (submitted / "timestamp.txt").is_file():
        shutil.copyfile(submitted / "timestamp.txt", dest / "timestamp.txt")


def manual_grades(course: Path, rows: list[dict]) -> list[str]:
    """Bring the grades given by hand in the formgrader (nbgrader's ``manual_score``, which overrides the
    autograded score) into ``rows`` (grades.csv's, changed in place): the score and the exercises' columns are
    the gradebook's, and ``detail`` says so. Returns the ``student/chapter`` of each row changed."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.coursedir import CourseDirectory

    from .submission import _fmt, exercise_of

    changed = []
    with Gradebook(CourseDirectory(config=notebooks.nbgrader_config(course)).db_url) as gb, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for row in rows:
            if row["status"] not in GRADED:
                continue
            try:
                notebook = gb.find_submission_notebook(row["chapter"], row["chapter"], row["student"])
            except MissingEntry:
                continue
            grades = list(notebook.grades)
            if not any(g.manual_score is not None for g in grades):
                continue
            by_exercise: dict[str, float] = {}
            for g in grades:
                by_exercise[exercise_of(g.name)] = by_exercise.get(exercise_of(g.name), 0.0) + float(g.score or 0)
            row.update({ex: _fmt(v) for ex, v in by_exercise.items() if ex in row})
            row["score"] = _fmt(sum(by_exercise.values()))
            note = "graded by hand in the formgrader"
            if note not in row.get("detail", ""):
                row["detail"] = f"{row['detail']}; {note}" if row.get("detail") else note
            changed.append(f"{row['student']}/{row['chapter']}")
    return changed


def bring_back_manual_grades(course: Path, out: Path) -> list[str]:
    """``manual_grades`` into ``OUT/grades.csv`` (rewritten when any changed) and the feedback made again for
    those rows; returns notes."""
    from .grades import (LAST_COLUMNS, FIRST_COLUMNS, read_grades_csv, read_grades_csv_header, record_scores,
                         write_grades_csv)

    path = Path(out) / "grades.csv"
    rows = read_grades_csv(path)
    changed = manual_grades(course, rows)
    if not changed:
        return []
    header = read_grades_csv_header(path)
    write_grades_csv(rows, path, [c for c in header if c not in FIRST_COLUMNS and c not in LAST_COLUMNS])
    record_scores(out, [r for r in rows if f"{r['student']}/{r['chapter']}" in changed])  # feedback made below
    return ([f"{len(changed)} grade(s) given by hand in the formgrader are in grades.csv: {', '.join(changed)}"]
            + refresh_feedback(course, out, changed))


def due_dates(course: Path) -> dict[str, str]:
    """chapter -> its due date in the course's nbgrader gradebook (nbgrader's ``Assignment.duedate``)."""
    from nbgrader.api import Gradebook
    from nbgrader.coursedir import CourseDirectory

    with Gradebook(CourseDirectory(config=notebooks.nbgrader_config(course)).db_url) as gb, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {a.name: a.duedate.isoformat(sep=" ") for a in gb.assignments if a.duedate is not None}


def refresh_feedback(course: Path, out: Path, keys: list[str]) -> list[str]:
    """nbgrader's generate_feedback in the course for ``keys`` (``student/chapter``: grades changed by hand), so
    the feedback shows the gradebook's scores; copied to ``OUT/feedback``. Returns notes for what failed."""
    from nbgrader.converters import GenerateFeedback

    from .submission import _run

    notes = []
    notebooks.venv_on_path()
    config = notebooks.nbgrader_config(course)
    config.CourseDirectory.root = str(course)
    for key in keys:
        student, chapter = key.split("/", 1)
        with notebooks.environment(NBGRADER_EXECUTION="autograde"):
            fed = _run(GenerateFeedback, config, chapter, student_id=student)
        html = course / "feedback" / student / chapter / f"{chapter}.html"
        if fed["success"] and html.is_file():
            dest = Path(out) / "feedback" / student / chapter
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(html, dest / html.name)
        else:
            notes.append(f"{key}: the feedback could not be made again with the hand-given grade "
                         f"(nbgrader generate_feedback {chapter} --student {student})")
    return notes


from nbconvert.preprocessors import Preprocessor as _Preprocessor
from traitlets import Bool


class SecureAutograde(_Preprocessor):
    """The formgrader's Autograde button, and ``nbgrader autograde``, with our two-kernel grader: in the course's
    nbgrader configuration, ``c.Autograde.autograde_preprocessors = [SecureAutograde, SaveAutoGrades, ...]``
    replaces nbgrader's Execute (which would run the tests in the student's own kernel, where a student's code can
    make them pass). The sanitised notebook is graded as ``dlcourse grade`` grades it (``grade_one``: student code
    in a sandboxed kernel, tests in the grader's), and the autograded notebook that comes back, with its test
    outputs, is what nbgrader's SaveAutoGrades then scores. A notebook that cannot be graded stops with why."""

    # nbconvert's Preprocessor is off unless enabled, and one that is off returns the notebook untouched: nbgrader
    # would then score the unexecuted notebook, whose test cells have no error, at full marks.
    enabled = Bool(True, help="Grade with the two-kernel grader (off: nothing runs, every test cell passes)").tag(
        config=True)

    def preprocess(self, nb, resources):
        from nbgrader.coursedir import CourseDirectory

        from .submission import ChapterSource, grade_one

        chapter, student = resources["nbgrader"]["assignment"], resources["nbgrader"]["student"]
        root = Path(CourseDirectory(config=self.config).root)
        source = ChapterSource.from_course(chapter, root)
        result = grade_one(student, source, nbformat.writes(nb).encode("utf-8"), None)
        if result.status not in GRADED or not result.autograded:
            raise RuntimeError(f"{student}/{chapter} could not be graded: {result.status}: {result.detail}")
        return nbformat.reads(result.autograded.decode("utf-8"), as_version=4), resources
