"""The course's notebooks: where they are, how the student versions are made, how to load one.

- ``solutions/<id>/<id>.ipynb`` is the instructor source (nbgrader "source").
- ``notebooks/<id>/<id>.ipynb`` is the student version (nbgrader "release"),
  made from it by nbgrader's own ``generate_assignment``.
- ``load_functions`` runs a notebook's setup and answer cells, and nothing else,
  so tests, benchmarks and the self-check can call a notebook's functions.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
import types
from pathlib import Path

import nbformat

__all__ = [
    "is_course",
    "course_containing",
    "course_root",
    "chapter_ids",
    "solution_path",
    "student_path",
    "nbgrader_config",
    "generate_student_notebooks",
    "saved_code",
    "save_given",
    "execute_notebook",
    "load_functions",
    "is_answer_cell",
    "is_test_cell",
]

SETUP_TAG = "setup"


def is_course(folder: Path) -> bool:
    """A course folder holds ``solutions/`` and ``autograde/nbgrader_config.py``."""
    return (folder / "autograde" / "nbgrader_config.py").is_file() and (folder / "solutions").is_dir()


def course_containing(path: Path) -> Path | None:
    """The course folder that ``path`` lies in (``path`` itself or its nearest parent that is a course)."""
    path = Path(path).resolve()
    return next((p for p in (path, *path.parents) if is_course(p)), None)


def course_root() -> Path:
    """The course folder: ``$DLCOURSE_ROOT``, else the one the working directory lies in, else the
    checkout this package was installed from (an editable install)."""
    if os.environ.get("DLCOURSE_ROOT"):
        return Path(os.environ["DLCOURSE_ROOT"]).resolve()
    checkout = Path(__file__).resolve().parents[2]
    root = course_containing(Path.cwd()) or (checkout if is_course(checkout) else None)
    if root is None:
        raise FileNotFoundError(
            "cannot find the course folder (one holding solutions/ and autograde/nbgrader_config.py); "
            "run from inside the course checkout, pass --course, or set DLCOURSE_ROOT"
        )
    return root


def chapter_ids(root: Path | None = None) -> list[str]:
    """The chapters present: ids of ``solutions/<id>/<id>.ipynb``, sorted."""
    root = root or course_root()
    return sorted(p.name for p in (root / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file())


def solution_path(chapter: str, root: Path | None = None) -> Path:
    return (root or course_root()) / "solutions" / chapter / f"{chapter}.ipynb"


def student_path(chapter: str, root: Path | None = None) -> Path:
    return (root or course_root()) / "notebooks" / chapter / f"{chapter}.ipynb"


def nbgrader_config(course: Path | None = None, **course_directory):
    """The traitlets Config of ``<course>/autograde/nbgrader_config.py``, with CourseDirectory
    overrides (``root``, ``db_url``, ...) applied on top."""
    from traitlets.config.loader import PyFileConfigLoader

    course = course or course_root()
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course / "autograde")).load_config()
    config.CourseDirectory.root = str(course)
    for key, value in course_directory.items():
        setattr(config.CourseDirectory, key, value)
    return config


@contextlib.contextmanager
def environment(**values):
    """Set environment variables for the duration of a ``with`` block, then restore them.
    (nbgrader.utils.setenv would do, but it restores the wrong values and not on errors;
    unittest.mock.patch.dict(os.environ) restores the whole environment instead, undoing any other
    change made meanwhile, by emptying os.environ and filling it again.)"""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def venv_on_path() -> None:
    """Ready nbgrader to open gradebooks in this process: this interpreter's bin folder first on PATH, so that
    tools nbgrader calls by name (``alembic``, for ``nbgrader db upgrade``) are the ones installed beside it
    even when the venv is not activated; and the gradebook's schema version read in this process, once.

    nbgrader's ``Gradebook()`` runs ``alembic heads`` in a subprocess whenever it creates a database (its
    ``nbgrader.api.get_alembic_version``): 3.5 s of every ``dlcourse check`` on a quiet 2-core machine, for a
    constant of the installed nbgrader. Alembic's own ``ScriptDirectory`` reads the same head from nbgrader's
    migration scripts without starting a process."""
    bindir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    import nbgrader.api

    if not getattr(nbgrader.api.get_alembic_version, "in_process", False):
        nbgrader.api.get_alembic_version = _alembic_head


@functools.cache
def _alembic_head() -> str:
    """What ``alembic heads`` prints first for nbgrader's migrations (see ``venv_on_path``)."""
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    return ScriptDirectory(ALEMBIC_DIR).get_current_head()


