"""The grader kernel's side of a call: each graded function name is a proxy that runs the student's function
in the student's kernel and brings back plain data.

``install(namespace, ...)`` runs in the grader kernel (trusted: it holds the instructor's tests and the
Keras references) before the first test cell. For every name defined by the chapter's answer cells it puts a
``StudentFunction`` into the namespace. Calling one:

1. pickles the name and arguments (arrays, numbers, strings, None, tuples/lists/dicts, and the tests' own
   callables, shipped by value with cloudpickle) and sends them as code to execute in a student kernel;
2. waits for the reply, within the time limit (then interrupts the student kernel and raises
   ``StudentCodeTimeout``), noticing a kernel that died;
3. decodes the reply strictly (``wire.decode``: plain data only, never unpickled);
4. writes the arguments' arrays back as the student's function left them (so that a test can check that an
   input was not modified), and raises ``InputModified`` when one changed: a graded function that changes
   its inputs could otherwise change the data the test then computes its reference from;
5. raises the student's exception as the same built-in type with the same message, or returns the value.

There are two student kernels, both running the same answers: calls from the visible part of the tests go
to one (``phase = "visible"``), calls from hidden tests to the other (``"hidden"``). What the student's code
prints is shown only for visible calls, and a kernel that has seen hidden inputs never produces anything
the learner sees.
"""

from __future__ import annotations

import base64
import builtins
import hmac
import json
import queue
import time
import types
import uuid

import warnings

import cloudpickle
import numpy as np
import zmq

from .. import answers
from ..student import serve, wire

MAX_REPLY = 2**28  # characters of base64: a graded function's result is far smaller
MAX_PRINTED = 10_000  # characters of a visible call's printed output shown in the test's output
MAX_MESSAGE_BYTES = MAX_REPLY + 2**20  # one ZeroMQ message from a student kernel, its JSON envelope included


def numeric_rules() -> dict:
    """The caller's numeric rules, which the call runs under in the student's kernel (``serve.run``): NumPy's
    floating-point error handling (``np.geterr()``), and the built-in warning categories that the caller's
    filters turn into errors (a test's ``np.errstate(over="raise")`` or ``warnings.simplefilter("error")``
    around a graded call holds as it would in one process)."""
    errors = []
    for action, message, category, module, _ in warnings.filters:
        if module is not None or (message is not None and message.pattern):
            continue  # a filter for one module or message: too narrow to say anything about the call
        if action == "error" and getattr(builtins, category.__name__, None) is category:
            errors.append(category.__name__)
        elif action != "error" and category is Warning:  # an earlier catch-all that is not an error: it wins
            break
    return {"errstate": dict(np.geterr()), "warnings_as_errors": errors}

#: exception types a student's error may come back as; any other becomes a RuntimeError naming it
EXCEPTIONS = {name: getattr(builtins, name) for name in dir(builtins)
              if isinstance(getattr(builtins, name), type) and issubclass(getattr(builtins, name), Exception)
              and not issubclass(getattr(builtins, name), Warning)}
EXCEPTIONS["LinAlgError"] = np.linalg.LinAlgError
#: A warning the call's rules made an error comes back as that warning class (RuntimeWarning, ...).
WARNINGS = {name: getattr(builtins, name) for name in dir(builtins)
            if isinstance(getattr(builtins, name), type) and issubclass(getattr(builtins, name), Warning)}


class StudentCodeTimeout(TimeoutError):
    """The student's function did not return in time."""


class StudentKernelDied(RuntimeError):
    """The student's kernel stopped (os._exit, a crash, the memory limit) or stopped answering."""


class InputModified(AssertionError):
    """The student's function changed an array it was given."""


