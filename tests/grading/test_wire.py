"""What crosses from the student's kernel to the grader's: plain data, decoded strictly (no kernels here)."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest

from dlcourse.grading import proxy
from dlcourse.student import wire


def roundtrip(value):
    return wire.decode(wire.encode(value))


def test_plain_data_comes_back_as_it_was():
    value = {"h": (np.arange(6.0).reshape(2, 3), np.float32(1.5), 3, -2**70, 2.5, float("nan"), 1 + 2j),
             "ok": [True, None, "naïve"], "int8": np.array([1, -2], np.int8), "scalar0d": np.array(7.0),
             "bool": np.ones((2, 2), bool), "f_order": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
             "view": np.arange(10.0)[::3]}
    got = roundtrip(value)
    assert type(got) is dict and type(got["h"]) is tuple and type(got["ok"]) is list
    assert got["h"][0].shape == (2, 3) and type(got["h"][0]) is np.ndarray
    assert type(got["h"][1]) is np.float32 and got["h"][1] == 1.5, "a NumPy scalar keeps its type"
    assert got["h"][2:5] == (3, -2**70, 2.5) and np.isnan(got["h"][5]) and got["h"][6] == 1 + 2j
    assert got["ok"] == [True, None, "naïve"]
    assert got["int8"].dtype == np.int8 and got["scalar0d"].shape == () and got["bool"].dtype == bool
    assert np.array_equal(got["f_order"], value["f_order"]) and np.array_equal(got["view"], [0.0, 3.0, 6.0, 9.0])


def test_a_subclass_arrives_as_the_numbers_it_holds():
    class Agreeable(np.ndarray):
        def __eq__(self, other):
            return True

    got = roundtrip(np.array([1.0, 2.0]).view(Agreeable))
    assert type(got) is np.ndarray and not np.array_equal(got, [0.0, 0.0])


@pytest.mark.parametrize("value, why", [
    (object(), "cannot send a builtins.object"),
    (np.array([object()]), "dtype object"),
    (np.array(["a"]), "dtype <U1"),
    ({1: 2}, "keys must be strings"),
    (lambda: 0, "cannot send"),
    ({1, 2}, "cannot send a builtins.set"),
])
def test_what_is_not_plain_data_is_refused_when_sent(value, why):
    with pytest.raises(wire.WireError, match=why):
        wire.encode(value)


def _frame(tree: bytes, blocks: bytes = b"[]", data: bytes = b"") -> bytes:
    """A reply as wire.encode lays it out: the header's length, the header {"v": tree, "b": blocks}, the bytes."""
    header = b'{"v": ' + tree + b', "b": ' + blocks + b"}"
    return struct.pack("<Q", len(header)) + header + data


ZEROS2 = (b'[["<f8", [2]]]', bytes(16))  # the description and the bytes of np.zeros(2)


@pytest.mark.parametrize("data, why", [
    (b"", "empty or truncated"),
    (pickle.dumps([1, 2]), "truncated reply header|not JSON"),  # a pickle is never unpickled
    (struct.pack("<Q", 8) + b'{"a": 0}', "unexpected reply header"),
    (_frame(b'{"a": 0}', b'[["|O", [1]]]', bytes(8)), "numbers or booleans"),
    (_frame(b'{"a": 0}', b'[["[(\'x\', \'<f8\')]", [2]]]', bytes(16)), "numbers or booleans"),
    (_frame(b'{"a": 0}', b'[["<U1", [1]]]', bytes(4)), "numbers or booleans"),
    (_frame(b'{"a": 0}', b'[["<b1", [1]]]', bytes(1)), "numbers or booleans"),  # not NumPy's spelling, |b1
    (_frame(b'{"a": 0}', b'[["<M8[s]", [1]]]', bytes(8)), "numbers or booleans"),
    (_frame(b'{"a": 0}', b'[["<f8", [-1]]]'), "malformed array"),
    (_frame(b'{"a": 0}', b'[["<f8", [2.0]]]', bytes(16)), "malformed array"),
    (_frame(b'{"a": 0}', b'[["<f8"]]', bytes(16)), "malformed array"),
    (_frame(b'{"a": 0}', b'[["<f8", [1000]]]', bytes(16)), "fewer bytes"),
    (_frame(b'{"a": 0}', b'[["<f8", [' + b", ".join([b"1099511627775"] * 32) + b"]]]", bytes(16)), "fewer bytes"),
    (_frame(b'{"a": 0}', b'[["<f8", [1]]]', bytes(16)), "left over"),
    (_frame(b'{"a": 1}', *ZEROS2), "bad array reference"),
    (_frame(b'[{"a": 0}, {"a": 0}]', *ZEROS2), "unexpected node"),
    (_frame(b'{"l": [{"a": 0}, {"a": 0}]}', *ZEROS2), "bad array reference"),
    (_frame(b'null', *ZEROS2), "does not use"),
    (_frame(b'{"x": 1}'), "unexpected node"),
    (_frame(b'{"f": "1e400000 or os.system"}'), "bad number"),
    (_frame(b'{"__class__": "os.system"}'), "unexpected node"),
    (struct.pack("<Q", 2) + b"\xff\xfe", "not JSON"),
    (_frame(b'{"l": [' * 40 + b"1" + b"]}" * 40), "deeper"),
])
def test_a_malformed_or_rigged_reply_is_refused(data, why):
    with pytest.raises(wire.WireError, match=why):
        wire.decode(data)


def test_an_array_that_came_back_is_the_grader_s_own_memory():
    """np.frombuffer over the reply would be read-only and keep the whole reply alive: each array is a copy."""
    a = wire.decode(wire.encode([np.arange(3.0), np.ones(2)]))[0]
    assert a.flags.writeable and a.flags.owndata
    a[0] = 5.0


def test_array_leaves_are_listed_alike_on_both_sides():
    a, b, c = np.zeros(1), np.ones(2), np.full(3, 2.0)
    args = ((a, [1, {"k": b}]), {"z": c, "n": None})
    assert [x.shape for x in wire.array_leaves(args)] == [(1,), (2,), (3,)]
    assert [x.shape for x in wire.array_leaves(pickle.loads(pickle.dumps(args)))] == [(1,), (2,), (3,)]


def test_a_student_error_comes_back_as_the_same_builtin_type():
    calls = proxy.Calls({}, timeout=1)
    err = calls._error("f", {"error": "ValueError", "message": "x must be 3-D"})
    assert type(err) is ValueError and str(err) == "x must be 3-D"
    err = calls._error("f", {"error": "LinAlgError", "message": "singular"})
    assert isinstance(err, np.linalg.LinAlgError)
    err = calls._error("f", {"error": "MyOwnError", "message": "boom"})
    assert type(err) is RuntimeError and "MyOwnError" in str(err), "a class of the student's is not recreated"
    err = calls._error("f", {"error": "SystemExit", "message": "0"})
    assert type(err) is RuntimeError, "a student's SystemExit must not end the grader's kernel"


def test_an_answer_that_failed_is_named_when_its_function_is_missing():
    calls = proxy.Calls({}, timeout=1)
    calls.answer_errors["f"] = "ImportError: graded answers run without TensorFlow: write it in NumPy"
    err = calls._error("f", {"error": "NameError", "message": "name 'f' is not defined"})
    assert type(err) is NameError and "without TensorFlow" in str(err)
