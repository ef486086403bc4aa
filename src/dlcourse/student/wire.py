"""Plain data between the student's kernel and the grader's: encoded by one side, decoded strictly by the other.

What crosses is a tree of ``None``, ``bool``, ``int``, ``float``, ``complex``, ``str``, ``tuple``, ``list``
and ``dict`` (string keys), with NumPy arrays and NumPy scalars of a numeric or bool dtype as leaves.
Nothing else: no pickle on the way back, so a student's object cannot run code in the grader, and a
NumPy subclass or an object with a rigged ``__eq__`` arrives as what it really holds, or not at all.

The format: 8 bytes giving the length of a JSON header, the header, then each array's bytes in C order, one
after the other. The header is ``{"v": tree, "b": [[dtype, shape], ...]}``: the tree, whose array leaf is
``{"a": k}`` (the k-th block) and NumPy scalar ``{"s": k}``, and each block's dtype (``dtype.str``, such as
``"<f8"``) and shape. The decoder checks every node, every dtype and every length, and raises ``WireError``
with what it found instead of guessing. (It used ``.npy`` blocks before: NumPy parses each block's header
with ``ast.literal_eval``, 0.2 ms an array, which made up a fifth of a call's time in the grader.)

This module imports the standard library and NumPy only: it also runs inside the student's sandbox.
"""

from __future__ import annotations

import json
import math
import re
import struct

import numpy as np

#: dtype kinds that may cross: bool, signed and unsigned integers, floats, complex numbers
NUMERIC_KINDS = "biufc"
MAX_DEPTH = 32
#: a dtype as ``dtype.str`` spells it: byte order, kind, size in bytes ("<f8", "|b1", ">i4", "<c16")
_DTYPE = re.compile(r"[<>|][biufc][0-9]{1,2}")


class WireError(ValueError):
    """A reply that is not plain data (or is malformed): the test that asked for it fails with this."""


def encode(value) -> bytes:
    """``value`` as bytes. Raises WireError for anything that is not plain data (see the module doc)."""
    arrays: list[np.ndarray] = []
    tree = _tree(value, arrays, 0)
    blocks = [[a.dtype.str, list(a.shape)] for a in arrays]
    header = json.dumps({"v": tree, "b": blocks}, allow_nan=True).encode("utf-8")
    return b"".join([struct.pack("<Q", len(header)), header] + [a.tobytes(order="C") for a in arrays])


def _tree(value, arrays, depth):
    if depth > MAX_DEPTH:
        raise WireError(f"data nested deeper than {MAX_DEPTH} levels")
    if value is None or type(value) in (bool, int, str):
        return value if type(value) is not int or abs(value) < 2**63 else {"i": str(value)}
    if type(value) is float:
        return {"f": repr(value)}  # repr keeps nan, inf and every bit of the value
    if type(value) is complex:
        return {"c": [repr(value.real), repr(value.imag)]}
    if isinstance(value, np.generic) and not isinstance(value, np.ndarray):
        arrays.append(_plain(np.asarray(value)))
        return {"s": len(arrays) - 1}
    if isinstance(value, np.ndarray):
        arrays.append(_plain(value))
        return {"a": len(arrays) - 1}
    if type(value) in (tuple, list):
        return {"t" if type(value) is tuple else "l": [_tree(v, arrays, depth + 1) for v in value]}
    if type(value) is dict:
        if not all(type(k) is str for k in value):
            raise WireError("dict keys must be strings")
        return {"d": {k: _tree(v, arrays, depth + 1) for k, v in value.items()}}
    raise WireError(f"cannot send a {type(value).__module__}.{type(value).__qualname__}: "
                    "graded functions return NumPy arrays, numbers, strings, None, or tuples, lists and dicts of these")


def _plain(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)  # a subclass becomes a base ndarray viewing the same memory
    if a.dtype.kind not in NUMERIC_KINDS:
        raise WireError(f"arrays must hold numbers or booleans, not dtype {a.dtype}")
    if a.dtype.fields is not None or not _DTYPE.fullmatch(a.dtype.str):
        raise WireError(f"arrays must hold numbers or booleans, not dtype {a.dtype}")
    return a.view(np.ndarray)  # tobytes copes with any memory layout, and 0-d arrays stay 0-d


