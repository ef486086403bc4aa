"""The student kernel's side of a call from the grader: run one graded function, send back plain data.

Before any of the student's code runs, the grader registers ``TARGET`` as a Jupyter comm target in the
student's kernel (``register``). A call is then a ``comm_open`` message whose data holds ``request``: base64
of a cloudpickle of ``(target, calls, rules, each)``: the function's name in the student's namespace (or a
test's loop over it, shipped by value: ``answers.drive``), a list of
``(args, kwargs)`` (plain data and the tests' own callables), the caller's numeric rules (``numeric_rules``),
and whether the calls are ``answers.each``'s (else there is one). The reply is the comm's ``comm_close``
message, whose data holds ``reply``: base64 of ``wire.encode`` of either ``{"value": ..., "inputs": [...]}``
(the result, and every array argument as it is after the call; for ``each``, a list of these, call by call)
or ``{"error": type name, "message": str}`` (the first call that raised).

Comm messages are handled by the kernel itself, not run as cells: the student's input transformers, AST
transformers and cell hooks do not touch them. Everything here runs in the student's kernel, which the
student controls: the grader trusts none of it and decodes the reply strictly. It imports the standard
library, NumPy and cloudpickle only.
"""

from __future__ import annotations

import base64
import contextlib
import pickle
import sys

from . import wire

TARGET = "dlcourse.call"
MAX_MESSAGE = 2000


def student_global(name: str):
    """A name of the student's namespace (a graded function passed as an argument arrives as this)."""
    return vars(sys.modules["__main__"])[name]


@contextlib.contextmanager
def numeric_rules(rules: dict):
    """Run under the caller's NumPy error handling and with its warning categories as errors (the grader's
    ``proxy.numeric_rules``): what a test sets around a graded call holds for the call."""
    import builtins
    import warnings

    import numpy as np

    with np.errstate(**rules.get("errstate", {})), warnings.catch_warnings():
        for name in rules.get("warnings_as_errors", ()):
            category = getattr(builtins, name, None)
            if isinstance(category, type) and issubclass(category, Warning):
                warnings.simplefilter("error", category)
        yield


def register() -> None:
    """Make this kernel answer calls (run by the grader before any student code)."""
    from IPython import get_ipython

    get_ipython().kernel.comm_manager.register_target(TARGET, _on_open)


def _on_open(comm, msg) -> None:
    # the reply rides on the comm's close: one message on IOPub, not two (each goes through ipykernel's IOPub thread)
    comm.close(data={"reply": base64.b64encode(run(msg["content"]["data"]["request"])).decode("ascii")})


def run(request: str) -> bytes:
    """The encoded reply to one request."""
    try:
        target, calls, rules, each = pickle.loads(base64.b64decode(request))
        if isinstance(target, str):
            try:
                fn = student_global(target)
            except KeyError:
                raise NameError(f"name {target!r} is not defined") from None
        else:  # a test's loop over the student's function (answers.drive), which is among its arguments
            fn = target
        values, inputs = [], []
        with numeric_rules(rules):
            for args, kwargs in calls:  # one call, or the calls of answers.each one after the other
                values.append(fn(*args, **kwargs))
                inputs.append(wire.array_leaves((args, kwargs)))
        if each:
            return wire.encode({"value": values, "inputs": inputs})
        return wire.encode({"value": values[0], "inputs": inputs[0]})
    except BaseException as err:  # noqa: BLE001 - every failure, KeyboardInterrupt and SystemExit too, is reported
        where = _your_line(err)
        # on the same line: a test that quotes the error in its own message keeps one line (what is shown)
        message = str(err)[:MAX_MESSAGE] + _missing_name(err) + (f" ({where})" if where else "")
        return wire.encode({"error": type(err).__name__, "message": message})


def _missing_name(err: BaseException) -> str:
    """For a NameError in the student's code: why a name that exists in the learner's own kernel can be missing
    here (only the setup and answer cells run when graded; learners' helper cells and the locked cells'
    variables do not)."""
    name = getattr(err, "name", None) if isinstance(err, NameError) else None
    if not name:
        return ""
    return (f": when graded, only the setup cell and the exercise cells run; if `{name}` is defined in another "
            f"cell (one you added, or a locked cell), define it inside this exercise's cell")


def _your_line(err: BaseException) -> str:
    """Where in the student's own code ``err`` was raised: the deepest frame of a cell (not of a library nor of
    this module), as "line N of your cell: <code>", for the feedback's one-line traceback."""
    import linecache
    import os

    libraries = tuple({sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(__file__))})
    found = ""
    tb = err.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if not code.co_filename.startswith(libraries):
            text = linecache.getline(code.co_filename, tb.tb_lineno).strip()
            found = f"line {tb.tb_lineno} of your cell, in {code.co_name}: {text[:200]}"
        tb = tb.tb_next
    return found
