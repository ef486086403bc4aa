"""Grading with nbgrader: a whole class in one command, or one notebook for a learner.

One module a concern:
- ``intake``: a class's notebooks found in a folder or a zip: our layout, Moodle's or Canvas's export;
- ``batch``: a class graded, each submission a task in a local pool of processes or on a Dask cluster
  (``cluster``), and the summary;
- ``grades``: the output folder's records: grades.csv (merged into an existing one), the journal of a
  run, and resume's rule;
- ``submission``: one student's notebook of one chapter, graded by nbgrader in a throwaway course;
- ``kernels``: nbgrader's execute step done in two kinds of kernel, the student's (sandboxed) and the
  grader's (trusted);
- ``proxy``: in the grader's kernel, each graded function is a proxy that calls the student's kernel;
- ``serve``: in the student's kernel, the other end of such a call;
- ``wire``: the plain data that crosses between the two, decoded strictly;
- ``dlcourse.sandbox``: the student kernel's launcher (bwrap, resource limits, TensorFlow hidden);
- ``gradebook``: a graded class written into the course's own nbgrader gradebook, feedback released;
- ``report``: OUT/report/index.html, with ``similarity`` (similar answer code, by copydetect) and
  ``exports`` (gradebook files for Canvas and Moodle, a roster).

The names below are the grading API (cli, make bench, tests). They are imported on first use, so that
the student's kernel, which imports ``dlcourse.grading.serve``, does not load nbgrader.
"""

import importlib

_API = {
    "THREAD_VARS": "..sandbox", "sandbox_available": "..sandbox",
    "LAYOUTS": ".intake", "NoNotebooks": ".intake", "find_submissions": ".intake",
    "grade_class": ".batch", "summary": ".batch",
    "merge_rows": ".grades", "read_grades_csv": ".grades", "write_grades_csv": ".grades",
    "DEFAULT_MEMORY_GB": ".submission", "DEFAULT_TIMEOUT": ".submission", "STATUSES": ".submission",
    "ChapterSource": ".submission", "Result": ".submission", "chapter_exercises": ".submission",
    "exercise_of": ".submission", "grade_one": ".submission", "prepare_chapter": ".submission",
    "read_submission": ".submission", "self_check_table": ".submission",
}
__all__ = list(_API)


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_API[name], __name__), name)
