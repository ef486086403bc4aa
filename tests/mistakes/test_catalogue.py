"""Every wrong answer of the catalogue loses points, and the learner's visible message names it.

One batch per chapter, graded once per test session through ``grading.grade_class`` (the path of
``dlcourse grade``) with ``--jobs 2``: the entries packed into as few notebooks as independence allows,
plus one honest notebook (every answer the solution's), which must keep full marks.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from classes import once
from dlcourse import grading, notebooks
from mistakes import Mistake, catalogue, chapters

ROOT = notebooks.course_root()
HONEST = "honest"


def _closure(depends: dict) -> dict[str, set[str]]:
    """exercise -> every exercise it calls, directly or through another"""
    out = {}
    for ex in depends:
        seen, todo = set(), list(depends[ex])
        while todo:
            d = todo.pop()
            if d not in seen:
                seen.add(d)
                todo += depends.get(d, ())
        out[ex] = seen
    return out


def pack(mistakes: list[Mistake], depends: dict) -> list[list[Mistake]]:
    """Notebooks of mistakes that cannot disturb each other: at most one per exercise, none of an exercise
    that another in the same notebook calls, and ``alone`` entries by themselves."""
    calls = _closure(depends)

    def sets(m):  # the answer cells an entry sets: its exercise and its `also`
        return {m.exercise} | set(m.also)

    def reach(m):  # those, and every exercise they call (an `also` that breaks a called exercise counts)
        return sets(m).union(*(calls.get(e, set()) for e in sets(m)))

    groups: list[list[Mistake]] = []
    for m in mistakes:
        if m.alone:
            groups.append([m])
            continue
        for g in groups:
            if any(o.alone or sets(o) & reach(m) or sets(m) & reach(o) for o in g):
                continue
            g.append(m)
            break
        else:
            groups.append([m])
    return groups


def _student(i: int, group: list[Mistake]) -> str:
    return f"w{i:02d}-" + re.sub(r"[^A-Za-z0-9_-]", "_", group[0].id)[:40]


def _write(chapter: str, folder, groups):
    student = nbformat.read(notebooks.student_path(chapter, ROOT), as_version=4)
    solution = nbformat.read(notebooks.solution_path(chapter, ROOT), as_version=4)
    answers = {c.metadata.nbgrader["grade_id"]: c.source for c in solution.cells if notebooks.is_answer_cell(c)}

    def write(name, override):
        nb = nbformat.from_dict(student)
        for cell in nb.cells:
            if notebooks.is_answer_cell(cell):
                gid = cell.metadata.nbgrader["grade_id"]
                cell.source = override.get(gid, answers[gid])
        path = folder / name / chapter / f"{chapter}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)

    write(HONEST, {})
    for i, group in enumerate(groups):
        override = {}
        for m in group:
            unknown = ({m.exercise} | set(m.also)) - set(answers)
            assert not unknown, f"{m.id}: no answer cell {sorted(unknown)} in {chapter}"
            override.update(m.also)
            override[m.exercise] = m.code
        write(_student(i, group), override)


def _grade(chapter: str):
    def make(folder):
        mistakes, depends = catalogue(chapter)
        groups = pack(mistakes, depends)
        _write(chapter, folder / "subs", groups)
        results, _ = grading.grade_class(folder / "subs", folder / "out", chapter=chapter, jobs=2,
                                         progress=False, timeout=60)
        by_student = {r.student: r for r in results}
        graded = {}
        for i, group in enumerate(groups):
            r = by_student[_student(i, group)]
            for m in group:
                graded[m.id] = {"status": r.status, "detail": r.detail, "exercises": r.exercises,
                                "shown": r.shown, "failures": r.failures, "group": [o.id for o in group]}
        honest = by_student[HONEST]
        return {"graded": graded, "honest": (honest.status, honest.score, honest.max_score, honest.failures)}
    return make


@pytest.fixture(scope="session")
def graded(tmp_path_factory, worker_id):
    cache = {}

    def get(chapter):
        if chapter not in cache:
            cache[chapter] = once(tmp_path_factory, worker_id, f"mistakes-{chapter}", _grade(chapter))
        return cache[chapter]
    return get


ENTRIES = [(ch, m) for ch in chapters() for m in catalogue(ch)[0]]


def test_entries_are_unique_and_say_something():
    seen = set()
    for ch, m in ENTRIES:
        assert (ch, m.id) not in seen, f"{ch}: {m.id} twice"
        seen.add((ch, m.id))
        assert m.says and all(w.strip() for w in m.says), f"{ch}: {m.id} names no words"
        assert m.origin in ("classic", "learner", "articles"), m.origin


@pytest.mark.parametrize("chapter", chapters())
def test_the_honest_notebook_keeps_full_marks(graded, chapter):
    status, score, max_score, failures = graded(chapter)["honest"]
    assert (status, score) == ("graded", max_score), failures


@pytest.mark.parametrize("chapter, mistake", ENTRIES, ids=[f"{ch}:{m.id}" for ch, m in ENTRIES])
def test_wrong_answer_loses_points_and_is_named(graded, chapter, mistake):
    g = graded(chapter)["graded"][mistake.id]
    assert g["status"] == "graded", (g["status"], g["detail"])
    score, max_score = g["exercises"][mistake.exercise]
    assert score < max_score, f"{mistake.id} earned full marks ({score}/{max_score})"
    shown = g["shown"].get(mistake.exercise, "")
    missing = [w for w in mistake.says if w.lower() not in shown.lower()]
    assert not missing, f"{mistake.id}: the learner is shown {shown!r}, which does not say {missing}"
    if mistake.origin == "articles":
        assert "source articles" in shown.lower(), f"{mistake.id}: the message must say it is the source articles' formula: {shown!r}"
    # packing must not disturb the other exercises of the notebook
    for ex, (s, mx) in g["exercises"].items():
        # an entry's exercise, and the answer cells it sets for its context (`also`), are touched
        by_id = {m.id: m for m in catalogue(chapter)[0]}
        touched = {by_id[o].exercise for o in g["group"]} | {ex for o in g["group"] for ex in by_id[o].also}
        if ex not in touched and s < mx:
            # an exercise that calls a wrong one may fail too; only an exercise of nobody's is a disturbance
            _, depends = catalogue(chapter)
            calls = _closure(depends).get(ex, set())
            assert calls & touched, f"{mistake.id}'s notebook also lost points in {ex}: mark an entry alone=True"
