"""Grading with nbgrader: a whole class in one command, or one notebook for a learner.

One module a concern, from a class down to one call of a student's function:
- ``intake``: a class's notebooks found in a folder or a zip: our layout, Moodle's or Canvas's export;
- ``batch``: a class graded (``grade_class``): the local pool of processes, the loop that drives a pool, the
  output folder written, and the summary;
- ``cluster``: the same tasks on a Dask cluster (``ClusterPool``, the workers checked);
- ``task``: one submission as a task, the same in a local process and on a Dask worker;
- ``grades``: the output folder's records: grades.csv (merged into an existing one), the journal of a
  run, and resume's rule;
- ``submission``: one student's notebook of one chapter, graded by nbgrader in a throwaway course;
- ``preprocessors``: what grading adds to nbgrader's autograde and feedback pipelines;
- ``execute``: nbgrader's execute step done in two kinds of kernel, the student's (sandboxed) and the
  grader's (trusted): ``TwoKernelExecute``;
- ``kernels``: those kernels: started, restarted, stopped, and a pool of them per grading process;
- ``proxy``: in the grader's kernel, each graded function is a proxy that calls the student's kernel;
- ``text``: one-line messages (an error's first line), and text made safe for the instructor's terminal;
- ``gradebook``: a graded class written into the course's own nbgrader gradebook, feedback released;
- ``report``: OUT/report/index.html, with ``similarity`` (similar answer code, by copydetect) and
  ``exports`` (gradebook files for Canvas and Moodle, a roster); ``synthetic``: made-up classes for it.

Elsewhere: ``dlcourse.student`` (``serve``, ``wire``) runs inside the student's kernel, and ``dlcourse.sandbox``
is that kernel's launcher (bwrap, resource limits, TensorFlow hidden).

The names below are the grading API (cli, make bench, tests). They are imported on first use: the grader's
kernel imports ``dlcourse.grading.proxy`` for every submission, and importing this package eagerly would
load nbgrader there too (measured: 0.3 s to import ``proxy`` alone, 5.9 s with ``batch`` and nbgrader).
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
