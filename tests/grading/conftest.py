"""Fixtures shared by the grading tests: the class graded with --jobs 2 (made once, see ``classes.once``)."""

import pytest
from classes import graded_with_jobs_2


@pytest.fixture(scope="module")
def jobs2(tmp_path_factory, worker_id):
    return graded_with_jobs_2(tmp_path_factory, worker_id)
