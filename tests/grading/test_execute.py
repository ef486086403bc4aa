"""dlcourse.grading.execute's two-phase rule, watched from the grading process while chapter 0's solution is
graded: the hidden kernel is given nothing (no answer cell, no connection to the grader's proxies) before the
visible kernel has been stopped. Since the kernels start at once and are given their parts as soon as they have
started, this order is all that keeps a kernel that has seen a hidden input from running beside one whose
output the student sees (docs/security.md)."""

from __future__ import annotations

import itertools

from classes import CH, ROOT, TOTAL

from dlcourse import grading, notebooks
from dlcourse.grading import kernels

EVENTS = itertools.count()


def test_the_hidden_kernel_gets_nothing_before_the_visible_one_is_stopped(monkeypatch):
    log = []  # (order, kernel role, "run" | "stopped", source or connection file)
    new, run, stop = kernels.KernelPool._new, kernels.Kernel.run, kernels.Kernel.stop

    async def tagged_new(self, role, chapter):
        kernel = await new(self, role, chapter)
        kernel.role = role
        return kernel

    async def logged_run(self, source):
        log.append((next(EVENTS), getattr(self, "role", "starting"), "run", source))
        return await run(self, source)

    async def logged_stop(self):
        await stop(self)
        log.append((next(EVENTS), getattr(self, "role", "starting"), "stopped", self.connection_file))

    monkeypatch.setattr(kernels.KernelPool, "_new", tagged_new)
    monkeypatch.setattr(kernels.Kernel, "run", logged_run)
    monkeypatch.setattr(kernels.Kernel, "stop", logged_stop)
    source = grading.ChapterSource.from_course(CH, ROOT)
    result = grading.grade_one("you", source, notebooks.solution_path(CH, ROOT), None, timeout=30,
                               sandbox=grading.sandbox_available())
    assert (result.status, result.score) == ("graded", TOTAL), result  # the hidden phase ran

    visible_stopped = min(i for i, role, what, _ in log if role == "visible" and what == "stopped")
    given = [i for i, role, what, code in log if role == "hidden" and what == "run" and code != kernels.STUDENT_WARM_UP]
    assert given and min(given) > visible_stopped, "the hidden kernel ran a cell before the visible one was stopped"
    hidden_file = next(code for i, role, what, code in log if role == "hidden" and what == "stopped")
    told = [i for i, role, what, code in log if role == "grader" and what == "run" and hidden_file in code]
    assert told and min(told) > visible_stopped, "the grader's proxies knew the hidden kernel before the visible one stopped"