_alembic_head.in_process = True


def generate_student_notebooks(chapters=None, release_dir: Path | None = None, root: Path | None = None,
                               db_url: str | None = None) -> list[Path]:
    """Run nbgrader's ``generate_assignment`` for ``chapters`` (default: all).

    Writes ``<release_dir>/<id>/<id>.ipynb`` (default ``notebooks/``). The gradebook it
    needs is a throwaway one, so no ``gradebook.db`` is left in the course folder, unless
    ``db_url`` names one (a classroom's course records its chapters in its own gradebook).
    Raises RuntimeError with nbgrader's log if a chapter fails to generate.
    """
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    root = root or course_root()
    chapters = list(chapters or chapter_ids(root))
    venv_on_path()  # nbgrader runs the `alembic` command to open its gradebook
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        overrides = {"db_url": db_url or f"sqlite:///{tmp}/gradebook.db"}
        if release_dir is not None:
            overrides["release_directory"] = str(Path(release_dir).resolve())
        config = nbgrader_config(root, **overrides)
        for chapter in chapters:
            coursedir = CourseDirectory(config=config)
            coursedir.assignment_id = chapter
            app = GenerateAssignment(coursedir=coursedir, config=config)
            app.force = True
            result = capture_log(app)
            if not result["success"]:
                raise RuntimeError(f"nbgrader generate_assignment failed for {chapter}:\n{result.get('log', '')}\n{result.get('error', '')}")
            path = Path(coursedir.format_path(coursedir.release_directory, ".", chapter)) / f"{chapter}.ipynb"
            _drop_save_marks(path)
            written.append(path)
    return written


def _drop_save_marks(path: Path) -> None:
    """The student version has no ``#@save`` lines: they tell ``save_given`` what to copy, and mean nothing
    above a stub."""
    from nbgrader.utils import compute_checksum

    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        if SAVE_MARK in cell.source:
            cell.source = "\n".join(ln for ln in cell.source.split("\n") if ln.strip() != SAVE_MARK)
            if "checksum" in cell.metadata.get("nbgrader", {}):  # nbgrader's, of the cell as released
                cell.metadata.nbgrader["checksum"] = compute_checksum(cell)
            changed = True
    if changed:
        nbformat.write(nb, path)


SAVE_MARK = "#@save"
SOLUTION_MARKS = ("### BEGIN SOLUTION", "### END SOLUTION")


def _saved_from(source: str) -> list[str]:
    """The functions and classes of one cell marked ``#@save`` (the line right above them), as source text."""
    import ast

    lines = [ln for ln in source.splitlines() if ln.strip() not in SOLUTION_MARKS]
    text = "\n".join(lines)
    tree = ast.parse(text)
    saved = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            continue
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        if first >= 2 and lines[first - 2].strip() == SAVE_MARK:
            saved.append("\n".join(lines[first - 1:node.end_lineno]))
    return saved


def saved_code(chapter: str, root: Path | None = None) -> str | None:
    """The text of ``dlcourse/given/<chapter>.py`` as the chapter's solution says it should be, or None when
    the chapter saves nothing. Its header imports NumPy and every ``from dlcourse.given`` line of the
    chapter's own cells (what the saved code may call from earlier chapters)."""
    nb = nbformat.read(solution_path(chapter, root), as_version=4)
    parts, imports = [], []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for ln in cell.source.splitlines():
            if ln.startswith("from dlcourse.given") and ln not in imports:
                imports.append(ln)
        if SAVE_MARK in cell.source:
            parts += _saved_from(cell.source)
    if not parts:
        return None
    head = (f'"""{chapter}\'s saved code (``#@save``), generated from solutions/{chapter}/{chapter}.ipynb by\n'
            '`make notebooks`. Do not edit: edit the notebook and regenerate."""\n\n'
            "import numpy as np\n" + "".join(f"{ln}\n" for ln in imports))
    return head + "\n\n" + "\n\n\n".join(parts) + "\n"