def decode(data: bytes, max_bytes: int = 2**30):
    """The value encoded in ``data``. Strict: raises WireError for anything but plain data."""
    if not isinstance(data, (bytes, bytearray)) or len(data) < 8:
        raise WireError("empty or truncated reply")
    if len(data) > max_bytes:
        raise WireError(f"reply of {len(data):,} bytes, more than the {max_bytes:,} allowed")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise WireError("truncated reply header")
    try:
        header = json.loads(bytes(data[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WireError(f"reply header is not JSON: {err}") from None
    if type(header) is not dict or set(header) != {"v", "b"} or type(header["b"]) is not list:
        raise WireError(f"unexpected reply header: {str(header)[:80]}")
    arrays, offset = [], 8 + n
    for block in header["b"]:
        dtype, shape = _block(block)
        size = dtype.itemsize * math.prod(shape)
        if size > len(data) - offset:
            raise WireError("malformed array in reply: fewer bytes than its shape needs")
        arrays.append(np.frombuffer(data, dtype, math.prod(shape), offset).reshape(shape).copy())
        offset += size
    if offset != len(data):
        raise WireError("malformed array in reply: bytes left over after the last array")
    used: set[int] = set()
    value = _untree(header["v"], arrays, used, 0)
    if len(used) != len(arrays):
        raise WireError("reply holds arrays that its header does not use")
    return value


def _block(block):
    """(dtype, shape) of a block's description, checked: a numeric or bool dtype of NumPy's own spelling, and at
    most 32 axes of a length each."""
    if type(block) is not list or len(block) != 2 or type(block[0]) is not str or type(block[1]) is not list:
        raise WireError(f"malformed array in reply: {str(block)[:80]}")
    text, shape = block
    if not _DTYPE.fullmatch(text):
        raise WireError(f"arrays must hold numbers or booleans, not dtype {text[:40]!r}")
    dtype = np.dtype(text)
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.str != text:
        raise WireError(f"arrays must hold numbers or booleans, not dtype {text[:40]!r}")
    if len(shape) > MAX_DEPTH or not all(type(k) is int and 0 <= k < 2**40 for k in shape):
        raise WireError(f"malformed array in reply: shape {str(shape)[:80]}")
    return dtype, tuple(shape)


def _untree(node, arrays, used, depth):
    if depth > MAX_DEPTH:
        raise WireError(f"reply nested deeper than {MAX_DEPTH} levels")
    if node is None or type(node) in (bool, int, str):
        return node
    if type(node) is not dict or len(node) != 1:
        raise WireError(f"unexpected node in reply: {str(node)[:80]}")
    (tag, v), = node.items()
    if tag in ("a", "s"):
        if type(v) is not int or not 0 <= v < len(arrays) or v in used:
            raise WireError("bad array reference in reply")
        used.add(v)
        return arrays[v] if tag == "a" else arrays[v][()]
    if tag == "f" and type(v) is str:
        return _float(v)
    if tag == "c" and type(v) is list and len(v) == 2 and all(type(x) is str for x in v):
        return complex(_float(v[0]), _float(v[1]))
    if tag == "i" and type(v) is str and v.lstrip("-").isdigit() and len(v) < 5000:
        return int(v)
    if tag in ("t", "l") and type(v) is list:
        items = [_untree(x, arrays, used, depth + 1) for x in v]
        return tuple(items) if tag == "t" else items
    if tag == "d" and type(v) is dict:
        return {str(k): _untree(x, arrays, used, depth + 1) for k, x in v.items()}
    raise WireError(f"unexpected node in reply: {str(node)[:80]}")


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise WireError(f"bad number in reply: {text[:40]!r}") from None


def array_leaves(value) -> list:
    """The NumPy arrays in a tree of tuples, lists and dicts, depth first, in order (dicts in insertion order).
    Both kernels list a call's arguments this way, so the k-th array of one side is the k-th of the other."""
    if isinstance(value, np.ndarray):
        return [value]
    if type(value) in (tuple, list):
        return [a for v in value for a in array_leaves(v)]
    if type(value) is dict:
        return [a for v in value.values() for a in array_leaves(v)]
    return []
