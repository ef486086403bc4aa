"""The preprocessors grading adds to nbgrader's pipelines, and those pipelines.

- ``autograde_preprocessors``: nbgrader's Autograde steps with ``execute.TwoKernelExecute`` in the place of
  Execute, then ``CutLongOutputs``;
- ``feedback_preprocessors``: nbgrader's GenerateFeedback steps, then ``ClearHiddenTestsAndTracebacks`` and
  ``NoteWhatRan``.
"""

from __future__ import annotations

import nbformat
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor

from .execute import TwoKernelExecute

MAX_OUTPUT_CHARS = 20_000  # per output; a 100 MB print is cut to this before it is stored
HIDDEN_FAILED = "a hidden test failed (what it printed and its message are not shown: they could quote its inputs)"
GRADING_NOTE = (
    "**How this notebook was graded.** Your answer cells ran in a kernel of their own, after the chapter's "
    "setup cell, without TensorFlow. The tests ran in the grader's kernel, in the instructor's version, and "
    "called your functions there. No other cell ran: outputs of plots, widgets and training runs are not "
    "shown. A failing hidden test is marked as such, without its message or output.")


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


def autograde_preprocessors() -> list:
    """nbgrader's Autograde preprocessors, with TwoKernelExecute in the place of Execute and CutLongOutputs
    right after it."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    pps = Autograde.class_traits()["autograde_preprocessors"].default()
    at = pps.index(Execute)
    return [*pps[:at], TwoKernelExecute, CutLongOutputs, *pps[at + 1:]]


def feedback_preprocessors() -> list:
    """nbgrader's GenerateFeedback preprocessors, then ClearHiddenTestsAndTracebacks, NoteWhatRan and
    SanitizeOutputs (the feedback runs no script a student wrote: dlcourse.feedback)."""
    from nbgrader.converters import GenerateFeedback

    from dlcourse.feedback import SanitizeOutputs

    return [*GenerateFeedback.class_traits()["preprocessors"].default(), ClearHiddenTestsAndTracebacks, NoteWhatRan,
            SanitizeOutputs]
