"""nbgrader configuration of the course (one file for the repo, a laptop and a JupyterHub).

Layout: solutions/<id>/<id>.ipynb is nbgrader's "source" (instructor version),
notebooks/<id>/<id>.ipynb its "release" (student version). Paths are relative to
the course root, the folder above this one.

Use it from the command line with
    nbgrader <command> --config autograde/nbgrader_config.py ...
or through `make notebooks` / `dlcourse` which load it for you.
"""

import os

c = get_config()  # noqa: F821 - injected by traitlets

c.CourseDirectory.root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.course_id = "dlcourse"

# Every exercise stub raises, so a learner running the notebook sees which parts are left.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Generated student notebooks: no outputs, no execution counts.
c.ClearOutput.remove_metadata_fields = ["collapsed", "scrolled", "ExecuteTime"]
