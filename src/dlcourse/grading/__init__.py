"""Grading with nbgrader: a whole class in one command, or one notebook for a learner.

One module a concern:
- ``batch``: a class (folder or zip) found, graded in a pool of processes, grades.csv and the summary;
- ``submission``: one student's notebook of one chapter, graded by nbgrader in a throwaway course;
- ``kernels``: nbgrader's execute step done in two kinds of kernel, the student's (sandboxed) and the
  grader's (trusted);
- ``proxy``: in the grader's kernel, each graded function is a proxy that calls the student's kernel;
- ``serve``: in the student's kernel, the other end of such a call;
- ``wire``: the plain data that crosses between the two, decoded strictly;
- ``dlcourse.sandbox``: the student kernel's launcher (bwrap, resource limits, TensorFlow hidden).

The names below are the grading API (cli, make bench, tests). They are imported on first use, so that
the student's kernel, which imports ``dlcourse.grading.serve``, does not load nbgrader.
"""

import importlib

_API = {
    "THREAD_VARS": "..sandbox", "sandbox_available": "..sandbox",
    "find_submissions": ".batch", "grade_class": ".batch", "summary": ".batch", "write_grades_csv": ".batch",
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
