"""Comparing arrays: relative error, a readable ``assert_close``, gradient checks.

The tolerance policy of the course lives here and nowhere else (``TOLERANCES``).
Every comparison in the notebooks and tests names a policy entry, so tightening
or loosening a bound is a one-line change.

The rule ``assert_close`` applies, element by element, with ``a`` the result under
test and ``e`` the reference::

    |a_i - e_i| / max(|a_i| + |e_i|, floor)  <=  tol,
    floor = max(1e-8, 1e-3 * max_j |e_j|)        (the max over the reference's finite elements)

A relative bound alone fails by chance on elements near zero: an element of 2e-7 in
an array of order 1, computed by two correct programs, differs by round-off of the
array's scale (5e-16, say), a relative error of 1e-9 > 1e-10. So the denominator has
a floor: a thousandth of the reference's largest magnitude. Elements at least that
large are judged relatively; smaller ones by an absolute error of ``tol * floor``.
``rel_error`` (chapter 0's exercise) keeps the plain floor of 1e-8.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "TOLERANCES",
    "tolerance",
    "rel_error",
    "comparison_floor",
    "assert_close",
    "numerical_gradient",
    "gradient_check",
]

#: Max relative error allowed, by kind of comparison (see docs/maintainers/reference.md).
TOLERANCES: dict[str, float] = {
    "forward64": 1e-10,  # NumPy vs Keras, float64, forward pass
    "attention64": 1e-7,  # NumPy vs Keras attention, float64 (softmax of long sums)
    "grad64": 1e-8,  # NumPy vs tf.GradientTape, float64
    "numgrad64": 1e-7,  # centred differences vs analytic gradient, float64
    "float32": 1e-5,  # NumPy vs Keras, float32 (TF32 off on a GPU)
}

#: The floor in the denominator of the relative error, so that 0 vs 0 is 0, not nan.
REL_ERROR_FLOOR = 1e-8

#: In ``assert_close`` the floor also grows with the reference: this fraction of its largest magnitude.
SCALE_FLOOR = 1e-3


def tolerance(tol: float | str) -> float:
    """Return a bound: a number as is, or a ``TOLERANCES`` key looked up.

    Raises ValueError for an unknown key, listing the known ones.
    """
    if isinstance(tol, str):
        try:
            return TOLERANCES[tol]
        except KeyError:
            known = ", ".join(sorted(TOLERANCES))
            raise ValueError(f"unknown tolerance {tol!r}; expected a number or one of: {known}") from None
    tol = float(tol)
    if not tol > 0:
        raise ValueError(f"a tolerance must be a positive number, got {tol}")
    return tol


def _elementwise_rel_error(a: np.ndarray, b: np.ndarray, floor: float = REL_ERROR_FLOOR) -> np.ndarray:
    return np.abs(a - b) / np.maximum(floor, np.abs(a) + np.abs(b))


def comparison_floor(expected) -> float:
    """The denominator's floor ``assert_close`` uses: max(1e-8, 1e-3 * the reference's largest finite magnitude)."""
    e = np.abs(np.asarray(expected, dtype=np.float64))
    return max(REL_ERROR_FLOOR, SCALE_FLOOR * float(np.max(e, where=np.isfinite(e), initial=0.0)))


def rel_error(a, b) -> float:
    """Max over elements of ``|a - b| / max(1e-8, |a| + |b|)``.

    Inputs: two arrays (or scalars) of the same shape. Output: a Python float.
    Raises ValueError if the shapes differ (broadcasting would hide a bug).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs two arrays of one shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(_elementwise_rel_error(a, b)))


def assert_close(actual, expected, *, name: str, tol: float | str = "forward64", hint: str = "") -> None:
    """Assert that ``actual`` matches ``expected`` to a max relative error ``tol``.

    ``actual`` is the code under test, ``expected`` the reference (Keras or a
    derivation). ``tol`` is a number or a key of ``TOLERANCES``. ``hint`` names
    the likely mistake; it is appended to the failure message.

    Elements near zero are judged against a floor (see the module docstring):
    ``|a - e| / max(|a| + |e|, max(1e-8, 1e-3 * max|expected|)) <= tol``.

    The failure message states: a shape mismatch, or non-finite values, or the
    worst element's index with both values, and the max absolute and relative
    error against the bound. Its first line ends with the hint, so that a
    one-line summary (``dlcourse check``) still names the likely mistake.
    """
    bound = tolerance(tol)
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    tail = f" Likely cause: {hint}" if hint else ""  # on the first line, which summaries such as `dlcourse check` show
    if actual.shape != expected.shape:
        raise AssertionError(
            f"{name}: shape mismatch: got {actual.shape}, expected {expected.shape}.{tail}"
        )
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    bad = ~np.isfinite(a) & np.isfinite(e)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(
            f"{name}: {int(bad.sum())} non-finite value(s) (nan or inf) where the reference is finite; "
            f"first at index {idx}: got {a[idx]:.17g}, expected {e[idx]:.17g}.{tail}"
        )
    if a.size == 0:
        return
    same = (a == e) | (np.isnan(a) & np.isnan(e))  # equal infinities and matching nans agree
    floor = comparison_floor(e)
    with np.errstate(invalid="ignore"):
        err = np.where(same, 0.0, _elementwise_rel_error(a, e, floor))
    err = np.nan_to_num(err, nan=np.inf)
    worst = float(err.max())
    if worst > bound:
        idx = np.unravel_index(int(np.argmax(err)), err.shape)
        idx = tuple(int(i) for i in idx)
        max_abs = float(np.nanmax(np.abs(a - e)))
        raise AssertionError(
            f"{name}: max relative error {worst:.3e} exceeds {bound:.0e}.{tail}\n"
            f"  worst element at index {idx}: got {a[idx]:.17g}, expected {e[idx]:.17g}\n"
            f"  max absolute error {max_abs:.3e}; "
            f"{int((err > bound).sum())} of {err.size} elements out of tolerance "
            f"(relative error |got - expected| / max(|got| + |expected|, {floor:.1e}))."
        )


def numerical_gradient(f, x, h: float = 1e-5, dout=None) -> np.ndarray:
    """Centred-difference gradient of ``f`` at ``x``, element by element.

    ``f`` maps an array shaped like ``x`` to a scalar, or to an array when
    ``dout`` is given (then the gradient is that of ``sum(f(x) * dout)``).
    ``x`` must be float64: in float32 the rounding error of the difference is
    around 1e-2 and the check means nothing. ``x`` is not modified. Returns an
    array of ``x``'s shape.
    """
    x = np.asarray(x)
    if x.dtype != np.float64:
        raise ValueError(f"numerical_gradient needs a float64 array, got {x.dtype}; use x.astype(np.float64)")
    xp = x.copy()
    grad = np.zeros_like(xp)

    def scalar(v):
        out = f(v)
        if dout is None:
            out = np.asarray(out)
            if out.size != 1:
                raise ValueError(f"f must return a scalar when dout is None, got shape {out.shape}")
            return float(out)
        return float(np.sum(np.asarray(out) * dout))

    flat, gflat = xp.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = scalar(xp)
        flat[i] = old - h
        minus = scalar(xp)
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * h)
    return grad


def gradient_check(f, x, analytic, *, name: str, h: float = 1e-5, dout=None, tol: float | str = "numgrad64") -> None:
    """Assert that ``analytic`` equals the centred-difference gradient of ``f`` at ``x``."""
    assert_close(
        analytic,
        numerical_gradient(f, x, h=h, dout=dout),
        name=f"{name} (analytic vs numerical gradient)",
        tol=tol,
    )
