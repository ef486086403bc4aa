"""dlcourse.check: every expected value here comes from the definition, worked by hand."""

import numpy as np
import pytest

from dlcourse import check


def test_rel_error_hand_values():
    assert check.rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)  # 2 / 4
    assert check.rel_error(np.array([-1.0]), np.array([1.0])) == pytest.approx(1.0)  # opposite signs
    assert check.rel_error(np.array([1.0, 1.0]), np.array([1.0, 3.0])) == pytest.approx(0.5)  # max, not mean
    assert check.rel_error(np.zeros(4), np.zeros(4)) == 0.0  # floor, not 0/0
    assert check.rel_error(1e-9, 0.0) == pytest.approx(0.1)  # 1e-9 / 1e-8
    assert check.rel_error(np.empty((0, 3)), np.empty((0, 3))) == 0.0


def test_rel_error_refuses_broadcasting():
    with pytest.raises(ValueError, match=r"same shape|one shape"):
        check.rel_error(np.ones(3), np.ones((3, 1)))


def test_tolerance_policy_values_and_unknown_key():
    assert check.tolerance("forward64") == 1e-10
    assert check.tolerance("grad64") == 1e-8
    assert check.tolerance("numgrad64") == 1e-7
    assert check.tolerance("float32") == 1e-5
    assert check.tolerance("attention64") == 1e-7
    assert check.tolerance(3e-4) == 3e-4
    with pytest.raises(ValueError, match="forward64"):
        check.tolerance("forwards64")
    with pytest.raises(ValueError, match="positive"):
        check.tolerance(0)


def test_assert_close_passes_within_bound():
    a = np.linspace(1, 2, 10)
    check.assert_close(a * (1 + 1e-12), a, name="x", tol="forward64")


def test_assert_close_message_names_worst_element_and_errors():
    expected = np.ones((2, 3))
    actual = expected.copy()
    actual[1, 2] = 1.5
    actual[0, 0] = 1.01
    with pytest.raises(AssertionError) as info:
        check.assert_close(actual, expected, name="gate", tol=1e-6, hint="gate order is i, f, c, o")
    msg = str(info.value)
    assert "gate" in msg
    assert "(1, 2)" in msg  # the worst element, not the first bad one
    assert "got 1.5" in msg and "expected 1" in msg
    assert "max absolute error 5.000e-01" in msg
    assert f"{0.5 / 2.5:.3e}" in msg  # max relative error 0.2
    assert "2 of 6 elements" in msg
    assert "gate order is i, f, c, o" in msg


def test_assert_close_shape_mismatch():
    with pytest.raises(AssertionError, match=r"shape mismatch: got \(3, 2\), expected \(2, 3\)"):
        check.assert_close(np.ones((3, 2)), np.ones((2, 3)), name="W")


def test_assert_close_nan_is_reported_not_passed():
    actual = np.array([1.0, np.nan, 3.0])
    with pytest.raises(AssertionError, match=r"non-finite.*index \(1,\)"):
        check.assert_close(actual, np.array([1.0, 2.0, 3.0]), name="softmax")


def test_assert_close_matching_infinities_and_nans_agree():
    v = np.array([np.inf, -np.inf, np.nan, 1.0])
    check.assert_close(v, v.copy(), name="mask fill")
    with pytest.raises(AssertionError):
        check.assert_close(np.array([np.inf]), np.array([-np.inf]), name="signs")


def test_numerical_gradient_matches_derivative_and_keeps_x():
    x = np.array([[0.3, -1.2], [2.0, 0.5]])
    x0 = x.copy()
    g = check.numerical_gradient(lambda v: np.sum(np.sin(v) * v), x)
    check.assert_close(g, np.cos(x) * x + np.sin(x), name="d/dx sum(x sin x)", tol="numgrad64")
    np.testing.assert_array_equal(x, x0)


