"""dlcourse.grading.proxy's reset of the grader's namespace between a submission's two phases, in a real IPython
shell (the grader kernel's): what the visible phase's cells defined is gone before the hidden phase's run."""

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell


@pytest.fixture
def shell():
    from dlcourse.grading import proxy

    sh = InteractiveShell.instance()
    saved = list(proxy._BASELINE)
    proxy._BASELINE.clear()
    try:
        yield sh
    finally:
        proxy._BASELINE[:] = saved
        InteractiveShell.clear_instance()


def _run(shell, code):
    result = shell.run_cell(code, store_history=False)  # as the grader runs its cells (nbclient's execute)
    assert result.error_in_exec is None and result.error_before_exec is None, result
    return result


def test_the_reset_puts_back_the_names_and_values_of_the_baseline_and_empties_the_output_history(shell):
    _run(shell, "import math\nmath")  # the warm-up's import, its value displayed (into _1, as the grader's cells)
    _run(shell, "import os\n__import__('dlcourse.grading.proxy', fromlist=['x']).remember_baseline()")
    before = dict(shell.user_ns)
    _run(shell, "import numpy as np\nsecret = np.arange(3)\ndef helper():\n    return secret\nos = 'rebound'")
    _run(shell, "secret * 2")  # an expression's value: kept in Out and _ (and _1: the counter does not move)
    assert "secret" in shell.user_ns and shell.user_ns["_"] is not before["_"]
    _run(shell, "__import__('dlcourse.grading.proxy', fromlist=['x']).reset_namespace()")
    assert not {"secret", "helper", "np"} & set(shell.user_ns)
    changed = {n for n in before if n not in ("_", "__", "___") and shell.user_ns.get(n) is not before[n]}
    assert not changed, changed  # os and _1 hold what they held before the setup cells
    assert set(shell.user_ns) - set(before) <= {"_i", "_ii", "_iii"}, set(shell.user_ns) - set(before)
    assert shell.user_ns["Out"] == {} and shell.user_ns["_"] == "" and shell.displayhook._ == ""
    _run(shell, "6 * 7")
    assert shell.user_ns["_"] == 42  # IPython's displayhook still updates _ afterwards


def test_the_reset_restores_numeric_rules(shell):
    old = np.geterr()
    try:
        _run(shell, "__import__('dlcourse.grading.proxy', fromlist=['x']).remember_baseline()")
        np.seterr(over="raise")
        _run(shell, "__import__('dlcourse.grading.proxy', fromlist=['x']).restore_baseline()")
        assert np.geterr()["over"] == old["over"]
    finally:
        np.seterr(**old)


def test_the_reset_forgets_the_last_error(shell):
    """What a submission's failed test leaves outside the namespace: its error, whose traceback's frames hold the
    test's values (the student's results among them). A reused grader would otherwise still hold them."""
    import sys

    _run(shell, "__import__('dlcourse.grading.proxy', fromlist=['x']).remember_baseline()")
    shell.run_cell("returned = [613]\nassert returned == [0]", store_history=False)
    assert sys.last_value is not None
    _run(shell, "__import__('dlcourse.grading.proxy', fromlist=['x']).reset_namespace()")
    assert sys.last_value is None and sys.last_traceback is None
    assert getattr(sys, "last_exc", None) is None


class _Socket:
    """An IOPub socket holding the given messages (lists of frames), one per poll."""

    def __init__(self, messages):
        self.messages = list(messages)

    def poll(self, timeout_ms):
        return bool(self.messages)

    def recv_multipart(self, copy=True):
        return self.messages.pop(0)


def _kernel_reading(messages, key=b"the grader's key"):
    """A StudentKernel whose IOPub socket holds ``messages`` and whose session signs with ``key``."""
    from types import SimpleNamespace

    from jupyter_client.session import Session

    from dlcourse.grading import proxy

    kernel = proxy.StudentKernel.__new__(proxy.StudentKernel)
    kernel.kc = SimpleNamespace(session=Session(key=key), iopub_channel=SimpleNamespace(socket=_Socket(messages)))
    return kernel


def _frames(msg_type, content, parent_id, key=b"the grader's key"):
    from jupyter_client.session import Session

    session = Session(key=key)
    parent = session.msg("comm_open", {})
    parent["header"]["msg_id"] = parent_id
    return session.serialize(session.msg(msg_type, content, parent=parent))


def test_a_message_from_the_student_kernel_is_read_only_when_its_signature_is_the_session_s():
    """The grader reads IOPub's frames itself (jupyter_client's get_iopub_msg costs about 1 ms a message): the
    signature must still be checked, as Session.deserialize checks it, and a message with another parent
    skipped without parsing the rest."""
    from dlcourse.student import wire

    good = _frames("comm_close", {"data": {"reply": "x"}}, "call-1")
    assert _kernel_reading([good])._next_iopub("call-1") == ("comm_close", {"data": {"reply": "x"}})
    assert _kernel_reading([good])._next_iopub("call-2") is None, "another request's message"
    assert _kernel_reading([])._next_iopub("call-1") is None, "nothing within the poll"
    forged = _frames("comm_close", {"data": {"reply": "x"}}, "call-1", key=b"a key the student guessed")
    with pytest.raises(wire.WireError, match="bad signature"):
        _kernel_reading([forged])._next_iopub("call-1")
    not_json = good[:-1] + [b"{not json"]
    not_json[1] = _kernel_reading([]).kc.session.sign(not_json[2:6])
    with pytest.raises(wire.WireError, match="not JSON"):
        _kernel_reading([not_json])._next_iopub("call-1")
    with pytest.raises(wire.WireError, match="malformed"):
        _kernel_reading([good[:3]])._next_iopub("call-1")


