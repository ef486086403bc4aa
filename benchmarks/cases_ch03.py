"""Chapter 3 operations: RNN, LSTM (forward and BPTT) and GRU over a sequence (solution code)."""

import numpy as np

from dlcourse import notebooks, reference

from run import Case, compiled

# Answers, plus the fast forward pass shown beside the graded one (section "A faster forward pass", tagged "bench").
ch03 = notebooks.load_functions(notebooks.solution_path("ch03_lstm"), tags=("bench",))

# Issue 9's size: x (32, 50, 32), H = 64.
N, T, D, H = 32, 50, 32, 64


def _data(dtype, gates, bias_shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, T, D)).astype(dtype)
    W = (rng.normal(size=(D, gates * H)) * 0.2).astype(dtype)
    U = (rng.normal(size=(H, gates * H)) * 0.1).astype(dtype)
    b = (rng.normal(size=bias_shape) * 0.1).astype(dtype)
    return x, W, U, b


def _layer_case(numpy_fn, builder, gates, bias_shape):
    def make(dtype):
        x, W, U, b = _data(dtype, gates, bias_shape)
        call = compiled(builder(W, U, b))
        tx = reference.tf().constant(x)
        return (lambda: numpy_fn(x, W, U, b)), (lambda: [t.numpy() for t in call(tx)])

    return make


def lstm_backward_case(dtype):
    tf = reference.tf()
    x, W, U, b = _data(dtype, 4, (4 * H,))
    dh = np.random.default_rng(1).normal(size=(N, T, H)).astype(dtype)
    layer = reference.lstm(W, U, b)
    tx, tdh = tf.constant(x), tf.constant(dh)

    @tf.function
    def tape(x_, dh_):
        with tf.GradientTape() as g:
            g.watch(x_)
            loss = tf.reduce_sum(layer(x_)[0] * dh_)
        return g.gradient(loss, [x_, *layer.trainable_weights])

    return (lambda: ch03.lstm_backward(dh, x, W, U, b)), (lambda: [t.numpy() for t in tape(tx, tdh)])


_shape = f"x ({N},{T},{D}), H = {H}"
CASES = [
    Case("lstm_forward", _shape, _layer_case(ch03.lstm_forward, reference.lstm, 4, (4 * H,)),
         "Keras LSTM in tf.function", goal=1.0),
    Case("lstm_forward_fast (beside)", _shape, _layer_case(ch03.lstm_forward_fast, reference.lstm, 4, (4 * H,)),
         "Keras LSTM in tf.function", goal=1.0),
    Case("lstm_backward", _shape, lstm_backward_case, "GradientTape in tf.function", goal=2.0),
    Case("rnn_forward", _shape, _layer_case(lambda x, W, U, b: [ch03.rnn_forward(x, W, U, b)], reference.simple_rnn,
                                            1, (H,)), "Keras SimpleRNN in tf.function"),
    Case("gru_forward", _shape, _layer_case(lambda x, W, U, b: [ch03.gru_forward(x, W, U, b)], reference.gru,
                                            3, (2, 3 * H)), "Keras GRU in tf.function"),
]