def test_numerical_gradient_with_dout_is_vector_jacobian_product():
    x = np.array([1.0, 2.0, 3.0])
    dout = np.array([0.5, -1.0, 2.0])
    g = check.numerical_gradient(lambda v: v**2, x, dout=dout)
    check.assert_close(g, 2 * x * dout, name="vjp of x^2", tol="numgrad64")


def test_numerical_gradient_refuses_float32():
    with pytest.raises(ValueError, match="float64"):
        check.numerical_gradient(lambda v: np.sum(v), np.ones(3, dtype=np.float32))


def test_gradient_check_catches_a_wrong_gradient():
    x = np.array([0.1, 0.7, -0.4])
    f = lambda v: np.sum(np.tanh(v))  # noqa: E731
    check.gradient_check(f, x, 1 - np.tanh(x) ** 2, name="tanh'")
    with pytest.raises(AssertionError, match="analytic vs numerical"):
        check.gradient_check(f, x, 1 - np.tanh(x), name="wrong tanh'")


def test_assert_close_floor_near_zero_grows_with_the_reference():
    # Round-off of an array of order 1 on an element near zero: 5e-16 on 2e-7. The plain relative rule
    # gives 5e-16 / 4e-7 = 1.25e-9 > 1e-10 and fails by chance; with the floor 1e-3 * max|expected| = 1e-3
    # it is 5e-16 / 1e-3 = 5e-13 <= 1e-10.
    expected = np.array([1.0, -0.5, 2e-7])
    actual = expected + np.array([0.0, 0.0, 5e-16])
    assert check.rel_error(actual, expected) > 1e-10  # the old rule, still chapter 0's rel_error
    check.assert_close(actual, expected, name="near zero", tol=1e-10)
    assert check.comparison_floor(expected) == pytest.approx(1e-3)


def test_assert_close_floor_still_catches_real_errors_near_zero():
    expected = np.array([1.0, -0.5, 2e-7])
    with pytest.raises(AssertionError, match=r"index \(2,\)[^\n]*\n.*max absolute error 1\.000e-10") as info:
        check.assert_close(expected + np.array([0.0, 0.0, 1e-10]), expected, name="near zero", tol=1e-10)
    assert "1.0e-03" in str(info.value)  # the message states the floor it used
    assert check.comparison_floor(np.zeros(3)) == 1e-8
    assert check.comparison_floor(np.array([np.inf, 2.0, np.nan])) == pytest.approx(2e-3)  # finite elements only


def test_assert_close_hint_is_on_the_first_line():
    # `dlcourse check` shows the first line of a failure: it must name the likely mistake
    for actual in (np.ones(3) * 2, np.ones(2), np.array([1.0, np.nan, 1.0])):
        with pytest.raises(AssertionError) as info:
            check.assert_close(actual, np.ones(3), name="gate", hint="gate order is i, f, c, o")
        assert "Likely cause: gate order is i, f, c, o" in str(info.value).splitlines()[0]


def test_the_floor_comes_from_the_reference_so_a_result_cannot_widen_it():
    """Attacks on the near-zero floor by the result under test (the student's side): dropping small elements,
    blowing up large ones so that a floor computed from both would grow, nan or inf anywhere."""
    expected = np.array([1.0, 1e-4, -2e-4])  # floor = 1e-3 * 1.0: the small elements are judged with it
    attempts = {
        "small elements zeroed": np.array([1.0, 0.0, 0.0]),
        "a huge element to raise the scale": np.array([1e12, 0.0, 0.0]),
        "nan where it is small": np.array([1.0, np.nan, -2e-4]),
        "inf where it is small": np.array([1.0, 1e-4, np.inf]),
        "everything nan": np.full(3, np.nan),
    }
    for what, actual in attempts.items():
        with pytest.raises(AssertionError):
            check.assert_close(actual, expected, name=what, tol=1e-7)
    assert check.comparison_floor(expected) == pytest.approx(1e-3)
    check.assert_close(np.array([1.0, 1e-4 + 1e-17, -2e-4]), expected, name="round-off only", tol=1e-10)