class _InProcessKernel:
    """A student kernel that is this process: each request runs serve.run here (its function in __main__)."""

    def __init__(self):
        self.requests = 0

    def call(self, name, calls, timeout, show_output, each=False, driver=None):
        import base64

        import cloudpickle

        from dlcourse.grading import proxy
        from dlcourse.student import serve, wire

        self.requests += 1
        target = name if driver is None else driver
        request = base64.b64encode(cloudpickle.dumps((target, calls, proxy.numeric_rules(), each))).decode()
        return wire.decode(serve.run(request))


@pytest.fixture
def student_main(monkeypatch):
    """The learner's namespace (serve looks the graded function up in __main__)."""
    import sys
    import types

    main = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", main)
    return main


def test_each_sends_all_its_calls_in_one_request_and_checks_every_call_s_inputs(student_main):
    from dlcourse import answers
    from dlcourse.grading import proxy

    def pad(n, k, s):
        return (k - 1) // 2, k // 2 + n % s

    def scale(x, c):
        if c == 2:
            x *= c  # the second call changes its input in place
        return x * c

    student_main.pad, student_main.scale = pad, scale
    kernel = _InProcessKernel()
    calls = proxy.Calls({"visible": kernel}, timeout=5)
    fn = proxy.StudentFunction(calls, "pad", ["n", "k", "s"])
    cases = [(n, k, s) for n in range(1, 9) for k in (1, 3) for s in (1, 2)]
    assert answers.each(fn, cases) == [pad(*c) for c in cases] == answers.each(pad, cases)
    assert kernel.requests == 1, "one request for all 32 calls"
    x = np.ones(3)
    with pytest.raises(proxy.InputModified, match="`x`"):
        answers.each(proxy.StudentFunction(calls, "scale", ["x", "c"]), [(x, 1), (x, 2), (x, 3)])
    assert np.array_equal(x, np.ones(3)), "the grader's own array keeps its values"
    student_main.pad = lambda n, k, s: (0, 0) if n < 5 else (1, 2, 3)[n]
    with pytest.raises(IndexError):
        answers.each(fn, [(1, 3, 1), (7, 3, 1)])  # the first call that raises raises, as in a loop


def test_a_reply_to_each_that_does_not_answer_every_call_is_refused():
    """The student's kernel may answer ``each`` with fewer results than calls (and hope that zip drops the
    checks of the rest): the reply's form is checked before anything is used."""
    import base64
    from types import SimpleNamespace

    from dlcourse.student import wire

    kernel = _kernel_reading([])
    sent = []

    def answer_short(msg):
        sent.append(msg)
        reply = base64.b64encode(wire.encode({"value": [(0, 0)], "inputs": [[]]})).decode()
        kernel.kc.iopub_channel.socket.messages += [
            _frames("comm_close", {"data": {"reply": reply}}, msg["header"]["msg_id"]),
            _frames("status", {"execution_state": "idle"}, msg["header"]["msg_id"])]

    kernel.kc.shell_channel = SimpleNamespace(send=answer_short)
    kernel.pid, kernel.broken = None, ""
    with pytest.raises(wire.WireError, match="unexpected form"):
        kernel.call("pad", [((1, 3, 1), {}), ((2, 3, 1), {})], timeout=5, show_output=False, each=True)
    assert sent, "the request went out"


def _steps(update, w0, steps):
    """A test's loop, as answers.drive sends it: each step on what the last returned, every output kept."""
    out, w = [], w0
    for _ in range(steps):
        w = update(w)
        out.append(w)
    return out


def test_drive_sends_a_test_s_loop_over_the_function_as_one_request(student_main):
    from dlcourse import answers
    from dlcourse.grading import proxy

    def halve(w):
        return w / 2

    student_main.halve = halve
    kernel = _InProcessKernel()
    calls = proxy.Calls({"visible": kernel}, timeout=5)
    fn = proxy.StudentFunction(calls, "halve", ["w"])
    w0 = np.full(3, 8.0)
    got = answers.drive(_steps, fn, w0, 3)
    assert kernel.requests == 1 and [list(a) for a in got] == [[4.0] * 3, [2.0] * 3, [1.0] * 3]
    assert [list(a) for a in answers.drive(_steps, halve, w0, 3)] == [list(a) for a in got], "the same in-process"
    student_main.halve = lambda w: [][0]
    with pytest.raises(IndexError):
        answers.drive(_steps, fn, w0, 3)


def test_a_loop_that_would_carry_the_grader_s_values_into_the_student_s_kernel_is_refused(student_main):
    """cloudpickle sends a function's globals by value: a driver naming a test's reference (or a hidden input)
    would hand it to the student's kernel. Only modules and the driver's arguments may travel with it."""
    from dlcourse.grading import proxy

    expected = np.arange(3.0)  # a reference, in the grader's namespace

    def leaky(update, w0):
        return update(w0) - expected

    student_main.halve = lambda w: w / 2
    calls = proxy.Calls({"visible": _InProcessKernel()}, timeout=5)
    with pytest.raises(ValueError, match="expected"):
        proxy.StudentFunction(calls, "halve", ["w"]).drive(leaky, np.ones(3))
    with pytest.raises(ValueError, match="SECRET"):
        proxy.StudentFunction(calls, "halve", ["w"]).drive(_uses_a_global, np.ones(3))
    assert calls.kernels["visible"].requests == 0, "nothing was sent"


SECRET = np.arange(3.0)


def _uses_a_global(update, w0):
    return [update(w0) + SECRET for _ in range(2)]  # in a nested code object (the list comprehension)
