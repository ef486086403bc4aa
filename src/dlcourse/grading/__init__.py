"""Grading with nbgrader: a whole class in one command, or one notebook for a learner.

One module a concern:
- ``intake``: a class's notebooks found in a folder or a zip: our layout, Moodle's or Canvas's export;
- ``batch``: a class graded in a pool of processes, merged into grades.csv, and the summary;
- ``submission``: one student's notebook of one chapter, graded by nbgrader in a throwaway course;
- ``dlcourse.sandbox``: the student kernel's launcher (bwrap, resource limits);
- ``report``: OUT/report/index.html, with ``similarity`` (similar answer code, by copydetect) and
  ``exports`` (gradebook files for Canvas and Moodle, a roster).

The names below are the grading API (cli, make bench, tests).
"""

from ..sandbox import THREAD_VARS, sandbox_available
from .batch import grade_class, merge_rows, read_grades_csv, summary, write_grades_csv
from .intake import LAYOUTS, NoNotebooks, find_submissions
from .submission import (DEFAULT_MEMORY_GB, DEFAULT_TIMEOUT, STATUSES, Result, chapter_exercises, exercise_of,
                         grade_one, prepare_chapter, read_submission, self_check_table)

__all__ = ["THREAD_VARS", "sandbox_available", "LAYOUTS", "NoNotebooks", "find_submissions", "grade_class", "merge_rows",
           "read_grades_csv", "summary", "write_grades_csv",
           "DEFAULT_MEMORY_GB", "DEFAULT_TIMEOUT", "STATUSES", "Result", "chapter_exercises", "exercise_of", "grade_one",
           "prepare_chapter", "read_submission", "self_check_table"]
