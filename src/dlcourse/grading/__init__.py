"""Grading with nbgrader: a whole class in one command, or one notebook for a learner.

One module a concern:
- ``batch``: a class (folder or zip) found, graded in a pool of processes, grades.csv and the summary;
- ``submission``: one student's notebook of one chapter, graded by nbgrader in a throwaway course;
- ``dlcourse.sandbox``: the student kernel's launcher (bwrap, resource limits).

The names below are the grading API (cli, make bench, tests).
"""

from ..sandbox import THREAD_VARS, sandbox_available
from .batch import find_submissions, grade_class, summary, write_grades_csv
from .submission import (DEFAULT_MEMORY_GB, DEFAULT_TIMEOUT, STATUSES, ChapterSource, Result, chapter_exercises,
                         exercise_of,
                         grade_one, prepare_chapter, read_submission, self_check_table)

__all__ = ["THREAD_VARS", "sandbox_available", "find_submissions", "grade_class", "summary", "write_grades_csv",
           "DEFAULT_MEMORY_GB", "DEFAULT_TIMEOUT", "STATUSES", "ChapterSource", "Result", "chapter_exercises", "exercise_of", "grade_one",
           "prepare_chapter", "read_submission", "self_check_table"]
