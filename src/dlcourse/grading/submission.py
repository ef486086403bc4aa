"""One submission: a student's notebook of one chapter, graded by nbgrader in a throwaway course.

Each submission is graded alone, in a throwaway nbgrader course folder of its own:
the chapter's source (with hidden tests) is copied in, nbgrader's ``generate_assignment``
records it in a private gradebook, the submission is copied to ``submitted/``, and
nbgrader's ``autograde`` and ``generate_feedback`` do the rest. Nothing is written
next to the submissions or in the course folder; the original files are only read.
That isolation is also what makes parallel grading safe (nbgrader #174: one gradebook
cannot take parallel autograde runs) and ``--jobs N`` identical to ``--jobs 1``.

Student code runs in a kernel inside a sandbox (``bwrap``, Debian package bubblewrap):
read-only system and Python folders, only its own autograded folder visible and
writable, a private /tmp, no network, and CPU-time, memory and file-size limits.
The kernel talks to the grader through Unix sockets (ZeroMQ ``ipc``), since the
sandbox has no network at all.
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
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor

from .. import notebooks
from .kernels import TwoKernelExecute

STATUSES = ("graded", "timeout", "error", "unreadable", "missing")
DEFAULT_TIMEOUT = 60  # seconds per cell; graded cells are meant to take under 10 s
DEFAULT_MEMORY_GB = 4.0
MAX_OUTPUT_CHARS = 20_000  # per output; a 100 MB print is cut to this before it is stored
HIDDEN_FAILED = "a hidden test failed (what it printed and its message are not shown: they could quote its inputs)"
GRADING_NOTE = (
    "**How this notebook was graded.** Your answer cells ran in a kernel of their own, after the chapter's "
    "setup cell, without TensorFlow. The tests ran in the grader's kernel, in the instructor's version, and "
    "called your functions there. No other cell ran: outputs of plots, widgets and training runs are not "
    "shown. A failing hidden test is marked as such, without its message or output.")


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
    detail: str = ""  # why a status other than graded, or what was odd
    grades: dict = field(default_factory=dict)  # test cell grade_id -> (score, max_score), as nbgrader recorded it


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


# ---------------------------------------------------------------------------- sandbox


# ---------------------------------------------------------------------------- feedback


class CutLongOutputs(NbGraderPreprocessor):
    """Cut any text output longer than MAX_OUTPUT_CHARS, right after execution.

    nbgrader's LimitOutput counts lines, so one 100 MB line would go through whole into the
    autograded notebook and the feedback. Images are left alone.
    """

    def preprocess_cell(self, cell, resources, index):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.output_type == "stream" and len(out.text) > MAX_OUTPUT_CHARS:
                out.text = out.text[:MAX_OUTPUT_CHARS] + f"\n... [output cut: {len(out.text):,} characters]\n"
            for mime, data in out.get("data", {}).items():
                if isinstance(data, str) and len(data) > MAX_OUTPUT_CHARS and not mime.startswith("image/"):
                    out.data[mime] = data[:MAX_OUTPUT_CHARS] + "\n... [output cut]"
        return cell, resources


class ClearHiddenTestsAndTracebacks(ClearHiddenTests):
    """For feedback: nbgrader's ClearHiddenTests, which removes the hidden test code (nbgrader #917),
    and a failing hidden test shows its error, not the traceback that would quote that code.

    A cell holds hidden tests when it holds nbgrader's delimiter, as configured for ClearHiddenTests
    (``begin_test_delimeter``), the very test by which ClearHiddenTests clears it.
    """

    def preprocess_cell(self, cell, resources, index):
        if self.begin_test_delimeter in cell.source:
            ran = cell.metadata.pop("dlcourse", {})
            if "hidden_outputs_from" in ran:  # what the hidden part printed, or raised, may quote its inputs
                cell.outputs = cell.outputs[:ran["hidden_outputs_from"]]
                errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
                if ran.get("hidden_failure") and not errors:
                    cell.outputs.append(nbformat.v4.new_output(
                        "error", ename="HiddenTestFailed", evalue=HIDDEN_FAILED, traceback=[HIDDEN_FAILED]))
            for out in cell.get("outputs", []):
                if out.output_type == "error" and out.ename != "HiddenTestFailed":
                    out.traceback = [f"{out.ename}: {out.evalue}", "(in a hidden test: its code is not shown)"]
        return super().preprocess_cell(cell, resources, index)


class NoteWhatRan(NbGraderPreprocessor):
    """For feedback: a note at the top saying which cells ran while the notebook was graded."""

    def preprocess(self, nb, resources):
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(GRADING_NOTE))
        return nb, resources


def _autograde_preprocessors() -> list:
    """nbgrader's Autograde preprocessors, with TwoKernelExecute in the place of Execute and CutLongOutputs
    right after it."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    pps = Autograde.class_traits()["autograde_preprocessors"].default()
    at = pps.index(Execute)
    return [*pps[:at], TwoKernelExecute, CutLongOutputs, *pps[at + 1:]]


def _feedback_preprocessors() -> list:
    """nbgrader's GenerateFeedback preprocessors, then ClearHiddenTestsAndTracebacks."""
    from nbgrader.converters import GenerateFeedback

    return [*GenerateFeedback.class_traits()["preprocessors"].default(), ClearHiddenTestsAndTracebacks, NoteWhatRan]


