"""One submission: a student's notebook of one chapter, graded by nbgrader in a throwaway course.

Each submission is graded alone, in a throwaway nbgrader course folder of its own:
the chapter's source (with hidden tests) is copied in, nbgrader's ``generate_assignment``
records it in a private gradebook, the submission is copied to ``submitted/``, and
nbgrader's ``autograde`` and ``generate_feedback`` do the rest. Nothing is written
next to the submissions or in the course folder; the original files are only read.
That isolation is also what makes parallel grading safe (nbgrader #174: one gradebook
cannot take parallel autograde runs) and ``--jobs N`` identical to ``--jobs 1``.

nbgrader's pipelines are ours in two places (``preprocessors``): its Execute step is
``execute.TwoKernelExecute``, which runs the student's answer cells in sandboxed student
kernels (``dlcourse.sandbox``) and the instructor's tests in a trusted grader kernel; and the
feedback leaves out what hidden tests printed or raised.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearHiddenTests

from .. import notebooks
from .preprocessors import HIDDEN_FAILED, autograde_preprocessors, feedback_preprocessors
from .text import error_of, first_line

STATUSES = ("graded", "timeout", "error", "unreadable", "missing")
DEFAULT_TIMEOUT = 60  # seconds per cell; graded cells are meant to take under 10 s
DEFAULT_MEMORY_GB = 4.0
DETAIL_CHARS = 200  # a row's detail, and a failure in grades.csv, are cut to this
KERNEL_DIED = "the kernel died (memory or CPU limit?)"
SID = "student"  # the student's id inside the throwaway course


@dataclass
class Result:
    """One row of grades.csv: a student's chapter."""

    student: str
    chapter: str
    status: str
    score: float = 0.0
    max_score: float = 0.0
    exercises: dict = field(default_factory=dict)  # exercise -> (score, max_score)
    failures: dict = field(default_factory=dict)  # exercise -> first line of the first failure
    # exercise -> the whole first line of the first failure the learner is shown (a visible test's message,
    # or the fixed note of a failing hidden test): what `dlcourse check` prints and the catalogue of wrong
    # answers checks
    shown: dict = field(default_factory=dict)
    detail: str = ""  # why a status other than graded, or what was odd
    grades: dict = field(default_factory=dict)  # test cell grade_id -> (score, max_score), as nbgrader recorded it
    autograded: bytes | None = field(default=None, repr=False)  # nbgrader's autograded notebook (the formgrader's)


# ---------------------------------------------------------------------------- exercises


def exercise_of(grade_id: str) -> str:
    """The exercise a test cell belongs to: ``test_<name>_visible`` / ``test_<name>_hidden`` -> ``<name>``."""
    name = re.sub(r"^test_", "", grade_id)
    return re.sub(r"_(visible|hidden)$", "", name)


def exercises_of(nb) -> dict[str, float]:
    """Exercise -> max points of a notebook's test cells, in notebook order."""
    points: dict[str, float] = {}
    for cell in nb.cells:
        if notebooks.is_test_cell(cell):
            meta = cell.metadata["nbgrader"]
            ex = exercise_of(meta["grade_id"])
            points[ex] = points.get(ex, 0.0) + float(meta["points"])
    return points


def chapter_exercises(chapter: str, root: Path) -> dict[str, float]:
    """Exercise -> max points, read from the chapter's source notebook, in notebook order."""
    return exercises_of(nbformat.read(notebooks.solution_path(chapter, root), as_version=4))


