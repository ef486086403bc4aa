"""The warm self-check service: a Jupyter server extension (``dlcourse.lab``'s doc has its API).

One ``Service`` per server keeps a warm ``selfcheck.Checker`` on a thread of its own: checks run one at a
time there, each in fresh kernels; the next check's kernels are started as soon as a check takes its own,
and when a chapter's notebook is opened (``warm``). The handlers check the server's own authentication
(token or cookie, and XSRF for cookies) and its authorizer's "kernels" permission: a check executes code.
A notebook is named by its path under the server's root folder, as the contents API names it; nothing outside
that folder is read.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import time
from concurrent.futures import ThreadPoolExecutor
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


class Service:
    """The checks of one server, rooted at its folder ``root``."""

    def __init__(self, root: Path, log, idle_minutes: float = IDLE_MINUTES):
        self.root, self.log = Path(root).resolve(), log
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="dlcourse-check")
        self.checker = selfcheck.Checker(warm=True)
        self.idle_seconds, self.used, self.resting = 60 * idle_minutes, time.monotonic(), True
        atexit.register(self.checker.close)  # its prepared courses; the kernels stop with their pool, at exit too

    def rest_if_idle(self) -> None:
        """Stop the started kernels once the service has been unused for ``idle_seconds`` (a periodic callback)."""
        if not self.resting and time.monotonic() - self.used > self.idle_seconds:
            self.resting = True
            self.executor.submit(self.checker.rest)
            self.log.info("dlcourse: the self-check's kernels stopped after %.0f minutes unused", self.idle_seconds / 60)

    def target(self, body: dict) -> selfcheck.Target:
        rel = body.get("path")
        if not isinstance(rel, str) or not rel.endswith(".ipynb"):
            raise selfcheck.CheckError("name a notebook (.ipynb) by its path in JupyterLab's file browser")
        path = (self.root / rel.lstrip("/")).resolve()
        if not path.is_relative_to(self.root):
            raise selfcheck.CheckError(f"{rel} is outside the folder JupyterLab serves")
        chapter, course = body.get("chapter"), body.get("course")
        if not (chapter is None or isinstance(chapter, str)) or not (course is None or isinstance(course, str)):
            raise selfcheck.CheckError("chapter and course are names of a chapter and a folder")
        return selfcheck.locate(path, chapter, Path(course) if course else None)

    async def _on_thread(self, fn, *args):
        self.used, self.resting = time.monotonic(), False
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        finally:
            self.used = time.monotonic()

    async def warm(self, target: selfcheck.Target) -> None:
        await self._on_thread(self.checker.prestart, target)

    async def check(self, target: selfcheck.Target) -> dict:
        result = await self._on_thread(self.checker.check, target)
        return selfcheck.report(result, target)

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
