"""A learner's self-check: one notebook graded as the instructor will, for ``dlcourse check`` and for
JupyterLab's "Check my grade" button (``dlcourse.lab``).

``locate`` finds what a notebook is (its chapter, and the course whose hidden tests apply, if any) and
``Checker`` grades it through ``grading.grade_one``, the instructor's path: the answers in fresh sandboxed
kernels, the tests in the grader's kernel. Both callers go through here, so that a check gives the same grade
whichever way it is asked for.

A **warm** checker (the lab's service) pays once what a check can share: for each chapter, the prepared
nbgrader course and its exercises, and a kernel pool that always has the next check's kernels started (a grader
kernel with TensorFlow imported, and two sandboxed student kernels). Every check still gets fresh kernels: a
kernel serves one check and is stopped, so a grade never depends on an earlier one. A checker is used from
one thread (its kernel pool is that thread's).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from . import notebooks
from .sandbox import sandbox_available

VISIBLE_ONLY = ("the tests this notebook holds: the VISIBLE tests only. Hidden tests are not available here (they stay "
                "with your instructor), so your grade may be lower than this.")


class CheckError(Exception):
    """A notebook that cannot be checked, and what to do about it (one line for the learner)."""


@dataclass(frozen=True)
class Target:
    """One notebook to check: its path, its chapter, and the course folder with the hidden tests (None: the
    notebook's own visible tests only, as for a classroom's student, who has no course)."""

    path: Path
    chapter: str
    root: Path | None

    @property
    def visible_only(self) -> bool:
        return self.root is None


def locate(path, chapter: str | None = None, course: Path | None = None, cwd: Path | None = None) -> Target:
    """The Target of notebook ``path``. The course: ``course``, ``$DLCOURSE_ROOT``, or the one the notebook or
    the working directory lies in (a self-learner's checkout); not the checkout the package was installed
    from: a classroom's student has no course, even where the hub's image is an editable install. The chapter:
    ``chapter``, else the notebook's file name. ``cwd``: the working directory to look in (default: this
    process's)."""
    path = Path(path)
    if not path.is_file():
        raise CheckError(f"no such file: {path}")
    if course is not None or os.environ.get("DLCOURSE_ROOT"):
        root = Path(course or os.environ["DLCOURSE_ROOT"]).resolve()
        if not notebooks.is_course(root):
            raise CheckError(f"{root} is not a course folder (no solutions/ and autograde/nbgrader_config.py)")
    else:
        root = notebooks.course_containing(path) or notebooks.course_containing(cwd or Path.cwd())
    chapter = chapter or path.stem
    if root is not None and chapter not in notebooks.chapter_ids(root):
        raise CheckError(f"cannot tell the chapter of {path.name}; pass --chapter, one of {notebooks.chapter_ids(root)}")
    return Target(path, chapter, root)


class Checker:
    """Grades Targets (module doc). ``sandbox``: None for bwrap where it is installed."""

    def __init__(self, *, timeout: int | None = None, sandbox: bool | None = None, warm: bool = False):
        from .grading import DEFAULT_TIMEOUT

        self.timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        self.sandbox = sandbox_available() if sandbox is None else sandbox
        self.warm = warm
        self._folder: Path | None = None
        self._chapters: dict[tuple, tuple] = {}  # (chapter, course, its source's mtime) -> (source, exercises, course made)

    def _source(self, target: Target):
        """(ChapterSource, exercises, prepared course or None) of ``target``; kept by a warm checker while the
        instructor's source notebook is unchanged."""
        from . import grading

        if target.visible_only:  # the tests are the notebook's own, which the learner is editing
            return grading.ChapterSource.from_notebook(target.path, target.chapter), None, None
        solution = notebooks.solution_path(target.chapter, target.root)
        key = (target.chapter, target.root, solution.stat().st_mtime_ns)
        if key not in self._chapters:
            source = grading.ChapterSource.from_course(target.chapter, target.root)
            if not self.warm:
                return source, None, None
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix="dlcourse-check-"))
            made = grading.prepare_chapter(source, self._folder / f"{len(self._chapters)}-{target.chapter}")
            self._chapters[key] = (source, source.exercises(), made)
        return self._chapters[key]

    def _pool(self):
        """The kernel pool grading takes its kernels from (``Limits.pool``); a warm checker's keeps running."""
        from .grading.submission import Limits

        kernel_pool = Limits(timeout=self.timeout, sandbox=self.sandbox, warm=self.warm).pool()
        if self.warm:
            kernel_pool.keep_running()
        return kernel_pool

    def prestart(self, target: Target) -> None:
        """A warm checker: prepare ``target``'s chapter and start the kernels its next check takes. Returns at
        once; the kernels start in the background."""
        from .grading.execute import ROLES

        self._source(target)
        kernel_pool = self._pool()
        kernel_pool.run(kernel_pool.prestart(ROLES, target.chapter))

    def check(self, target: Target):
        """``target`` graded: a ``grading.Result`` (status "unreadable" for a notebook that cannot be graded)."""
        from . import grading

        source, exercises, made = self._source(target)
        self._pool()
        result = grading.grade_one("you", source, target.path, None, timeout=self.timeout, sandbox=self.sandbox,
                                   template=made, exercises=exercises, warm=self.warm)
        if self.warm:  # the next check's kernels, now that this one's are done
            try:
                self.prestart(target)
            except Exception:  # the notebook or the chapter's source is gone: the result still stands
                logging.getLogger("dlcourse").warning("could not start the next check's kernels", exc_info=True)
        return result

    def rest(self) -> None:
        """Stop the kernels a warm checker keeps started; the next check or ``prestart`` starts them again."""
        from .grading.kernels import close_pools

        close_pools(lambda key: key[-1] == threading.get_ident())

    def close(self) -> None:
        """Stop the kernels and remove the prepared courses (from the thread that used the checker)."""
        self.rest()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
        self._chapters.clear()


def report(result, target: Target) -> dict:
    """A check's result as plain data (the lab service's answer): the table ``dlcourse check`` prints, and a row per
    exercise."""
    from .grading import self_check_table

    return {
        "chapter": result.chapter, "status": result.status, "score": result.score, "max_score": result.max_score,
        "detail": result.detail, "visible_only": target.visible_only, "table": self_check_table(result),
        "exercises": [{"exercise": ex, "score": score, "points": pts, "passed": score >= pts,
                       "message": result.shown.get(ex, "") if score < pts else ""}
                      for ex, (score, pts) in result.exercises.items()],
    }
