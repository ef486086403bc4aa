"""A generated class, for the report's benchmark and tests: a grades.csv and small answer files, no grading.

``make_class(out, n)`` writes what ``dlcourse grade`` would leave in ``out`` for ``n`` students and
every chapter of the course (the chapters' real exercises and points): ``grades.csv`` (scores,
statuses, failure messages) and ``answers/<student>/<chapter>.py``, each a few random functions of a
small random grammar, so that two students' code shares little; every ``copy_every``-th student
hands in a near-copy of the previous one's (variables renamed, functions reordered).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from .. import notebooks
from .grades import exercise_columns, write_grades_csv
from .submission import chapter_exercises

MESSAGES = ["NotImplementedError", "AssertionError: shapes differ: got (4, 3), expected (3, 4); transpose?",
            "AssertionError: max relative error 0.31 > 1e-05: check the sign of the gradient",
            "ValueError: operands could not be broadcast together", "TypeError: 'NoneType' object is not subscriptable"]
NAMES = ["x", "w", "b", "grad", "acc", "out", "tmp", "total", "step", "h", "z", "y", "scale", "mask", "delta"]
CALLS = ["np.sum", "np.mean", "np.exp", "np.maximum", "np.abs", "np.sqrt", "np.tanh", "np.clip", "np.dot"]


def _statement(rng: random.Random, names: list[str]) -> str:
    a, b, c = rng.sample(names, 3)
    kind = rng.randrange(5)
    if kind == 0:
        return f"{a} = {rng.choice(CALLS)}({b}) * {rng.randint(2, 9)}"
    if kind == 1:
        return f"{a} = {b}[{rng.randint(0, 3)}:] + {c}.T @ {b}"
    if kind == 2:
        return f"for {a} in range({b}.shape[{rng.randint(0, 1)}]):\n        {c} += {b}[{a}] ** {rng.randint(2, 4)}"
    if kind == 3:
        return f"if {a}.ndim > {rng.randint(1, 3)}:\n        {a} = {a}.reshape(-1, {rng.randint(2, 8)})"
    return f"{a}, {b} = {c} - {rng.random():.2f}, {rng.choice(CALLS)}({a}, axis={rng.randint(0, 1)})"


def _function(rng: random.Random, name: str) -> str:
    names = rng.sample(NAMES, 6)
    body = "\n".join(f"    {_statement(rng, names)}" for _ in range(rng.randint(6, 10)))
    return f"def {name}({names[0]}, {names[1]}):\n{body}\n    return {names[2]}\n"


def _near_copy(code: str, rng: random.Random) -> str:
    """``code`` with its variables renamed and its functions in reverse order."""
    for old in NAMES:
        code = code.replace(f"{old} ", f"{old}_{rng.randint(0, 9)} ").replace(f"{old},", f"{old}_c,")
    return "\n\n".join(reversed(code.split("\n\n")))


def make_class(out: Path, n: int, *, seed: int = 0, copy_every: int = 50, root: Path | None = None) -> list[str]:
    """Write a generated class of ``n`` students into ``out``; return the student ids."""
    root = root or notebooks.course_root()
    points = {c: chapter_exercises(c, root) for c in notebooks.chapter_ids(root)}
    students = [f"student{i:05d}" for i in range(n)]
    rows, previous = [], {}
    # a stream per chapter: a chapter added to the course leaves the other chapters' answers as they were
    streams = {c: random.Random(f"{seed}:{c}") for c in points}
    for i, student in enumerate(students):
        for chapter, exercises in points.items():
            rng = streams[chapter]
            if rng.random() < 0.03:
                rows.append({"student": student, "chapter": chapter, "score": "0",
                             "max_score": f"{sum(exercises.values()):g}", "status": "missing",
                             **{ex: "0" for ex in exercises}, "detail": f"no {chapter}.ipynb"})
                previous.pop(chapter, None)  # the next student has nobody's code to copy in this chapter
                continue
            scores = {ex: pts if rng.random() < 0.7 else 0.0 for ex, pts in exercises.items()}
            failures = {ex: rng.choice(MESSAGES) for ex, s in scores.items() if s == 0}
            rows.append({"student": student, "chapter": chapter, "score": f"{sum(scores.values()):g}",
                         "max_score": f"{sum(exercises.values()):g}", "status": "graded",
                         **{ex: f"{s:g}" for ex, s in scores.items()}, "detail": "",
                         "failures": json.dumps(failures) if failures else "", "sha256": ""})
            if i % copy_every == copy_every - 1 and chapter in previous:
                code = _near_copy(previous[chapter], rng)
            else:
                code = "\n\n".join(_function(rng, f"{ex}_helper") for ex in exercises)
            previous[chapter] = code
            path = Path(out) / "answers" / student / f"{chapter}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(code, encoding="utf-8")
    write_grades_csv(rows, Path(out) / "grades.csv", exercise_columns(points))
    return students
