"""The student kernel's side of a call from the grader: run one graded function, send back plain data.

Before any of the student's code runs, the grader registers ``TARGET`` as a Jupyter comm target in the
student's kernel (``register``). A call is then a ``comm_open`` message whose data holds ``request``: base64
of a cloudpickle of ``(name, args, kwargs)``, the function's name in the student's namespace and its
arguments (plain data and the tests' own callables). The reply is one comm message holding ``reply``:
base64 of ``wire.encode`` of either ``{"value": ..., "inputs": [...]}`` (the result, and every array argument
as it is after the call) or ``{"error": type name, "message": str}``.

Comm messages are handled by the kernel itself, not run as cells: the student's input transformers, AST
transformers and cell hooks do not touch them. Everything here runs in the student's kernel, which the
student controls: the grader trusts none of it and decodes the reply strictly. It imports the standard
library, NumPy and cloudpickle only.
"""

from __future__ import annotations

import base64
import pickle
import sys

from . import wire

TARGET = "dlcourse.call"
MAX_MESSAGE = 2000


def student_global(name: str):
    """A name of the student's namespace (a graded function passed as an argument arrives as this)."""
    return vars(sys.modules["__main__"])[name]


def register() -> None:
    """Make this kernel answer calls (run by the grader before any student code)."""
    from IPython import get_ipython

    get_ipython().kernel.comm_manager.register_target(TARGET, _on_open)


def _on_open(comm, msg) -> None:
    comm.send({"reply": base64.b64encode(run(msg["content"]["data"]["request"])).decode("ascii")})
    comm.close()


def run(request: str) -> bytes:
    """The encoded reply to one request."""
    try:
        name, args, kwargs = pickle.loads(base64.b64decode(request))
        try:
            fn = student_global(name)
        except KeyError:
            raise NameError(f"name {name!r} is not defined") from None
        value = fn(*args, **kwargs)
        return wire.encode({"value": value, "inputs": wire.array_leaves((args, kwargs))})
    except BaseException as err:  # noqa: BLE001 - every failure, KeyboardInterrupt and SystemExit too, is reported
        return wire.encode({"error": type(err).__name__, "message": str(err)[:MAX_MESSAGE]})