@dataclass(frozen=True)
class ChapterSource:
    """What grading needs of a chapter, as plain data, so that a grading process needs no course folder.

    ``files`` are the chapter folder's files (the instructor notebook ``<chapter>.ipynb`` with its hidden
    tests, and any data beside it), by path relative to that folder; ``config_text`` is the course's
    ``autograde/nbgrader_config.py`` (None: nbgrader's defaults with the course's code stub).
    """

    chapter: str
    files: dict = field(hash=False)
    config_text: str | None = None

    @classmethod
    def from_course(cls, chapter: str, root: Path) -> "ChapterSource":
        """The chapter of the course at ``root``: ``solutions/<chapter>/`` and ``autograde/nbgrader_config.py``."""
        folder = Path(root) / "solutions" / chapter
        if not (folder / f"{chapter}.ipynb").is_file():
            raise FileNotFoundError(f"no instructor notebook {folder / (chapter + '.ipynb')}")
        files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
                 if p.is_file() and ".ipynb_checkpoints" not in p.parts}
        return cls(chapter, files, (Path(root) / "autograde" / "nbgrader_config.py").read_text(encoding="utf-8"))

    @classmethod
    def from_notebook(cls, path: Path, chapter: str | None = None) -> "ChapterSource":
        """A notebook that is its own source (a released student notebook: its visible tests only)."""
        chapter = chapter or Path(path).stem
        return cls(chapter, {f"{chapter}.ipynb": Path(path).read_bytes()})

    @property
    def notebook(self):
        return nbformat.reads(self.files[f"{self.chapter}.ipynb"].decode("utf-8"), as_version=4)

    def exercises(self) -> dict[str, float]:
        return exercises_of(self.notebook)

    def digest(self) -> str:
        """sha256 of everything here: two sources with the same digest grade alike."""
        h = hashlib.sha256(self.chapter.encode())
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + hashlib.sha256(self.files[name]).digest())
        h.update((self.config_text or "").encode())
        return h.hexdigest()

    def write(self, folder: Path) -> None:
        for name, data in self.files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)

    def nbgrader_config(self, course: Path):
        """The course's nbgrader configuration, with the throwaway ``course`` as nbgrader's root."""
        from traitlets.config import Config
        from traitlets.config.loader import PyFileConfigLoader

        if self.config_text is None:
            config = Config()
            config.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
        else:
            with tempfile.TemporaryDirectory(prefix="dlg-config-") as tmp:
                (Path(tmp) / "nbgrader_config.py").write_text(self.config_text, encoding="utf-8")
                config = PyFileConfigLoader("nbgrader_config.py", path=tmp).load_config()
        config.CourseDirectory.root = str(course)
        config.CourseDirectory.source_directory = "source"
        config.CourseDirectory.release_directory = "release"
        config.CourseDirectory.db_url = f"sqlite:///{course}/gradebook.db"
        return config



@dataclass(frozen=True)
class Limits:
    """How one submission is graded: a cell's (and one call's) time limit, a student kernel's memory, the
    sandbox, and ``warm`` (start the next submission's kernels while this one is graded: a batch)."""

    timeout: int = DEFAULT_TIMEOUT
    memory_gb: float = DEFAULT_MEMORY_GB
    sandbox: bool = True
    warm: bool = False

    @property
    def cpu_seconds(self) -> int:
        """A student kernel's CPU-time limit: far above what its cells may take (each within ``timeout``)."""
        return max(600, 20 * self.timeout)

    def pool(self):
        """This thread's kernel pool for these limits (the one ``TwoKernelExecute`` takes its kernels from)."""
        from .kernels import pool

        return pool(self.sandbox, self.memory_gb, self.cpu_seconds, self.timeout, self.warm)


# ---------------------------------------------------------------------------- one submission


def read_submission(data: bytes):
    """The submitted notebook (its bytes), or None if it is not a readable Jupyter notebook."""
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except Exception:  # not JSON, not a notebook, or an invalid one: all "unreadable"
        return None
    return nb


def _without_unknown_grade_ids(nb, source):
    """The submission with nbgrader's metadata removed from cells whose grade id the chapter's source does not
    have (a cell a student marked as a 50-point test would otherwise stop nbgrader); and those ids."""
    known = {c.metadata.get("nbgrader", {}).get("grade_id") for c in source.cells} - {None}
    unknown = []
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if "nbgrader" in cell.get("metadata", {}) and gid not in known:
            unknown.append(str(gid)[:40])
            del cell.metadata["nbgrader"]
    return nb, unknown


