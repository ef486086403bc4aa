"""One task: a submission graded the same way in a local process (``batch.LocalPool``) or on a Dask worker
(``cluster.grade_on_worker``).

A task's inputs are plain data, its chapter's ``ChapterSource`` (``shippable``: without the instructor
notebook's outputs) and the submission's bytes; it writes only to temporary folders and returns the
``Result`` and the feedback HTML. Each grading process makes a chapter's nbgrader template once
(``_prepare``). ``cores`` and ``share_cores`` split a machine's cores among the kernels of N gradings.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import shutil
import tempfile
import threading
from pathlib import Path

import nbformat

from ..sandbox import THREAD_VARS
from .submission import ChapterSource, Result, grade_one, prepare_chapter

#: Test hook: a grading process (a --jobs N process or a Dask worker, never the client itself) given this
#: student's submission exits at once, as if the submission had crashed it (tests/grading/test_cluster.py's poison).
CRASH_VAR = "DLCOURSE_TEST_CRASH_WORKER_ON"
_prepared: dict[str, tuple[Path, dict]] = {}  # ChapterSource.digest() -> (its nbgrader template, its exercises)
_prepared_lock = threading.Lock()


def _prepare(source: ChapterSource) -> tuple[Path, dict]:
    """The chapter's nbgrader template (``prepare_chapter``) and exercises, made the first time this
    process grades the chapter."""
    digest = source.digest()
    with _prepared_lock:
        if digest not in _prepared:
            folder = Path(tempfile.mkdtemp(prefix="dlg-template-"))
            atexit.register(shutil.rmtree, folder, True)
            _prepared[digest] = prepare_chapter(source, folder / "course"), source.exercises()
        return _prepared[digest]


def grade_task(student: str, source: ChapterSource, data: bytes | None, timeout: int, memory_gb: float,
               sandbox: bool) -> tuple[Result, bytes | None]:
    """Grade one submission (its bytes; None when missing) -> (its Result, its feedback HTML or None).

    Needs no course folder and writes only to temporary folders: the caller writes the output folder.
    The kernels of the next submission start while this one is graded (``kernels.KernelPool``).
    """
    if os.environ.get(CRASH_VAR) == student and multiprocessing.parent_process() is not None:
        os._exit(70)
    template, exercises = _prepare(source)
    with tempfile.TemporaryDirectory(prefix="dlg-feedback-") as tmp:
        result = grade_one(student, source, data, Path(tmp), timeout=timeout, memory_gb=memory_gb,
                           sandbox=sandbox, template=template, exercises=exercises, warm=True)
        html = Path(tmp) / f"{source.chapter}.html"
        return result, (html.read_bytes() if html.is_file() else None)


def shippable(source: ChapterSource) -> ChapterSource:
    """``source`` with the instructor notebook's outputs cleared: what a task carries (a chapter's 100 kB,
    not its 750). Grading never uses them: nbgrader's generate_assignment clears outputs first."""
    nb = source.notebook
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    files = {**source.files, f"{source.chapter}.ipynb": nbformat.writes(nb).encode("utf-8")}
    return ChapterSource(source.chapter, files, source.config_text)


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def share_cores(jobs: int) -> None:
    """Worker start-up for ``--jobs N``: each of the N kernels gets cores // N threads (at least 1).

    Otherwise every kernel's OpenBLAS and TensorFlow start a thread per core, N times over, and the
    kernels spend the time switching. A value the instructor already set is kept.
    """
    for var in THREAD_VARS:
        os.environ.setdefault(var, str(max(1, cores() // jobs)))
