"""Calling a learner's graded function from a visible test, so that every failure names its cause.

``call(fn, *args, hint=..., **kwargs)`` calls ``fn`` and turns what a learner cannot act on into a message
that can be acted on:

- **TensorFlow (or Keras, PyTorch, JAX) inside a NumPy answer.** In the learner's own kernel TensorFlow
  works, so ``tf.nn.relu(z)`` returns a ``tf.Tensor`` that even compares equal to the reference; when the
  notebook is graded, the answer runs in a sandbox where ``tf`` is undefined (a ``NameError``) or its import
  raises ``ImportError(sandbox.BLOCKED_MESSAGE)``. ``call`` catches all three cases, before the call (a
  framework module among the names the function's code uses), during it (the two errors) and after it (a
  framework object in the result), with one message: "... write it in NumPy".
- **A raw NumPy error** (a matmul or broadcast shape error, an index error, a tuple where an array was
  expected, a Python integer out of a dtype's range): with ``hint`` given, re-raised as an ``AssertionError`` whose first line names the likely cause
  (``dlcourse check`` prints that line), with NumPy's own words after it.
- **Overflow, division by zero, invalid values** (with ``floats`` given): in the learner's kernel the call runs
  with NumPy's floating-point warnings raised as errors; in the grader the learner's function runs in the
  student kernel, whose warnings come back as printed text, so the call's output is captured and searched
  for NumPy's ``RuntimeWarning`` (then printed as it was). Either way the message is ``floats``.
- ``NotImplementedError`` (the unfinished stub) and ``AssertionError`` (including the grader's
  ``InputModified``) pass through unchanged.
"""

from __future__ import annotations

import contextlib
import io
import re
import types
import warnings

import numpy as np

from .sandbox import BLOCKED_MESSAGE

__all__ = ["FRAMEWORKS", "NumpyOnly", "call", "drive", "each", "framework_names", "framework_object"]

#: top-level packages a graded answer may not use
FRAMEWORKS = ("tensorflow", "keras", "tf_keras", "torch", "jax", "jaxlib")
#: names under which they are usually imported
_USUAL_NAMES = {"tf", "keras", "torch", "jax", "jnp", "tensorflow"}
_UNDEFINED = re.compile(r"name '(\w+)' is not defined")


# The frame this module's own messages are raised from. IPython shows the last frame of a traceback even when
# it is hidden (``__tracebackhide__``); this one names no file of the machine the tests run on (a grader's).
def raiser(where: str):
    """A function that raises its argument (``from None``) from a frame whose file is ``where``: the last
    frame a traceback shows, naming no file of the machine (the grader's proxy uses it too)."""
    namespace: dict = {}
    exec(compile("def _raise(err):\n    raise err from None\n", where, "exec"), namespace)
    return namespace["_raise"]


_raise = raiser("<the test's check>")


class NumpyOnly(AssertionError):
    """A graded answer used TensorFlow, Keras, PyTorch or JAX."""


def _is_framework_module(value) -> bool:
    mod = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
    return isinstance(mod, str) and mod.split(".")[0] in FRAMEWORKS


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # lambdas, comprehensions and inner functions
            names |= _code_names(const)
    return names


def framework_names(fn) -> list[str]:
    """The global names ``fn``'s code uses that are bound to a framework's module or function (empty for a
    function without Python code, such as the grader's proxy of a learner's function)."""
    code, glb = getattr(fn, "__code__", None), getattr(fn, "__globals__", None)
    if not isinstance(code, types.CodeType) or not isinstance(glb, dict):
        return []
    return sorted(n for n in _code_names(code) if n in glb and _is_framework_module(glb[n]))


def framework_object(value, _depth: int = 0) -> str:
    """The type name of a framework object (a ``tf.Tensor``, say) in ``value`` or its tuples, lists and dict
    values, or ``""``."""
    if _depth > 4:
        return ""
    if isinstance(value, (tuple, list)):
        items = value
    elif isinstance(value, dict):
        items = list(value.values())
    else:
        return f"{type(value).__module__}.{type(value).__name__}" if _is_framework_module(type(value)) else ""
    for item in items:
        found = framework_object(item, _depth + 1)
        if found:
            return found
    return ""


def _numpy_only(name: str, how: str) -> NumpyOnly:
    return NumpyOnly(
        f"{name} uses TensorFlow ({how}): {BLOCKED_MESSAGE}. Graded answers run in a kernel without "
        "TensorFlow, Keras or PyTorch, so this answer would fail there; the source articles' code mixes "
        "tf.nn.relu into NumPy the same way. Use NumPy's own functions (np.maximum, np.exp, @, ...).")


