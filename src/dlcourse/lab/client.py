"""``dlcourse check``'s way to the warm service (``dlcourse.lab.service``) of a running JupyterLab.

The servers are found through their runtime files (``jpserver-<pid>.json`` in Jupyter's runtime folder: URL,
token, root folder), as ``jupyter server list`` finds them. The first running server whose root folder holds
the notebook and whose service is on grades it. Anything else (no server, the service off, an error, a
timeout) returns None, and the check runs in the calling process as before.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.parse
import urllib.request
from pathlib import Path

PATH = "dlcourse/check"  # the service's URL path, under the server's base URL (the front end's too)
WAIT = 1800  # seconds: a check through the service (its tests may take 10 cells' time limits), before grading here
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def running_servers():
    """The runtime records of this user's running Jupyter servers (url, token, root_dir, pid): files of this user's,
    readable by no one else (as Jupyter writes them), of a live process, serving on this machine's loopback."""
    from jupyter_core.paths import jupyter_runtime_dir

    for path in sorted(Path(jupyter_runtime_dir()).glob("jpserver-*.json")):
        try:
            st = path.stat()
            if st.st_uid != os.getuid() or st.st_mode & 0o077:
                continue
            info = json.loads(path.read_text())
            url = urllib.parse.urlsplit(info["url"])
            if url.scheme != "https" and url.hostname not in LOOPBACK:  # the token would cross a network in clear
                continue
            os.kill(int(info["pid"]), 0)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        yield info


def _call(info: dict, body: dict | None, timeout: float):
    url = info["url"].rstrip("/") + "/" + PATH
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers={"Authorization": f"token {info.get('token', '')}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - a server of this user's, from its runtime file
        return json.loads(r.read())


def _plain(report) -> bool:
    """The answer has what ``dlcourse check`` prints, of the types it prints."""
    return (isinstance(report, dict) and isinstance(report.get("table"), str) and isinstance(report.get("status"), str)
            and isinstance(report.get("detail"), str) and isinstance(report.get("visible_only"), bool))


def check(target) -> dict | None:
    """``target`` (a ``selfcheck.Target``) graded by a running server's service: ``{"url", "report"}``, or None."""
    path = target.path.resolve()
    for info in running_servers():
        try:
            rel = path.relative_to(Path(info["root_dir"]).resolve())
            if not _call(info, None, 5).get("enabled"):
                continue
            report = _call(info, {"path": rel.as_posix(), "chapter": target.chapter,
                                  "course": str(target.root) if target.root else None,
                                  "visible_only": target.root is None}, WAIT)
        except (ValueError, KeyError, TypeError, AttributeError, OSError, http.client.HTTPException):
            continue  # urllib's errors and JSON's are OSError and ValueError
        if _plain(report):
            return {"url": info["url"], "report": report}
    return None
