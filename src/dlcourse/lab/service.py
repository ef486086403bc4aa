"""The warm self-check service: a Jupyter server extension (``dlcourse.lab``'s doc has its API).

One ``Service`` per server keeps a warm ``selfcheck.Checker`` in a worker process of its own: checks run one
at a time there, each in fresh kernels; the next check's kernels are started after each check, and when a chapter's
notebook is opened (``warm``). The handlers check the server's own authentication
(token or cookie, and XSRF for cookies) and its authorizer's "kernels" permission: a check executes code.
A notebook is named by its path under the server's root folder, as the contents API names it; nothing outside
that folder is read.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.ioloop import PeriodicCallback

from .. import selfcheck
from .client import PATH

OFF_ENV = "DLCOURSE_CHECK_SERVICE"  # "off": no service (the classroom's servers)
IDLE_ENV = "DLCOURSE_CHECK_IDLE_MINUTES"  # the started kernels (about 0.9 GB) are stopped after this long unused
IDLE_MINUTES = 30.0
CHAPTER = re.compile(r"[A-Za-z0-9_]{1,64}")


def _die_with_server() -> None:
    """The worker's initializer: it is killed when the server dies, even by SIGKILL (Linux's PR_SET_PDEATHSIG),
    so that its ready kernels (0.9 GB) never outlive the server."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux's libc
        pass


_CHECKER: selfcheck.Checker | None = None  # in the worker process


def _in_worker(method: str, target: selfcheck.Target | None = None):
    """Run in the worker process: the warm Checker's ``method``; a check returns its report."""
    global _CHECKER
    if _CHECKER is None:
        _CHECKER = selfcheck.Checker(warm=True)
    if method == "check":
        return selfcheck.report(_CHECKER.check(target), target)
    return getattr(_CHECKER, method)(*([target] if target is not None else []))


class Service:
    """The checks of one server, rooted at its folder ``root``. The warm Checker lives in a worker process of its
    own: nbgrader, which it runs, sets ``NBGRADER_EXECUTION`` and changes the working folder while it grades, and
    in the server's process a kernel the learner started meanwhile would inherit them."""

    def __init__(self, root: Path, log, idle_minutes: float = IDLE_MINUTES):
        import multiprocessing

        self.root, self.log = Path(root).resolve(), log
        self.cwd = Path.cwd()  # the server's: where a notebook outside any course looks for one (selfcheck.locate)
        self.executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_die_with_server)
        self.idle_seconds, self.used, self.resting, self.busy = 60 * idle_minutes, time.monotonic(), True, 0
        atexit.register(self.close)

    def close(self) -> None:
        """The worker stopped (its kernels stop with it, and it removes its prepared courses)."""
        self.executor.submit(_in_worker, "close")
        self.executor.shutdown(wait=True, cancel_futures=True)

    def rest_if_idle(self) -> None:
        """Stop the started kernels once the service has been unused for ``idle_seconds`` (a periodic callback)."""
        if not self.resting and not self.busy and time.monotonic() - self.used > self.idle_seconds:
            self.resting = True
            self.executor.submit(_in_worker, "rest")
            self.log.info("dlcourse: the self-check's kernels stopped after %.0f minutes unused", self.idle_seconds / 60)

    def target(self, body: dict) -> selfcheck.Target:
        rel = body.get("path")
        if not isinstance(rel, str) or not rel.endswith(".ipynb") or "\0" in rel:
            raise selfcheck.CheckError("name a notebook (.ipynb) by its path in JupyterLab's file browser")
        path = (self.root / rel.lstrip("/")).resolve()
        if not path.is_relative_to(self.root):
            raise selfcheck.CheckError(f"{rel} is outside the folder JupyterLab serves")
        chapter, course = body.get("chapter"), body.get("course")
        if chapter is not None and not (isinstance(chapter, str) and CHAPTER.fullmatch(chapter)):
            raise selfcheck.CheckError("a chapter is named by its id, e.g. ch00_start")
        if course is not None and not isinstance(course, str):
            raise selfcheck.CheckError("a course is named by its folder")
        target = selfcheck.locate(path, chapter, cwd=self.cwd)
        if course is not None and (target.root is None or Path(course).resolve() != target.root):
            # the service grades with the course its own folder gives, never a folder the request names
            raise selfcheck.CheckError(f"this JupyterLab grades {rel} with {target.root or 'its visible tests only'}")
        if body.get("visible_only"):
            target = selfcheck.Target(target.path, target.chapter, None)
        return target

    async def _in_worker_process(self, method: str, target: selfcheck.Target):
        self.used, self.resting, self.busy = time.monotonic(), False, self.busy + 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, _in_worker, method, target)
        finally:
            self.used, self.busy = time.monotonic(), self.busy - 1

    async def warm(self, target: selfcheck.Target) -> None:
        await self._in_worker_process("prestart", target)

    async def check(self, target: selfcheck.Target) -> dict:
        return await self._in_worker_process("check", target)


class CheckHandler(APIHandler):
    auth_resource = "kernels"  # a check runs the notebook's code

    @property
    def service(self) -> Service | None:
        return self.settings.get("dlcourse_check")

    @web.authenticated
    @authorized
    async def get(self):
        self.finish({"enabled": self.service is not None})

    @web.authenticated
    @authorized
    async def post(self):
        if self.service is None:
            raise web.HTTPError(404, f"the check service is off ({OFF_ENV}=off)")
        try:
            body = self.get_json_body() or {}
            target = self.service.target(body if isinstance(body, dict) else {})
        except selfcheck.CheckError as err:
            self.set_status(400)
            self.finish({"error": str(err)})
            return
        if body.get("warm"):
            await self.service.warm(target)
            self.finish({"chapter": target.chapter, "visible_only": target.visible_only})
            return
        self.finish(await self.service.check(target))


def load(serverapp) -> None:
    web_app = serverapp.web_app
    if os.environ.get(OFF_ENV, "").lower() != "off":
        try:
            idle = float(os.environ.get(IDLE_ENV, IDLE_MINUTES))
        except ValueError:
            serverapp.log.warning("dlcourse: %s=%r is not a number of minutes; %g it is", IDLE_ENV,
                                  os.environ[IDLE_ENV], IDLE_MINUTES)
            idle = IDLE_MINUTES
        service = web_app.settings["dlcourse_check"] = Service(serverapp.root_dir, serverapp.log, idle)
        PeriodicCallback(service.rest_if_idle, 1000 * min(60.0, max(1.0, 60 * idle / 4))).start()
    pattern = url_path_join(web_app.settings["base_url"], PATH)
    web_app.add_handlers(".*$", [(pattern, CheckHandler)])
    serverapp.log.info("dlcourse: the self-check service at %s (%s)", pattern,
                       "on" if OFF_ENV not in os.environ else f"{OFF_ENV}={os.environ[OFF_ENV]}")
