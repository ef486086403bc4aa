"""Chapter 2 operations: convolution (im2col), its gradients, pooling (solution code) against TensorFlow."""

import numpy as np

from dlcourse import notebooks, reference

from run import Case

ch02 = notebooks.load_functions(notebooks.solution_path("ch02_convolution"))

# A mid-size layer: batch 16 of 32x32 images, 16 -> 32 channels, 3x3 kernel.
N, H, W, C, F, K = 16, 32, 32, 16, 32, 3


def _data(dtype, *shapes):
    rng = np.random.default_rng(0)
    return [rng.normal(size=s).astype(dtype) for s in shapes]


def conv2d_forward_case(dtype, stride=1, padding="same"):
    tf = reference.tf()
    x, w, b = _data(dtype, (N, H, W, C), (K, K, C, F), (F,))
    tx, tw, tb = tf.constant(x), tf.constant(w), tf.constant(b)

    def tf_conv():
        return (tf.nn.conv2d(tx, tw, strides=stride, padding=padding.upper()) + tb).numpy()

    return (lambda: ch02.conv2d_forward(x, w, b, stride=stride, padding=padding)), tf_conv


def conv2d_backward_case(dtype, stride=2, padding="same"):
    tf = reference.tf()
    x, w = _data(dtype, (N, H, W, C), (K, K, C, F))
    Ho, Wo = -(-H // stride), -(-W // stride)
    (dy,) = _data(dtype, (N, Ho, Wo, F))
    tx, tw, tdy = tf.constant(x), tf.constant(w), tf.constant(dy)

    def tape():
        with tf.GradientTape() as g:
            g.watch([tx, tw])
            y = tf.nn.conv2d(tx, tw, strides=stride, padding=padding.upper())
        return g.gradient(y, [tx, tw], output_gradients=tdy)

    return (lambda: ch02.conv2d_backward(dy, x, w, stride=stride, padding=padding)), tape


def pool_case(kind):
    def make(dtype):
        tf = reference.tf()
        (x,) = _data(dtype, (N, H, W, C))
        tx = tf.constant(x)
        if kind == "max":
            return (lambda: ch02.max_pool2d(x, 3, 2, "same")), (lambda: tf.nn.max_pool2d(tx, 3, 2, "SAME").numpy())
        return (lambda: ch02.avg_pool2d(x, 3, 2, "same")), (lambda: tf.nn.avg_pool2d(tx, 3, 2, "SAME").numpy())

    return make


def max_pool2d_backward_case(dtype):
    tf = reference.tf()
    x, dy = _data(dtype, (N, H, W, C), (N, H // 2, W // 2, C))
    x = np.maximum(x, 0)  # ReLU-like input: many ties at zero
    tx, tdy = tf.constant(x), tf.constant(dy)

    def tape():
        with tf.GradientTape() as g:
            g.watch(tx)
            y = tf.nn.max_pool2d(tx, 2, 2, "VALID")
        return g.gradient(y, tx, output_gradients=tdy)

    return (lambda: ch02.max_pool2d_backward(dy, x, 2, 2, "valid")), tape


CASES = [
    Case("conv2d_forward (im2col) vs tf.nn.conv2d", "x (16,32,32,16), w (3,3,16,32), stride 1, same", conv2d_forward_case),
    Case("conv2d_backward vs tape", "x (16,32,32,16), w (3,3,16,32), stride 2, same", conv2d_backward_case),
    Case("max_pool2d vs tf.nn.max_pool2d", "x (16,32,32,16), pool 3, stride 2, same", pool_case("max")),
    Case("avg_pool2d vs tf.nn.avg_pool2d", "x (16,32,32,16), pool 3, stride 2, same", pool_case("avg")),
    Case("max_pool2d_backward vs tape", "x (16,32,32,16) ReLU-like, pool 2", max_pool2d_backward_case),
]