class StudentKernel:
    """A connection to one student kernel: its connection file, and the pid of its sandbox (to notice death)."""

    def __init__(self, connection_file: str, pid: int | None):
        from jupyter_client import BlockingKernelClient

        # A context of its own whose sockets refuse any message larger than a reply may be, before it is decoded:
        # a student kernel that sends a 1 GB message is disconnected (and its call fails), not parsed.
        context = zmq.Context()
        context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        self.kc = BlockingKernelClient(context=context)
        self.kc.load_connection_file(connection_file)
        self.kc.start_channels()
        self.pid = pid
        self.broken = ""  # why no further call can be made, once something went badly wrong

    def alive(self) -> bool:
        if self.pid is None:
            return True
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except (OSError, IndexError):
            return False

    def call(self, name: str, calls: list, timeout: float, show_output: bool, each: bool = False, driver=None):
        """Run ``name(*args, **kwargs)`` for each ``(args, kwargs)`` of ``calls`` (one, unless ``each``) in the
        student's kernel, or ``driver(*args)`` (a test's loop over ``name``); return the decoded reply (a dict;
        for ``each``, its value and inputs call by call)."""
        if self.broken:
            raise StudentKernelDied(self.broken)
        target = name if driver is None else driver
        request = base64.b64encode(cloudpickle.dumps((target, calls, numeric_rules(), each))).decode("ascii")
        msg = self.kc.session.msg("comm_open", {"comm_id": uuid.uuid4().hex, "target_name": serve.TARGET,
                                                "data": {"request": request}})
        self.kc.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
        deadline = time.monotonic() + timeout
        reply, idle, printed = None, False, []
        while not idle:
            if time.monotonic() > deadline:
                self._interrupt(msg_id)
                raise StudentCodeTimeout(f"{name} did not return within {timeout:g} s (an endless loop?)")
            m = self._next_iopub(msg_id)
            if m is None:  # 50 ms without an answer (a dead kernel sends none): is it still there?
                if not self.alive():
                    self.broken = "the kernel running your code died (os._exit, a crash or the memory limit)"
                    raise StudentKernelDied(f"{name}: {self.broken}")
                continue
            kind, content = m
            if kind == "stream" and show_output and sum(map(len, printed)) < MAX_PRINTED:
                printed.append(content.get("text", ""))
            elif kind == "comm_close" and isinstance(content.get("data"), dict) and "reply" in content["data"]:
                reply = content["data"]["reply"]
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
        if printed:
            print("".join(printed)[:MAX_PRINTED], end="")
        if not isinstance(reply, str):
            raise wire.WireError(f"{name}: no reply came back from your kernel (did your code change how it "
                                 "answers the grader?)")
        if len(reply) > MAX_REPLY:
            raise wire.WireError(f"{name}: the reply from your kernel is larger than {MAX_REPLY:,} bytes")
        try:
            data = base64.b64decode(reply.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            raise wire.WireError(f"{name}: the reply from your kernel is not base64") from None
        decoded = wire.decode(data)
        if type(decoded) is not dict or not (set(decoded) in ({"value", "inputs"}, {"error", "message"})):
            raise wire.WireError(f"{name}: the reply from your kernel has an unexpected form")
        if each and "value" in decoded and not all(type(decoded[k]) is list and len(decoded[k]) == len(calls)
                                                   for k in ("value", "inputs")):
            raise wire.WireError(f"{name}: the reply from your kernel has an unexpected form")
        return decoded

    def _next_iopub(self, msg_id: str):
        """(msg_type, content) of the next IOPub message answering ``msg_id``; None after 50 ms without one, or
        for a message that answers another request. jupyter_client's ``get_iopub_msg`` runs an asyncio loop for
        each message and parses every header's dates (dateutil), about 1 ms a message: here the frames are read
        from the socket, the signature checked as ``Session.deserialize`` checks it, and only the parent header
        parsed unless the message is ours."""
        sock = self.kc.iopub_channel.socket
        if not sock.poll(50):
            return None
        session = self.kc.session
        _, frames = session.feed_identities(sock.recv_multipart(copy=True))
        if len(frames) < 5:
            raise wire.WireError("a malformed message came from your kernel")
        signature, header, parent, _, content = frames[:5]
        if session.auth is not None and not hmac.compare_digest(signature, session.sign(frames[1:5])):
            raise wire.WireError("a message with a bad signature came from your kernel")
        try:
            parent = json.loads(parent)
            if type(parent) is not dict or parent.get("msg_id") != msg_id:
                return None
            header, content = json.loads(header), json.loads(content)
        except ValueError:
            raise wire.WireError("a message from your kernel is not JSON") from None
        if type(header) is not dict or type(content) is not dict:
            raise wire.WireError("a message from your kernel has an unexpected form")
        return header.get("msg_type"), content

    def _interrupt(self, msg_id: str) -> None:
        """Interrupt the running call (a message: a signal would reach bwrap, not the kernel); if the kernel is
        still busy after a few seconds, no further call is made to it."""
        self.kc.control_channel.send(self.kc.session.msg("interrupt_request", {}))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                m = self.kc.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                continue
            if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status" \
                    and m["content"].get("execution_state") == "idle":
                return
        self.broken = "the kernel running your code did not stop after an interrupt"


# The frame a proxied failure is raised from: IPython shows the last frame of a traceback even when it is
# hidden (``__tracebackhide__``), so it is this one, which names no file of the grading machine. The frames
# between it and the test cell (Calls.run, StudentFunction.__call__) are hidden.
_raise = answers.raiser("<your function, in your kernel>")


class Calls:
    """The grader kernel's state: the student kernels, the phase, and why answers failed to define names."""

    def __init__(self, kernels: dict, timeout: float):
        self.kernels = kernels  # {"visible": StudentKernel, "hidden": StudentKernel}
        self.timeout = timeout
        self.phase = "visible"
        self.answer_errors: dict[str, str] = {}  # name -> first line of the error of the answer cell defining it

    def close(self) -> None:
        """Close every connection (between the grading phases: the visible kernel is gone)."""
        for kernel in {id(k): k for k in self.kernels.values()}.values():
            kernel.kc.stop_channels()
            kernel.kc.context.destroy(linger=0)

    def reconnect(self, phase: str, connection_file: str, pid: int | None) -> None:
        """A restarted kernel for ``phase`` (and for every phase that called the same kernel)."""
        old = self.kernels[phase]
        old.kc.stop_channels()
        old.kc.context.destroy(linger=0)
        new = StudentKernel(connection_file, pid)
        for p, k in list(self.kernels.items()):
            if k is old:
                self.kernels[p] = new

    def run(self, name: str, params: list[str], args: tuple, kwargs: dict):
        __tracebackhide__ = True
        reply = self._request(name, [(args, kwargs)], each=False)
        self._check_inputs(name, params, args, kwargs, reply["inputs"])
        return reply["value"]

    def run_each(self, name: str, params: list[str], calls: list[tuple]):
        """``[name(*args) for args in calls]`` in one request (``answers.each``); each call's inputs are checked
        as ``run`` checks them, in order."""
        __tracebackhide__ = True
        calls = [(tuple(args), {}) for args in calls]
        reply = self._request(name, calls, each=True)
        for (args, kwargs), theirs in zip(calls, reply["inputs"]):
            self._check_inputs(name, params, args, kwargs, theirs)
        return reply["value"]

    def run_driver(self, name: str, driver, args: tuple):
        """``driver(*args)`` in the student's kernel, as one request (``answers.drive``): a test's loop over the
        student's function ``name``, whose proxy is among ``args`` (it arrives there as the student's function).
        The driver travels by value, so it may name modules only, never the grader's data; its value comes back
        as plain data, as any call's, and is checked here."""
        __tracebackhide__ = True
        shipped = _names_shipped_with(driver)
        if shipped:
            raise ValueError(f"{driver.__name__} names {', '.join(shipped)}: a loop sent to the student's kernel "
                             "may use modules and its arguments only (the grader's own values would travel with it)")
        reply = self._request(name, [(args, {})], each=False, driver=driver)
        code = driver.__code__
        self._check_inputs(name, list(code.co_varnames[:code.co_argcount]), args, {}, reply["inputs"])
        return reply["value"]

    def _request(self, name, calls, each, driver=None):
        __tracebackhide__ = True
        hidden = self.phase == "hidden"
        try:
            reply = self.kernels[self.phase].call(name, calls, self.timeout, show_output=not hidden, each=each,
                                                  driver=driver)
        except (StudentCodeTimeout, StudentKernelDied, wire.WireError) as err:
            _raise(err.with_traceback(None))
        if "error" in reply:
            _raise(self._error(name, reply))
        return reply

    def _check_inputs(self, name, params, args, kwargs, theirs):
        __tracebackhide__ = True
        ours = wire.array_leaves((args, kwargs))
        changed = []
        if type(theirs) is list and len(theirs) == len(ours):
            for k, (a, b) in enumerate(zip(ours, theirs)):
                if isinstance(b, np.ndarray) and b.shape == a.shape and not np.array_equal(a, b, equal_nan=True):
                    changed.append(k)  # the grader's own array keeps its values: a later test computes from it
        if changed:
            # one name once: the arrays of a list argument (ring_allreduce's shards) are several leaves of it
            which = ", ".join(dict.fromkeys(_describe(k, args, kwargs, params) for k in changed))
            _raise(InputModified(f"{name} changed its input {which} in place. A graded function must leave its "
                                "inputs unchanged: compute into new arrays (y = x * s, not x *= s), or work on a "
                                "copy (x = x.copy())."))

    def _error(self, name, reply):
        kind, message = str(reply["error"]), str(reply["message"])
        if name in self.answer_errors and kind == "NameError":
            return NameError(f"{name} is not defined: its answer cell failed with {self.answer_errors[name]}")
        if kind in ("KeyboardInterrupt", "SystemExit"):
            return RuntimeError(f"{name} stopped with {kind}")
        cls = EXCEPTIONS.get(kind) or WARNINGS.get(kind)
        if cls is None:  # in a hidden test, the feedback leaves the message out (kernels.TwoKernelExecute)
            return RuntimeError(f"{name} raised {kind[:80]}: {message}")
        try:
            return cls(message)
        except Exception:  # a built-in whose constructor wants other arguments (UnicodeDecodeError, ...)
            return RuntimeError(f"{name} raised {kind}: {message}")


def _names_shipped_with(fn) -> list[str]:
    """The globals ``fn`` (its nested functions too) names that are not modules, and its closure's variables:
    what cloudpickle would send along with it, by value."""
    names = answers._code_names(fn.__code__)  # the names framework_names looks through, nested code's too
    shipped = sorted(n for n in names if n in fn.__globals__ and not isinstance(fn.__globals__[n], types.ModuleType))
    return shipped + list(fn.__code__.co_freevars)


def _describe(k, args, kwargs, params):
    """The name of the k-th array argument, for a message."""
    seen = 0
    for i, value in enumerate(args):
        n = len(wire.array_leaves(value))
        if k < seen + n:
            return f"`{params[i]}`" if i < len(params) else f"argument {i + 1}"
        seen += n
    for key, value in kwargs.items():
        n = len(wire.array_leaves(value))
        if k < seen + n:
            return f"`{key}`"
        seen += n
    return f"array {k + 1}"


class StudentFunction:
    """Stands for a graded function in the grader kernel: calling it calls the student's function."""

    def __init__(self, calls: Calls, name: str, params: list[str]):
        self._calls, self.__name__, self._params = calls, name, params
        self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        __tracebackhide__ = True  # IPython leaves the grader's frames out of the traceback: it ends at the test
        return self._calls.run(self.__name__, self._params, args, kwargs)

    def each(self, calls):
        """``[self(*args) for args in calls]``, in one trip to the student's kernel (``answers.each``)."""
        __tracebackhide__ = True
        return self._calls.run_each(self.__name__, self._params, list(calls))

    def drive(self, driver, *args):
        """``driver(self, *args)``, run in the student's kernel as one request (``answers.drive``)."""
        __tracebackhide__ = True
        return self._calls.run_driver(self.__name__, driver, (self, *args))

    def __reduce__(self):  # passed as an argument to another graded function: the student's own, over there
        return serve.student_global, (self.__name__,)

    def __repr__(self):
        return f"<your function {self.__name__}>"


_BASELINE: list = []


def remember_baseline() -> None:
    """Note the grader kernel's numeric rules, warning filters and namespace (once, before any setup cell ran)."""
    if not _BASELINE:
        from IPython import get_ipython

        shell = get_ipython()
        _BASELINE.append((dict(np.geterr()), list(warnings.filters), dict(shell.user_ns), set(shell.user_ns_hidden)))


def reset_namespace() -> None:
    """Put the grader's namespace back as ``remember_baseline`` noted it (its names and their values), and empty
    the output history (``Out``, ``_``). IPython's ``%reset -f`` empties it too and then runs a full garbage
    collection, which took 0.44 s with TensorFlow loaded; here the objects go when Python next collects."""
    from IPython import get_ipython

    shell = get_ipython()
    if not _BASELINE:  # nothing noted (not expected): IPython's own reset
        shell.run_line_magic("reset", "-f")
        return
    _, _, names, hidden = _BASELINE[0]
    ns = shell.user_ns
    ns.clear()
    ns.update(names)
    for name in [n for n in shell.user_ns_hidden if n not in hidden]:
        del shell.user_ns_hidden[name]
    shell.history_manager.output_hist.clear()
    unders = {"_": "", "__": "", "___": ""}  # where IPython's displayhook looks before it updates them
    ns.update(unders)
    shell.user_ns_hidden.update({n: v for n, v in unders.items() if n in shell.user_ns_hidden})
    shell.displayhook._ = shell.displayhook.__ = shell.displayhook.___ = ""
    import sys

    for name in ("last_type", "last_value", "last_traceback", "last_exc"):  # a test's error, and its frames' values
        if hasattr(sys, name):
            setattr(sys, name, None)


def restore_baseline() -> None:
    """Put back what ``remember_baseline`` noted, and clear Keras's global state if Keras is loaded."""
    import sys

    if _BASELINE:
        err, filters, _, _ = _BASELINE[0]
        np.seterr(**err)
        warnings.filters[:] = filters
        warnings._filters_mutated()  # the registries of warnings shown (the "once" action's too) empty when next used
    if "keras" in sys.modules:  # without its garbage collection (0.2 s), as reset_namespace
        sys.modules["keras"].utils.clear_session(free_memory=False)


def install(namespace: dict, names: dict[str, list[str]], kernels: dict[str, tuple[str, int | None]],
            timeout: float) -> Calls:
    """Put a ``StudentFunction`` for each of ``names`` (name -> parameter names) into ``namespace``.
    ``kernels`` maps "visible" and "hidden" to (connection file, sandbox pid)."""
    remember_baseline()
    by_file = {cf: StudentKernel(cf, pid) for cf, pid in set(kernels.values())}
    calls = Calls({phase: by_file[cf] for phase, (cf, _) in kernels.items()}, timeout)
    for name, params in names.items():
        namespace[name] = StudentFunction(calls, name, params)
    namespace["__dlcourse__"] = calls
    return calls