# ---------------------------------------------------------------------------- one submission


def _first_line(text: str) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


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
    if read_submission(data) is None:
        result.status, result.detail = "unreadable", "not a readable Jupyter notebook"
        return result
    try:
        with tempfile.TemporaryDirectory(prefix="dlg-") as tmp:
            if template is None:
                template = prepare_chapter(source, Path(tmp) / "template")
            return _autograde(result, data, feedback_dir, source, timeout, memory_gb, sandbox, template, warm)
    except Exception as err:  # a grader crash must not take the batch down
        result.status, result.detail = "error", f"{type(err).__name__}: {_first_line(str(err))}"
        return result


def _autograde(result, data, feedback_dir, source, timeout, memory_gb, sandbox, template, warm) -> Result:
    from nbgrader.api import Gradebook
    from nbgrader.converters import Autograde, GenerateFeedback

    chapter, sid = result.chapter, "student"  # inside the throwaway course the student has a plain id
    notebooks.venv_on_path()
    with tempfile.TemporaryDirectory(prefix="dlg-") as tmp:
        tmp = Path(tmp)
        course = tmp / "c"
        shutil.copytree(template, course)
        dest = course / "submitted" / sid / chapter
        dest.mkdir(parents=True)
        nb, unknown = _without_unknown_grade_ids(read_submission(data), source.notebook)
        nbformat.write(nb, dest / f"{chapter}.ipynb")
        if unknown:
            result.detail = f"ignored cells claiming grade ids the chapter does not have: {', '.join(unknown)}"

        config = source.nbgrader_config(course)
        config.TwoKernelExecute.source_path = str(course / "source" / chapter / f"{chapter}.ipynb")
        config.TwoKernelExecute.timeout = timeout
        config.TwoKernelExecute.sandbox = sandbox
        config.TwoKernelExecute.memory_gb = memory_gb
        config.TwoKernelExecute.cpu_seconds = max(600, 20 * timeout)
        config.TwoKernelExecute.warm = warm
        config.TwoKernelExecute.hidden_delimiter = ClearHiddenTests(config=config).begin_test_delimeter
        config.IgnorePattern.enabled = True
        config.IgnorePattern.pattern = r"[\s\S]*"  # any stderr (TensorFlow, warnings): tests fail by raising
        config.OverwriteCells.add_missing_cells = True  # a deleted test cell is put back
        config.LimitOutput.max_lines = 1000
        config.Autograde.autograde_preprocessors = _autograde_preprocessors()
        config.GenerateFeedback.preprocessors = _feedback_preprocessors()

        env = {"NBGRADER_EXECUTION": "autograde"}
        with notebooks.environment(**env):
            graded = _run(Autograde, config, chapter, student_id=sid)
        autograded = course / "autograded" / sid / chapter / f"{chapter}.ipynb"
        if not graded["success"] or not autograded.is_file():
            text = graded.get("log", "") + "\n" + graded.get("error", "")
            if "DeadKernelError" in text or "Kernel died" in text:  # nbclient raises it; it is in no cell output
                result.status, result.detail = "error", "the kernel died (memory or CPU limit?)"
                return result
            grader = [ln for ln in text.splitlines() if "GraderError" in ln]
            if grader:  # the instructor's side failed: not the student's grade
                result.status, result.detail = "error", _first_line(grader[-1].split("GraderError:", 1)[-1])
                return result
            errors = [ln for ln in graded.get("log", "").splitlines() if "[ERROR]" in ln]
            result.status, result.detail = "error", _first_line(errors[0] if errors else graded.get("error", ""))
            return result

        nb = nbformat.read(autograded, as_version=4)
        with Gradebook(config.CourseDirectory.db_url, "dlcourse") as gb, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            grades = {g.name: (g.score, g.max_score) for g in gb.find_submission_notebook(chapter, chapter, sid).grades}
        result.grades = grades
        scores: dict[str, list[float]] = {}
        for name, (score, max_score) in grades.items():
            ex = exercise_of(name)
            s = scores.setdefault(ex, [0.0, 0.0])
            s[0] += score or 0.0
            s[1] += max_score
        result.exercises = {ex: tuple(v) for ex, v in scores.items()}
        result.score = sum(v[0] for v in scores.values())
        result.max_score = sum(v[1] for v in scores.values())
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
                    ex = exercise_of(cell.metadata["nbgrader"]["grade_id"])
                    message = f"{out.ename}: {out.evalue}" if out.evalue.strip() else out.ename
                    result.failures.setdefault(ex, _first_line(message))
        result.status = "timeout" if timeouts else ("error" if dead else "graded")
        if timeouts:
            result.detail = f"cell timed out after {timeout} s: {', '.join(timeouts)}"
        elif dead:
            result.detail = "the kernel died (memory or CPU limit?)"

        if feedback_dir is not None:
            with notebooks.environment(**env):
                fed = _run(GenerateFeedback, config, chapter, student_id=sid)
            html = course / "feedback" / sid / chapter / f"{chapter}.html"
            if fed["success"] and html.is_file():
                feedback_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(html, feedback_dir / f"{chapter}.html")
            else:
                result.detail = (result.detail + "; " if result.detail else "") + "no feedback generated"
    return result


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
        if not ok and ex in result.failures:
            line += f"  {result.failures[ex]}"
        lines.append(line)
    return "\n".join(lines)
