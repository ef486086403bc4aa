"""Honest grades through `dlcourse grade`, for every chapter: the solution earns every point, the student
version (stubs) none, and each stub fails with NotImplementedError, not with an error of the grader's.

The expected scores are the chapters' test-cell points, read from the notebooks, never from a previous run.
"""

from __future__ import annotations

import shutil
import sys

import pytest

from dlcourse import grading, notebooks

ROOT = notebooks.course_root()
CHAPTERS = notebooks.chapter_ids(ROOT)
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the grading sandbox (bwrap) is Linux only")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    subs, out = tmp_path_factory.mktemp("honest"), tmp_path_factory.mktemp("honest-out")
    for chapter in CHAPTERS:
        for student, path in (("solution", notebooks.solution_path(chapter, ROOT)),
                              ("stubs", notebooks.student_path(chapter, ROOT))):
            (subs / student / chapter).mkdir(parents=True)
            shutil.copyfile(path, subs / student / chapter / f"{chapter}.ipynb")
    results, _ = grading.grade_class(subs, out, jobs=2, progress=False)
    return {(r.student, r.chapter): r for r in results}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_solution_earns_every_point(graded, chapter):
    r = graded[("solution", chapter)]
    points = grading.chapter_exercises(chapter, ROOT)
    assert (r.status, r.score, r.max_score) == ("graded", sum(points.values()), sum(points.values())), r.failures
    assert r.exercises == {ex: (pts, pts) for ex, pts in points.items()}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_student_version_earns_nothing_and_says_why(graded, chapter):
    r = graded[("stubs", chapter)]
    assert (r.status, r.score) == ("graded", 0), r.detail
    assert set(r.failures) == set(grading.chapter_exercises(chapter, ROOT)), "every exercise fails"
    wrong = {ex: msg for ex, msg in r.failures.items() if "NotImplementedError" not in msg}
    assert not wrong, f"a stub must fail with its NotImplementedError (as a NameError naming it, or itself): {wrong}"