def _run(app_class, config, chapter, **coursedir_attrs) -> dict:
    """Run an nbgrader converter app on ``chapter``; return nbgrader's capture_log result."""
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = chapter
    for k, v in coursedir_attrs.items():
        setattr(coursedir, k, v)
    app = app_class(coursedir=coursedir, config=config)
    app.force = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy warnings from inside nbgrader's gradebook
        return capture_log(app)


def prepare_chapter(source: ChapterSource, dest: Path) -> Path:
    """A throwaway nbgrader course at ``dest`` holding the chapter's source and a gradebook that
    knows it (nbgrader's generate_assignment). Made once per chapter, copied for each submission."""
    from nbgrader.converters import GenerateAssignment

    notebooks.venv_on_path()
    source.write(dest / "source" / source.chapter)
    made = _run(GenerateAssignment, source.nbgrader_config(dest), source.chapter)
    if not made["success"]:
        raise RuntimeError(f"generate_assignment failed for {source.chapter}: {made.get('log', '')[-2000:]}")
    return dest


def grade_one(student: str, source: ChapterSource, submission: Path | bytes | None, feedback_dir: Path | None, *,
              timeout: int = DEFAULT_TIMEOUT, memory_gb: float = DEFAULT_MEMORY_GB, sandbox: bool = True,
              template: Path | None = None, exercises: dict[str, float] | None = None, warm: bool = False) -> Result:
    """Grade one student's notebook (a path, or its bytes) of ``source``'s chapter. Never raises:
    problems become a status.

    ``template`` is a course made by ``prepare_chapter``, ``exercises`` the chapter's exercises
    (both made here when not given). ``warm``: start the kernels of the next submission while this one is
    graded (a batch).
    """
    chapter = source.chapter
    if exercises is None:
        exercises = source.exercises()
    result = Result(student, chapter, "missing", max_score=sum(exercises.values()),
                    exercises={ex: (0.0, pts) for ex, pts in exercises.items()})
    if submission is None or (not isinstance(submission, bytes) and not Path(submission).is_file()):
        result.detail = f"no {chapter}.ipynb"
        return result
    data = submission if isinstance(submission, bytes) else Path(submission).read_bytes()
    from . import intake

    nb, note = intake.diagnose(data, source, intake.known_chapters())
    if nb is None:  # not gradable: why, to the instructor's row and the learner's feedback
        result.status, result.detail = "unreadable", note
        if feedback_dir is not None:
            intake.write_rejection(result, feedback_dir)
        return result
    if note:  # nbgrader metadata recovered: grade the repaired notebook
        data = nbformat.writes(nb).encode("utf-8")
    limits = Limits(timeout=timeout, memory_gb=memory_gb, sandbox=sandbox, warm=warm)
    try:
        with tempfile.TemporaryDirectory(prefix="dlg-") as tmp:
            if template is None:
                template = prepare_chapter(source, Path(tmp) / "template")
            result = _autograde(result, data, source, template, feedback_dir=feedback_dir, limits=limits)
            if note:
                result.detail = f"{note}; {result.detail}" if result.detail else note
            return result
    except Exception as err:  # a grader crash must not take the batch down
        result.status, result.detail = "error", error_of(err, DETAIL_CHARS)
        return result


