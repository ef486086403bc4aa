"""One task (``grading.task``): the cores a grading process's kernels get."""

from __future__ import annotations

import os
import sys

import pytest

from dlcourse import grading
from dlcourse.grading import task as grading_task

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the grading sandbox (bwrap) is Linux only")


def test_share_cores_keeps_what_the_instructor_set(monkeypatch):
    for var in grading.THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    grading_task.share_cores(3)
    assert os.environ["OMP_NUM_THREADS"] == "7"
    assert all(os.environ[v] == "2" for v in grading.THREAD_VARS if v != "OMP_NUM_THREADS"), "8 cores // 3 jobs = 2"
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    monkeypatch.delenv("MKL_NUM_THREADS")
    grading_task.share_cores(4)
    assert os.environ["MKL_NUM_THREADS"] == "1", "at least one thread per kernel"
