"""The student kernel's side of a call from the grader: run one graded function, publish the result as plain data.

The grader kernel sends ``call(REQUEST)`` as code to execute, REQUEST being base64 of a cloudpickle of
``(name, args, kwargs)``: the function's name in the student's namespace and arguments made of plain data
and the tests' own callables. The reply is a ``display_data`` message of type ``REPLY_MIME`` holding
base64 of ``wire.encode`` of either ``{"value": ..., "inputs": [...]}`` (the result, and every array
argument as it is after the call) or ``{"error": type name, "message": str}``.

Everything here runs in the student's kernel, which the student controls: the grader trusts none of it and
decodes the reply strictly. It imports the standard library, NumPy and cloudpickle only.
"""

from __future__ import annotations

import base64
import pickle
import sys

from . import wire

REPLY_MIME = "application/x-dlcourse-reply"
MAX_MESSAGE = 2000


def student_global(name: str):
    """A name of the student's namespace (a graded function passed as an argument arrives as this)."""
    return vars(sys.modules["__main__"])[name]


def call(request: str) -> None:
    from IPython.display import publish_display_data

    name, args, kwargs = pickle.loads(base64.b64decode(request))
    try:
        try:
            fn = student_global(name)
        except KeyError:
            raise NameError(f"name {name!r} is not defined") from None
        value = fn(*args, **kwargs)
        reply = wire.encode({"value": value, "inputs": wire.array_leaves((args, kwargs))})
    except BaseException as err:  # noqa: BLE001 - every failure, KeyboardInterrupt and SystemExit too, is reported
        reply = wire.encode({"error": type(err).__name__, "message": str(err)[:MAX_MESSAGE]})
    publish_display_data({REPLY_MIME: base64.b64encode(reply).decode("ascii")})