def _autograde(result: Result, data: bytes, source: ChapterSource, template: Path, *, feedback_dir: Path | None,
               limits: Limits) -> Result:
    """nbgrader's autograde (and generate_feedback, into ``feedback_dir`` unless None) of the submission
    ``data`` in a copy of ``template``; fills in ``result``."""
    from nbgrader.converters import Autograde

    chapter = result.chapter
    notebooks.venv_on_path()
    with tempfile.TemporaryDirectory(prefix="dlg-") as tmp:
        course = Path(tmp) / "c"
        shutil.copytree(template, course)
        _submit(course, data, source, result)
        config = _config(source, course, limits)
        with notebooks.environment(NBGRADER_EXECUTION="autograde"):
            graded = _run(Autograde, config, chapter, student_id=SID)
        autograded = course / "autograded" / SID / chapter / f"{chapter}.ipynb"
        if not graded["success"] or not autograded.is_file():
            result.status, result.detail = "error", _why_autograde_failed(graded)
            return result
        _read_scores(result, config.CourseDirectory.db_url)
        result.autograded = autograded.read_bytes()
        _read_outputs(result, nbformat.read(autograded, as_version=4), limits.timeout)
        if feedback_dir is not None:
            _feedback(result, config, course, feedback_dir)
    return result


def _submit(course: Path, data: bytes, source: ChapterSource, result: Result) -> None:
    """The submission in the throwaway course's ``submitted/``, without grade ids the chapter does not have
    (noted in ``result.detail``)."""
    dest = course / "submitted" / SID / result.chapter
    dest.mkdir(parents=True)
    nb = read_submission(data)
    twice = notebooks.claimed_twice(nb)
    nb, unknown = _without_unknown_grade_ids(nb, source.notebook)
    nbformat.write(nb, dest / f"{result.chapter}.ipynb")
    notes = []
    if unknown:
        notes.append(f"ignored cells claiming grade ids the chapter does not have: {', '.join(unknown)}")
    if twice:
        notes.append(f"several cells claim grade id {', '.join(t[:40] for t in twice)}: the last nbgrader cell "
                     "of each is graded, and compared for similarity")
    result.detail = "; ".join(notes)


def _config(source: ChapterSource, course: Path, limits: Limits):
    """The nbgrader configuration of one autograde run in ``course``: ours in nbgrader's pipelines."""
    chapter = source.chapter
    config = source.nbgrader_config(course)
    config.TwoKernelExecute.source_path = str(course / "source" / chapter / f"{chapter}.ipynb")
    config.TwoKernelExecute.timeout = limits.timeout
    config.TwoKernelExecute.sandbox = limits.sandbox
    config.TwoKernelExecute.memory_gb = limits.memory_gb
    config.TwoKernelExecute.cpu_seconds = limits.cpu_seconds
    config.TwoKernelExecute.warm = limits.warm
    config.TwoKernelExecute.hidden_delimiter = ClearHiddenTests(config=config).begin_test_delimeter
    config.IgnorePattern.enabled = True
    config.IgnorePattern.pattern = r"[\s\S]*"  # any stderr (TensorFlow, warnings): tests fail by raising
    config.OverwriteCells.add_missing_cells = True  # a deleted test cell is put back
    config.LimitOutput.max_lines = 1000
    config.Autograde.autograde_preprocessors = autograde_preprocessors()
    config.GenerateFeedback.preprocessors = feedback_preprocessors()
    return config


def _why_autograde_failed(graded: dict) -> str:
    """The detail of an error row, from a failed autograde run's log (nbgrader's ``capture_log``)."""
    text = graded.get("log", "") + "\n" + graded.get("error", "")
    if "DeadKernelError" in text or "Kernel died" in text:  # nbclient raises it; it is in no cell output
        return KERNEL_DIED
    grader = [ln for ln in text.splitlines() if "GraderError" in ln]
    if grader:  # the instructor's side failed: not the student's grade
        return first_line(grader[-1].split("GraderError:", 1)[-1], DETAIL_CHARS)
    errors = [ln for ln in graded.get("log", "").splitlines() if "[ERROR]" in ln]
    return first_line(errors[0] if errors else graded.get("error", ""), DETAIL_CHARS)


