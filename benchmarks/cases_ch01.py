"""Chapter 1 operations: softmax cross-entropy, the two-layer MLP backward pass, an Adam step."""

import numpy as np

from dlcourse import notebooks, reference

from run import Case

ch01 = notebooks.load_functions(notebooks.solution_path("ch01_gradient_descent"))


def cross_entropy_case(dtype):
    tf = reference.tf()
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(1024, 10)).astype(dtype), rng.integers(0, 10, size=1024)
    tl, ty = tf.constant(logits), tf.constant(labels)

    def tf_ce():
        with tf.GradientTape() as g:
            g.watch(tl)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(ty, tl))
        return g.gradient(loss, tl)

    return (lambda: ch01.softmax_cross_entropy(logits, labels)), tf_ce


def mlp_backward_case(dtype):
    tf = reference.tf()
    rng = np.random.default_rng(0)
    N, D, H, C = 256, 64, 128, 10
    x = rng.normal(size=(N, D)).astype(dtype)
    p = {"W1": rng.normal(size=(D, H)).astype(dtype) * 0.1, "b1": np.zeros(H, dtype),
         "W2": rng.normal(size=(H, C)).astype(dtype) * 0.1, "b2": np.zeros(C, dtype)}
    dout = rng.normal(size=(N, C)).astype(dtype)
    tp = {k: tf.Variable(v) for k, v in p.items()}
    tx, td = tf.constant(x), tf.constant(dout)

    def tape():
        with tf.GradientTape() as g:
            g.watch(tx)
            out = tf.nn.relu(tx @ tp["W1"] + tp["b1"]) @ tp["W2"] + tp["b2"]
            loss = tf.reduce_sum(out * td)
        return g.gradient(loss, [tx, *tp.values()])

    def numpy():
        ch01.mlp_forward(x, p)
        return ch01.mlp_backward(dout, x, p)

    return numpy, tape


def adam_case(dtype):
    tf = reference.tf()
    rng = np.random.default_rng(0)
    w, g = rng.normal(size=1_000_000).astype(dtype), rng.normal(size=1_000_000).astype(dtype)
    m, v = np.zeros_like(w), np.zeros_like(w)
    tw, tg = tf.Variable(w), tf.constant(g)
    opt = reference.keras().optimizers.Adam()
    opt.build([tw])
    return (lambda: ch01.adam_update(w, g, m, v, 1)), (lambda: opt.apply_gradients([(tg, tw)]))


CASES = [
    Case("softmax_cross_entropy", "logits (1024, 10)", cross_entropy_case, "GradientTape"),
    Case("mlp_forward+backward", "x (256, 64), H 128, C 10", mlp_backward_case, "GradientTape"),
    Case("adam_update", "w (1000000,)", adam_case, "keras.optimizers.Adam"),
]
