"""Chapter 3 operations: RNN, LSTM (forward and BPTT) and GRU over a sequence (solution code)."""

import numpy as np

from dlcourse import notebooks, reference

from run import Case

ch03 = notebooks.load_functions(notebooks.solution_path("ch03_lstm"))

N, T, D, H = 32, 50, 16, 64


def _data(dtype, gates, bias_shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, T, D)).astype(dtype)
    W = (rng.normal(size=(D, gates * H)) * 0.2).astype(dtype)
    U = (rng.normal(size=(H, gates * H)) * 0.1).astype(dtype)
    b = (rng.normal(size=bias_shape) * 0.1).astype(dtype)
    return x, W, U, b


def rnn_forward_case(dtype):
    x, W, U, b = _data(dtype, 1, (H,))
    layer = reference.simple_rnn(W, U, b)
    return (lambda: ch03.rnn_forward(x, W, U, b)), (lambda: layer(x))


def lstm_forward_case(dtype):
    x, W, U, b = _data(dtype, 4, (4 * H,))
    layer = reference.lstm(W, U, b)
    return (lambda: ch03.lstm_forward(x, W, U, b)), (lambda: layer(x))


def lstm_backward_case(dtype):
    tf = reference.tf()
    x, W, U, b = _data(dtype, 4, (4 * H,))
    dh = np.random.default_rng(1).normal(size=(N, T, H)).astype(dtype)
    layer = reference.lstm(W, U, b)
    tx, tdh = tf.constant(x), tf.constant(dh)

    def tape():
        with tf.GradientTape() as g:
            g.watch(tx)
            loss = tf.reduce_sum(layer(tx)[0] * tdh)
        return g.gradient(loss, [tx, *layer.trainable_weights])

    return (lambda: ch03.lstm_backward(dh, x, W, U, b)), tape


def gru_forward_case(dtype):
    x, W, U, b = _data(dtype, 3, (2, 3 * H))
    layer = reference.gru(W, U, b)
    return (lambda: ch03.gru_forward(x, W, U, b)), (lambda: layer(x))


_shape = f"x ({N}, {T}, {D}), H = {H}"
CASES = [
    Case("rnn_forward", _shape, rnn_forward_case),
    Case("lstm_forward", _shape, lstm_forward_case),
    Case("lstm_backward vs tape", _shape + ", dh (N, T, H)", lstm_backward_case),
    Case("gru_forward", _shape, gru_forward_case),
]