def _read_scores(result: Result, db_url: str) -> None:
    """``result``'s grades, exercises, score and max score, from the throwaway course's gradebook."""
    from nbgrader.api import Gradebook

    chapter = result.chapter
    with Gradebook(db_url, "dlcourse") as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grades = {g.name: (g.score, g.max_score) for g in gb.find_submission_notebook(chapter, chapter, SID).grades}
    result.grades = grades
    scores: dict[str, list[float]] = {}
    for name, (score, max_score) in grades.items():
        s = scores.setdefault(exercise_of(name), [0.0, 0.0])
        s[0] += score or 0.0
        s[1] += max_score
    result.exercises = {ex: tuple(v) for ex, v in scores.items()}
    result.score = sum(v[0] for v in scores.values())
    result.max_score = sum(v[1] for v in scores.values())


def _read_outputs(result: Result, nb, timeout: int) -> None:
    """``result``'s status, failures and shown messages, from the autograded notebook's error outputs."""
    timeouts, dead = [], False
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type != "error":
                continue
            if out.ename in ("CellTimeoutError", "StudentCodeTimeout"):
                timeouts.append(cell.metadata.get("nbgrader", {}).get("grade_id", "a cell"))
            if out.ename in ("DeadKernelError",) or "Kernel died" in out.evalue:
                dead = True
        if notebooks.is_test_cell(cell):
            _read_failures(result, cell)
    result.status = "timeout" if timeouts else ("error" if dead else "graded")
    if timeouts:
        result.detail = f"cell timed out after {timeout} s: {', '.join(timeouts)}"
    elif dead:
        result.detail = KERNEL_DIED


def _read_failures(result: Result, cell) -> None:
    """A test cell's first failure: its first line in ``result.failures``, and what the learner is shown (a
    hidden test's failure by the fixed note only) in ``result.shown``."""
    ex = exercise_of(cell.metadata["nbgrader"]["grade_id"])
    hidden_from = cell.metadata.get("dlcourse", {}).get("hidden_outputs_from")
    for i, out in enumerate(cell.get("outputs", [])):
        if out.output_type != "error":
            continue
        message = f"{out.ename}: {out.evalue}" if out.evalue.strip() else out.ename
        result.failures.setdefault(ex, first_line(message, DETAIL_CHARS))
        shown = HIDDEN_FAILED if hidden_from is not None and i >= hidden_from else message
        result.shown.setdefault(ex, first_line(shown))


def _feedback(result: Result, config, course: Path, feedback_dir: Path) -> None:
    """nbgrader's generate_feedback: the HTML into ``feedback_dir`` (or a note in ``result.detail``)."""
    from nbgrader.converters import GenerateFeedback

    chapter = result.chapter
    with notebooks.environment(NBGRADER_EXECUTION="autograde"):
        fed = _run(GenerateFeedback, config, chapter, student_id=SID)
    html = course / "feedback" / SID / chapter / f"{chapter}.html"
    if fed["success"] and html.is_file():
        feedback_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(html, feedback_dir / f"{chapter}.html")
    else:
        result.detail = (result.detail + "; " if result.detail else "") + "no feedback generated"


def _fmt(x: float) -> str:
    return f"{x:g}"


def self_check_table(result: Result) -> str:
    """The learner's view of one graded notebook: a line per exercise."""
    lines = [f"{result.chapter}: {result.status}, {_fmt(result.score)} / {_fmt(result.max_score)} points"]
    if result.detail:
        lines.append(f"  ({result.detail})")
    width = max([len(ex) for ex in result.exercises] + [8])
    lines.append(f"  {'exercise':<{width}}  points   result")
    for ex, (score, pts) in result.exercises.items():
        ok = score >= pts
        line = f"  {ex:<{width}}  {_fmt(score):>3} / {_fmt(pts):<3} {'passed' if ok else 'FAILED'}"
        if not ok and ex in result.shown:
            line += f"  {result.shown[ex]}"
        lines.append(line)
    return "\n".join(lines)
