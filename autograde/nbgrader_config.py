"""nbgrader configuration of the course (one file for the repo, a laptop and a JupyterHub).

Layout: solutions/<id>/<id>.ipynb is nbgrader's "source" (instructor version),
notebooks/<id>/<id>.ipynb its "release" (student version).

The course folder (nbgrader's CourseDirectory.root) is $DLCOURSE_ROOT if set, else the folder above
this file's autograde/ when it holds solutions/. A copy of this file elsewhere (say in ~/.jupyter/)
sets no root, so nbgrader uses its own default, the current folder: load this file from the course
instead (`load_subconfig("<course>/autograde/nbgrader_config.py")`) or set DLCOURSE_ROOT.

Use it from the command line with
    nbgrader <command> --config autograde/nbgrader_config.py ...
or through `make notebooks` / `dlcourse` which load it for you.
"""

import os
import sys

from dlcourse.feedback import template_basedirs

c = get_config()  # noqa: F821 - injected by traitlets


def _course_root():
    if os.environ.get("DLCOURSE_ROOT"):
        return os.path.abspath(os.environ["DLCOURSE_ROOT"])
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return here if os.path.isdir(os.path.join(here, "solutions")) else None


if _course_root():
    c.CourseDirectory.root = _course_root()
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.course_id = "dlcourse"

# nbgrader opens its gradebook by running the `alembic` command found on PATH, so a plain
# `.venv/bin/nbgrader ...` outside an activated venv crashed: this interpreter's bin folder goes first.
_bindir = os.path.dirname(sys.executable)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _bindir:
    os.environ["PATH"] = _bindir + os.pathsep + os.environ.get("PATH", "")

# Every exercise stub raises, so a learner running the notebook sees which parts are left.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Generated student notebooks: no outputs, no execution counts.
c.ClearOutput.remove_metadata_fields = ["collapsed", "scrolled", "ExecuteTime"]

# Feedback (`nbgrader generate_feedback`, the formgrader, `dlcourse grade`): hidden tests are removed
# and a failing hidden test shows its error message, never its code (nbgrader only removes hidden
# tests in feedback when told to, nbgrader #917).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "dlcourse.grading.preprocessors.ClearHiddenTestsAndTracebacks",
    "dlcourse.feedback.SanitizeOutputs",  # and it runs no script a student wrote (dlcourse.feedback)
]
# ... and its maths is MathML, which browsers render without a network (nbgrader's feedback template
# loads MathJax from a CDN: raw TeX when a student opens the file offline).
c.HTMLExporter.filters = {"markdown2html": "dlcourse.feedback.markdown2html_mathml"}
c.HTMLExporter.extra_template_basedirs = template_basedirs()
# ... written in about half the time: the chapter's own Markdown and code rendered once per grading process, and
# without nbconvert's second parse of the whole page (dlcourse.feedback.FeedbackExporter says what that pass did).
c.GenerateFeedback.exporter_class = "dlcourse.feedback.FeedbackExporter"

# The formgrader's Autograde button, and a plain `nbgrader autograde`, grade as `dlcourse grade` does: the
# student's code in a sandboxed kernel, the tests in the grader's. nbgrader's own Execute would run the tests in
# the student's kernel, where the student's code can make them pass. (`dlcourse grade` sets its own list.)
c.Autograde.autograde_preprocessors = [
    "dlcourse.grading.gradebook.SecureAutograde",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
