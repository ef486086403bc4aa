"""Chapter 2 operations: convolution (im2col), its gradients, pooling (solution code) against TensorFlow."""

import numpy as np

from dlcourse import notebooks, reference

from run import Case, compiled

# Answers, plus the blocked im2col shown beside the graded one (section "A faster im2col", tagged "bench").
ch02 = notebooks.load_functions(notebooks.solution_path("ch02_convolution"), tags=("bench",))

# Issue 9's layer: batch 32 of 28x28 images, 16 -> 32 channels, 3x3 kernel, stride 1, same padding.
N, H, W, C, F, K = 32, 28, 28, 16, 32, 3


def _data(dtype, *shapes):
    rng = np.random.default_rng(0)
    return [rng.normal(size=s).astype(dtype) for s in shapes]


def conv2d_forward_case(numpy_conv):
    def make(dtype):
        tf = reference.tf()
        x, w, b = _data(dtype, (N, H, W, C), (K, K, C, F), (F,))
        tx, tw, tb = tf.constant(x), tf.constant(w), tf.constant(b)

        def tf_conv():
            return tf.nn.bias_add(tf.nn.conv2d(tx, tw, strides=1, padding="SAME"), tb).numpy()

        return (lambda: numpy_conv(x, w, b, stride=1, padding="same")), tf_conv

    return make


def conv2d_backward_case(dtype):
    tf = reference.tf()
    x, w, b, dy = _data(dtype, (N, H, W, C), (K, K, C, F), (F,), (N, H, W, F))
    tx, tw, tb, tdy = (tf.constant(a) for a in (x, w, b, dy))

    def tape():  # dx, dw, db: what conv2d_backward returns
        with tf.GradientTape() as g:
            g.watch([tx, tw, tb])
            y = tf.nn.bias_add(tf.nn.conv2d(tx, tw, strides=1, padding="SAME"), tb)
        return [a.numpy() for a in g.gradient(y, [tx, tw, tb], output_gradients=tdy)]

    return (lambda: ch02.conv2d_backward(dy, x, w, stride=1, padding="same")), tape


def max_pool2d_case(dtype):
    keras = reference.keras()
    (x,) = _data(dtype, (N, H, W, 2 * C))
    layer = keras.layers.MaxPooling2D(pool_size=2, dtype=dtype)
    call = compiled(layer)
    tx = reference.tf().constant(x)
    return (lambda: ch02.max_pool2d(x, 2)), (lambda: call(tx).numpy())


def avg_pool2d_case(dtype):
    tf = reference.tf()
    (x,) = _data(dtype, (N, H, W, 2 * C))
    tx = tf.constant(x)
    return (lambda: ch02.avg_pool2d(x, 3, 2, "same")), (lambda: tf.nn.avg_pool2d(tx, 3, 2, "SAME").numpy())


def max_pool2d_backward_case(dtype):
    tf = reference.tf()
    x, dy = _data(dtype, (N, H, W, 2 * C), (N, H // 2, W // 2, 2 * C))
    x = np.maximum(x, 0)  # ReLU-like input: many ties at zero
    tx, tdy = tf.constant(x), tf.constant(dy)

    def tape():
        with tf.GradientTape() as g:
            g.watch(tx)
            y = tf.nn.max_pool2d(tx, 2, 2, "VALID")
        return g.gradient(y, tx, output_gradients=tdy).numpy()

    return (lambda: ch02.max_pool2d_backward(dy, x, 2, 2, "valid")), tape


_conv = f"x ({N},{H},{W},{C}), w ({K},{K},{C},{F}), same"
_pool = f"x ({N},{H},{W},{2 * C})"
CASES = [
    Case("conv2d_forward", _conv, conv2d_forward_case(ch02.conv2d_forward), "tf.nn.conv2d + bias_add", goal=1.5),
    Case("conv2d_forward_blocked (beside)", _conv, conv2d_forward_case(ch02.conv2d_forward_blocked),
         "tf.nn.conv2d + bias_add", goal=1.5),
    Case("conv2d_backward", _conv, conv2d_backward_case, "GradientTape (dx, dw, db)", goal=3.0),
    Case("max_pool2d", _pool + ", 2x2", max_pool2d_case, "MaxPooling2D in tf.function", goal=2.0),
    Case("avg_pool2d", _pool + ", 3x3 stride 2 same", avg_pool2d_case, "tf.nn.avg_pool2d"),
    Case("max_pool2d_backward", _pool + " ReLU-like, 2x2", max_pool2d_backward_case, "GradientTape"),
]

