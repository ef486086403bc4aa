"""The catalogue of wrong answers: for every chapter, ``tests/mistakes/<chapter>.py`` lists realistic wrong
answers (the classic mistakes, the source articles' formulas, every slip a learner was seen to make), and
``test_catalogue.py`` grades them all through the real grader, ``dlcourse grade``'s path, in one batch per
chapter. Each entry must lose points in its exercise, and the message the learner is shown for that
exercise (the first failing visible test's, as `dlcourse check` prints it) must contain every one of its
``says`` words.

A chapter module defines::

    MISTAKES = [Mistake("rel_error", "ratio-of-maxima", '''def rel_error(a, b): ...''', says=("...",)), ...]
    DEPENDS = {"numerical_gradient": {"rel_error"}}   # exercise -> the exercises its answer calls

Entries of different, independent exercises share a notebook (fewer gradings); an entry whose code
disturbs other exercises is marked ``alone=True``. A learner who finds a new slip: add it here.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mistake:
    exercise: str  # the answer cell's grade_id
    name: str  # short, unique in the chapter: it becomes a student id
    code: str  # the whole answer cell, as the learner wrote it
    says: tuple[str, ...]  # words (case-insensitive) that the learner's visible message must contain
    origin: str = "classic"  # "classic", "learner" (seen in a learner's attempt), or "articles" (the source articles' formula)
    alone: bool = False  # graded in a notebook of its own
    also: dict = field(default_factory=dict)  # other answer cells to set (grade_id -> code), for a context

    @property
    def id(self) -> str:
        return f"{self.exercise}-{self.name}"


def chapters() -> list[str]:
    """The chapters that have a catalogue."""
    here = importlib.import_module(__name__).__path__
    return sorted(m.name for m in pkgutil.iter_modules(here) if m.name.startswith("ch"))


def catalogue(chapter: str):
    """(MISTAKES, DEPENDS) of a chapter."""
    mod = importlib.import_module(f"{__name__}.{chapter}")
    return list(mod.MISTAKES), dict(getattr(mod, "DEPENDS", {}))