def given_path(chapter: str) -> Path:
    return Path(__file__).resolve().parent / "given" / f"{chapter}.py"


def save_given(chapters=None, root: Path | None = None) -> list[Path]:
    """Write ``dlcourse/given/<chapter>.py`` for every chapter that saves code; remove the module of a chapter
    that saves nothing any more. Returns the modules written."""
    root = root or course_root()
    written = []
    for chapter in list(chapters or chapter_ids(root)):
        code, path = saved_code(chapter, root), given_path(chapter)
        if code is None:
            path.unlink(missing_ok=True)
            continue
        if not path.is_file() or path.read_text(encoding="utf-8") != code:
            path.write_text(code, encoding="utf-8")
        written.append(path)
    return written


def execute_notebook(path: Path, *, timeout: int = 600, write: bool = True, env: dict | None = None):
    """Execute a notebook top to bottom in a fresh ``python3`` kernel, in its own folder.

    Raises nbclient's CellExecutionError on the first error. Writes the executed
    notebook back when ``write`` (how ``make execute`` refreshes the solutions).
    Returns the executed notebook.
    """
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,  # timestamps would change every run and churn the committed solutions
        store_widget_state=False,  # widget model ids are random; the widgets only live in a kernel anyway
    )
    with environment(**(env or {})):
        client.execute()
    if write:
        nbformat.write(nb, path)
    return nb


def is_answer_cell(cell) -> bool:
    """An nbgrader autograded answer cell: a code cell with ``solution: true`` and no points."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("solution")) and not meta.get("grade")


def _nbgrader_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade_id")) and bool(meta.get("grade") or meta.get("solution") or meta.get("locked"))


def answer_cells(nb) -> dict:
    """grade_id -> the answer cell that is graded for it: the one that nbgrader's DeduplicateIds keeps when
    cells claim one grade_id twice (the last nbgrader cell carrying it), if that is an answer cell. The one
    rule for grading, ``answers/`` and the similarity report, so that the code compared is the code graded."""
    kept = {}
    for cell in reversed(nb.cells):
        if _nbgrader_cell(cell):
            kept.setdefault(cell.metadata["nbgrader"]["grade_id"], cell)
    return {gid: c for gid, c in reversed(kept.items()) if is_answer_cell(c)}


def claimed_twice(nb) -> list[str]:
    """The grade_ids that more than one cell carries (in any nbgrader metadata, graded or not)."""
    from collections import Counter

    ids = Counter(c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.cells)
    return sorted(str(g) for g, n in ids.items() if g and n > 1)


def is_test_cell(cell) -> bool:
    """An nbgrader autograded test cell: a code cell with ``grade: true`` (it carries points)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def load_functions(path: Path, *, extra_cells=(), tags=()) -> types.SimpleNamespace:
    """Run a notebook's setup cells (tagged ``setup``) and answer cells; return the namespace.

    Nothing else runs: no tests, no plots, no training. Works on a solution
    notebook, a student version or a learner's submission alike: a stub still
    defines its function, which raises NotImplementedError when called.
    ``extra_cells`` names further cells to run, by nbgrader ``grade_id``; ``tags`` by cell tag
    (``make bench`` loads the fast versions shown beside graded answers, tagged ``bench``).
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    namespace: dict = {"__name__": f"notebook_{path.stem}"}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        wanted = (
            any(tag in (SETUP_TAG, *tags) for tag in cell.get("metadata", {}).get("tags", []))
            or is_answer_cell(cell)
            or (grade_id is not None and grade_id in extra_cells)
        )
        if cell.cell_type == "code" and wanted:
            code = compile(cell.source, f"{path.name}[{grade_id or 'setup'}]", "exec")
            exec(code, namespace)  # noqa: S102 - this is the point of the function
    return types.SimpleNamespace(**{k: v for k, v in namespace.items() if not k.startswith("__")})
