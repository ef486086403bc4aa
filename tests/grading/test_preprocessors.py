"""What grading adds to nbgrader's pipelines (``grading.preprocessors``)."""

from __future__ import annotations

import sys

import nbformat
import pytest
from classes import (
    ROOT,
)

from dlcourse import feedback, notebooks
from dlcourse.grading import preprocessors as grading_preprocessors

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the grading sandbox (bwrap) is Linux only")


@pytest.mark.parametrize("begin, end", [(None, None), ("# >>> instructor only", "# <<< instructor only")])
def test_feedback_hides_hidden_test_code_and_traceback(begin, end):
    """The course's delimiter, or any other a course configures for nbgrader's ClearHiddenTests."""
    config = notebooks.nbgrader_config(ROOT)
    if begin:
        config.ClearHiddenTests.begin_test_delimeter, config.ClearHiddenTests.end_test_delimeter = begin, end
    begin, end = begin or "### BEGIN HIDDEN TESTS", end or "### END HIDDEN TESTS"
    meta = {"grade": True, "solution": False, "locked": True, "points": 1}
    hidden = nbformat.v4.new_code_cell(f"assert f(1) == 1\n{begin}\nassert f(2) == 5, 'two'\n{end}\n",
                                       metadata={"nbgrader": {**meta, "grade_id": "test_f_hidden"}})
    visible = nbformat.v4.new_code_cell("assert f(1) == 2, 'one'",
                                        metadata={"nbgrader": {**meta, "grade_id": "test_f"}})
    for cell, line, why in ((hidden, "assert f(2) == 5, 'two'", "two"), (visible, "assert f(1) == 2, 'one'", "one")):
        cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue=why,
                                               traceback=["Traceback (most recent call last)", line, "AssertionError"])]
    nb = nbformat.v4.new_notebook(cells=[hidden, visible])

    assert grading_preprocessors.ClearHiddenTestsAndTracebacks in grading_preprocessors.feedback_preprocessors()
    nb, _ = grading_preprocessors.ClearHiddenTestsAndTracebacks(config=config).preprocess(nb, {})

    assert nb.cells[0].source.strip() == "assert f(1) == 1"
    assert nb.cells[0].outputs[0].traceback == ["AssertionError: two", "(in a hidden test: its code is not shown)"]
    assert nb.cells[1].outputs[0].traceback[1] == "assert f(1) == 2, 'one'", "a visible test keeps its traceback"


def test_preprocessors_are_nbgrader_s_plus_ours():
    """nbgrader's pipeline, with its Execute replaced by ours (and outputs cut right after it)."""
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.preprocessors import Execute

    from dlcourse.grading.execute import TwoKernelExecute

    pps = grading_preprocessors.autograde_preprocessors()
    nbgrader_s = Autograde.class_traits()["autograde_preprocessors"].default()
    at = nbgrader_s.index(Execute)
    assert pps == [*nbgrader_s[:at], TwoKernelExecute, grading_preprocessors.CutLongOutputs, *nbgrader_s[at + 1:]]
    assert grading_preprocessors.feedback_preprocessors() == [*GenerateFeedback.class_traits()["preprocessors"].default(),
                                                            grading_preprocessors.ClearHiddenTestsAndTracebacks,
                                                            grading_preprocessors.NoteWhatRan,
                                                            feedback.SanitizeOutputs]


def test_feedback_leaves_out_what_the_hidden_part_printed_or_raised():
    config = notebooks.nbgrader_config(ROOT)
    meta = {"grade": True, "solution": False, "locked": True, "points": 1, "grade_id": "test_f_hidden"}
    cell = nbformat.v4.new_code_cell("assert f(1) == 1\n### BEGIN HIDDEN TESTS\nprint(f(2))\n### END HIDDEN TESTS\n",
                                     metadata={"nbgrader": meta, "dlcourse": {"hidden_outputs_from": 1,
                                                                              "hidden_failure": True}})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="visible part ok\n"),
                    nbformat.v4.new_output("stream", name="stdout", text="LEAK 0.123\n"),
                    nbformat.v4.new_output("error", ename="ValueError", evalue="LEAK 0.123", traceback=["LEAK"])]
    nb, _ = grading_preprocessors.ClearHiddenTestsAndTracebacks(config=config).preprocess(
        nbformat.v4.new_notebook(cells=[cell]), {})
    shown = nbformat.writes(nb)
    assert "LEAK" not in shown and "visible part ok" in shown and grading_preprocessors.HIDDEN_FAILED in shown
    assert "dlcourse" not in nb.cells[0].metadata, "the grader's bookkeeping stays out of the feedback"
