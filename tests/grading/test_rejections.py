"""Notebooks that cannot be graded as handed in (``intake.diagnose``): each gets a message a person can act on,
in the instructor's row and the learner's feedback; a notebook whose nbgrader metadata is gone is repaired when
its cells match the chapter's for certain, and graded as the intact one is."""

from __future__ import annotations

import copy
import sys

import nbformat
import pytest
from classes import CH, ROOT, TOTAL, answered, student_nb

from dlcourse import grading, notebooks
from dlcourse.grading import intake

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the grading sandbox (bwrap) is Linux only")
SOURCE = grading.ChapterSource.from_course(CH, ROOT)
CH1 = "ch01_gradient_descent"


def colab(nb):
    """The notebook as Google Colab saves it (nbgrader's cell metadata dropped), answers kept."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    return nb


def data(nb) -> bytes:
    return nbformat.writes(nb).encode()


@pytest.mark.parametrize("raw, says", [
    (b"", "the file is empty (0 bytes)"),
    (b"def rel_error(a, b):\n    return 0\n", "not a Jupyter notebook: the file is not a notebook's JSON"),
    (b'{"cells": 3}', "not a valid Jupyter notebook"),
    (data(nbformat.v4.new_notebook()), "the notebook has no cells"),
])
def test_a_file_that_is_no_notebook_says_what_it_is(raw, says):
    nb, why = intake.diagnose(raw, SOURCE, intake.known_chapters(ROOT))
    assert nb is None and says in why and f"{CH}.ipynb" in why and "/tmp" not in why


def test_another_chapters_notebook_is_named():
    ch1 = nbformat.read(notebooks.student_path(CH1, ROOT), as_version=4)
    nb, why = intake.diagnose(data(ch1), SOURCE, intake.known_chapters(ROOT))
    assert nb is None and why.startswith(f"this notebook is {CH1}'s, not {CH}'s")
    _, why = intake.diagnose(data(ch1), SOURCE, {})  # a Dask worker: no course to name it from
    assert why.startswith("this notebook is another chapter's ('Chapter 1")


def test_stripped_metadata_is_recovered_when_every_cell_matches():
    nb, why = intake.diagnose(data(colab(answered(student_nb()))), SOURCE)
    ids = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata}
    assert ids == intake._grade_ids(student_nb()) and "recovered" in why


def test_stripped_metadata_is_refused_when_a_cell_cannot_be_placed():
    nb = colab(answered(student_nb()))
    i = next(i for i, c in enumerate(nb.cells) if c.source.startswith("def rel_error"))
    nb.cells.insert(i + 1, nbformat.v4.new_code_cell("print(rel_error(1, 1))"))  # a scratch cell after the answer
    got, why = intake.diagnose(data(nb), SOURCE)
    assert got is None and "nbgrader metadata is missing" in why and "rel_error" in why
    assert f"Download the released {CH}.ipynb again" in why


def test_rejections_and_a_colab_notebook_through_the_grader(tmp_path):
    """The cheap checks come first (no kernel for a rejection), and the repaired notebook gets full marks."""
    ch1 = nbformat.read(notebooks.student_path(CH1, ROOT), as_version=4)
    wrong = grading.grade_one("ann", SOURCE, data(ch1), tmp_path / "ann", timeout=30)
    assert (wrong.status, wrong.score) == ("unreadable", 0) and f"{CH1}'s" in wrong.detail
    page = (tmp_path / "ann" / f"{CH}.html").read_text()
    assert f"this notebook is {CH1}" in page and "could not be graded" in page
    fixed = grading.grade_one("bob", SOURCE, data(colab(answered(student_nb()))), None, timeout=30)
    assert (fixed.status, fixed.score) == ("graded", TOTAL) and "recovered" in fixed.detail