def call(fn, *args, hint=None, floats=None, **kwargs):
    """``fn(*args, **kwargs)``, with the failures a learner cannot act on turned into messages (see above).

    hint: the likely cause of a ValueError, IndexError, TypeError or OverflowError raised inside ``fn`` (a shape
          error, usually): a string, or a function of the exception returning a string (or None to re-raise as is).
    floats: the likely cause of an overflow or an invalid value (NumPy's RuntimeWarning or FloatingPointError);
          without it, warnings are left as they are.
    """
    __tracebackhide__ = True  # the traceback goes from the test to the learner's function (or the message)
    name = getattr(fn, "__name__", "your function")
    used = framework_names(fn)
    if used:
        _raise(_numpy_only(name, f"it calls {', '.join(used)}"))
    printed = io.StringIO()
    try:
        out = _run(fn, args, kwargs, name, hint, floats, printed)
    finally:
        print(printed.getvalue(), end="")  # what the learner's function printed, shown as it was
    if floats is not None:
        warned = re.search(r"RuntimeWarning: ([^\n]*)", printed.getvalue())
        if warned:
            _raise(AssertionError(f"{name} {floats} (NumPy warned: {warned.group(1).strip()})"))
    found = framework_object(out)
    if found:
        _raise(_numpy_only(name, f"it returned a {found}"))
    return out


def each(fn, calls, *, hint=None, floats=None) -> list:
    """``[call(fn, *args, hint=hint, floats=floats) for args in calls]`` (``calls``: tuples of positional
    arguments). When graded, ``fn`` is the grader's proxy of the learner's function, and the calls go to the
    learner's kernel in one request: a test that calls a function hundreds of times waits for one round trip,
    not hundreds (about 4 ms each). The first call that fails raises, as in the loop."""
    __tracebackhide__ = True
    calls = [tuple(args) for args in calls]
    if not callable(getattr(fn, "each", None)):
        return [call(fn, *args, hint=hint, floats=floats) for args in calls]
    return call(_Named(fn, fn.each), calls, hint=hint, floats=floats)


def drive(driver, fn, *args, hint=None, floats=None):
    """``call(driver, fn, *args)``: a test's loop over the learner's function ``fn`` (``driver(fn, *args)``, which
    calls ``fn`` and returns what it returned, as plain data). When graded, the loop is sent to the learner's
    kernel and runs there as one request, instead of one round trip per step; the driver travels by value, so it
    may use modules and its arguments only, and every check of what it returns stays in the test."""
    __tracebackhide__ = True
    if not callable(getattr(fn, "drive", None)):
        return call(_Named(fn, lambda *a: driver(fn, *a)), *args, hint=hint, floats=floats)
    return call(_Named(fn, lambda *a: fn.drive(driver, *a)), *args, hint=hint, floats=floats)


class _Named:
    """``run`` under the name of the learner's function ``fn``, for ``call``'s messages and checks."""

    def __init__(self, fn, run):
        self.run, self.__name__ = run, getattr(fn, "__name__", "your function")
        # fn's code and globals: call's framework check (framework_names) looks at the learner's function
        self.__code__, self.__globals__ = getattr(fn, "__code__", None), getattr(fn, "__globals__", None)

    def __call__(self, *args):
        __tracebackhide__ = True
        return self.run(*args)


def _run(fn, args, kwargs, name, hint, floats, printed):
    __tracebackhide__ = True
    try:
        if floats is None:
            return fn(*args, **kwargs)
        with contextlib.redirect_stdout(printed), warnings.catch_warnings(), \
                np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            warnings.simplefilter("error", RuntimeWarning)
            return fn(*args, **kwargs)
    except (FloatingPointError, RuntimeWarning) as err:
        _raise(AssertionError(f"{name} {floats} (NumPy: {type(err).__name__}: {err})"))
    except (NotImplementedError, AssertionError):
        raise
    except (NameError, ImportError) as err:
        text = str(err)
        undefined = _UNDEFINED.search(text)
        if BLOCKED_MESSAGE in text or (undefined and undefined.group(1) in _USUAL_NAMES):
            _raise(_numpy_only(name, f"{type(err).__name__}: {text}"))
        raise
    except (ValueError, IndexError, TypeError, OverflowError) as err:
        # of OverflowErrors only NumPy's "Python integer ... out of bounds for <dtype>"; a math range error is no shape's
        out_of_bounds = not isinstance(err, OverflowError) or "out of bounds for" in str(err)
        cause = (hint(err) if callable(hint) else hint) if out_of_bounds else None
        if not cause:
            raise
        _raise(AssertionError(f"{name} raised {type(err).__name__}. Likely cause: {cause} (the error: {err})"))


def earlier_failing(name: str, err: BaseException, **checks) -> str:
    """The message of ``err``, a failure of exercise ``name``, led by the earlier exercises that fail their own
    quick check (``checks``: exercise name -> a function returning True when that exercise looks right).
    ``name`` may call them, and a learner should fix those first."""
    bad = []
    for other, ok in checks.items():
        try:
            good = bool(ok())
        except NotImplementedError:
            good = False
        except Exception:  # noqa: BLE001 - any failure of the earlier exercise counts as failing
            good = False
        if not good:
            bad.append(f"`{other}`")
    if not bad:
        return str(err)
    which = " and ".join(bad)
    return (f"`{name}` fails, and your {which} {'fails its' if len(bad) == 1 else 'fail their'} own tests: if `{name}` "
            f"calls {'it' if len(bad) == 1 else 'them'}, fix that first. ({err})")
