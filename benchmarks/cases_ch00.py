"""Chapter 0 operations: the relative error and the numerical gradient (solution code)."""

import numpy as np

from dlcourse import notebooks, reference

from run import Case

ch00 = notebooks.load_functions(notebooks.solution_path("ch00_start"))


def rel_error_case(dtype):
    tf = reference.tf()
    rng = np.random.default_rng(0)
    a, b = (rng.normal(size=(1000, 1000)).astype(dtype) for _ in range(2))
    ta, tb = tf.constant(a), tf.constant(b)

    def tf_rel_error():
        return float(tf.reduce_max(tf.abs(ta - tb) / tf.maximum(tf.cast(1e-8, ta.dtype), tf.abs(ta) + tf.abs(tb))))

    return (lambda: ch00.rel_error(a, b)), tf_rel_error


def numerical_gradient_case(dtype):
    # The numerical gradient is only meaningful in float64; in float32 we time the same loop anyway.
    tf = reference.tf()
    x = np.random.default_rng(0).normal(size=200).astype(dtype)
    tx = tf.constant(x)

    def tape():
        with tf.GradientTape() as g:
            g.watch(tx)
            y = tf.reduce_sum(tf.tanh(tx) ** 2)
        return g.gradient(y, tx)

    return (lambda: ch00.numerical_gradient(lambda v: np.sum(np.tanh(v) ** 2), x)), tape


CASES = [
    Case("rel_error", "a, b (1000, 1000)", rel_error_case, "TF ops, eager"),
    Case("numerical_gradient", "x (200,), f = sum(tanh(x)^2)", numerical_gradient_case, "GradientTape (exact)"),
]
