"""Chapter 3's wrong answers: the vanilla RNN, the LSTM (step, sequence, BPTT) and the GRU.

Every answer cell below is whole, as a learner would leave it: the shape check ``recurrent_shapes`` and
``sigmoid`` come from the chapter's setup cells. Sources of the entries: the classic slips (gate order,
a bias added twice, a transposed weight, the old cell state, in-place updates, off-by-one in time),
PyTorch habits (its (4H, D) weights, its r, z, n GRU order), the source articles' formulas, and the
slips learners were seen to make (an ``lstm_step`` without its shape check; the articles' LSTM with only
i, f and o doubled; ``np.split`` on the batch axis; ``h0 or np.zeros(...)``; loops over time off by one).
"""

from mistakes import Mistake

#: An lstm_forward that calls the learner's lstm_step (the hint says it may) can fail because of it.
DEPENDS = {"lstm_forward": {"lstm_step"}}

_TF = "write it in NumPy"

# ---------------------------------------------------------------------------------------------- rnn_forward

_RNN_HEAD = '''
def rnn_forward(x, W, U, b, h0=None):
    N, T, D, H = recurrent_shapes(x, W, U, b, 1, lambda H: (H,), (h0,))
'''


def _rnn(body: str, head: str = _RNN_HEAD) -> str:
    return head + body


RNN = [
    Mistake("rnn_forward", "U-transposed", _rnn('''
    h = np.zeros((N, H)) if h0 is None else h0
    out = np.empty((N, T, H))
    for t in range(T):
        h = np.tanh(x[:, t] @ W + h @ U.T + b)
        out[:, t] = h
    return out
'''), says=("U^T", "from the right")),
    Mistake("rnn_forward", "articles-column-vectors", _rnn('''
    # the source articles: h_t = f(W_xh x_t + W_hh h_{t-1} + b_h), column vectors
    h = np.zeros((N, H)) if h0 is None else h0
    out = np.empty((N, T, H))
    for t in range(T):
        h = np.tanh((W.T @ x[:, t].T).T + (U @ h.T).T + b)
        out[:, t] = h
    return out
'''), says=("U^T", "column vectors"), origin="articles"),
    Mistake("rnn_forward", "bias-twice", _rnn('''
    xw = x @ W + b
    h = np.zeros((N, H)) if h0 is None else h0
    out = np.empty((N, T, H))
    for t in range(T):
        h = np.tanh(xw[:, t] + h @ U + b)
        out[:, t] = h
    return out
'''), says=("bias", "twice")),
    Mistake("rnn_forward", "last-state-only", _rnn('''
    h = np.zeros((N, H)) if h0 is None else h0
    for t in range(T):
        h = np.tanh(x[:, t] @ W + h @ U + b)
    return h
'''), says=("all hidden states", "(N, T, H)")),
    Mistake("rnn_forward", "ignores-h0", _rnn('''
    h = np.zeros((N, H))
    out = np.empty((N, T, H))
    for t in range(T):
        h = np.tanh(x[:, t] @ W + h @ U + b)
        out[:, t] = h
    return out
'''), says=("h0",)),
    Mistake("rnn_forward", "stores-previous-state", _rnn('''
    h = np.zeros((N, H)) if h0 is None else h0
    out = np.empty((N, T, H))
    for t in range(T):
        out[:, t] = h
        h = np.tanh(x[:, t] @ W + h @ U + b)
    return out
'''), says=("one step", "after the update")),
    Mistake("rnn_forward", "no-recurrent-term", _rnn('''
    return np.tanh(x @ W + b)
'''), says=("recurrent term", "h_{t-1} U")),
    Mistake("rnn_forward", "relu", _rnn('''
    h = np.zeros((N, H)) if h0 is None else h0
    out = np.empty((N, T, H))
    for t in range(T):
        h = np.maximum(0, x[:, t] @ W + h @ U + b)
        out[:, t] = h
    return out
'''), says=("tanh", "relu")),
    Mistake("rnn_forward", "pytorch-weight-layout", _rnn('''
    h = np.zeros((N, H)) if h0 is None else h0
    out = np.empty((N, T, H))
    for t in range(T):
        h = np.tanh(x[:, t] @ W.T + h @ U.T + b)   # PyTorch: x @ weight_ih.T
        out[:, t] = h
    return out
'''), says=("PyTorch", "(D, H)")),
    Mistake("rnn_forward", "no-shape-check", '''
def rnn_forward(x, W, U, b, h0=None):
    N, T, D = x.shape
    H = U.shape[0]
    h = np.zeros((N, H)) if h0 is None else h0
    out = np.empty((N, T, H))
    for t in range(T):
        h = np.tanh(x[:, t] @ W + h @ U + b)
        out[:, t] = h
    return out
''', says=("ValueError", "recurrent_shapes")),
    Mistake("rnn_forward", "tensorflow", '''
import tensorflow as tf

def rnn_forward(x, W, U, b, h0=None):
    layer = tf.keras.layers.SimpleRNN(U.shape[0], return_sequences=True)
    layer.build(x.shape)
    layer.set_weights([W, U, b])
    return layer(x).numpy()
''', says=(_TF,)),
    # seen in a learner's attempts (issue 24): each used to get another cause's message, or the generic mismatch
    Mistake("rnn_forward", "h0-or-zeros", _rnn('''
    h = h0 or np.zeros((N, H))
    out = np.empty((N, T, H))
    for t in range(T):
        h = np.tanh(x[:, t] @ W + h @ U + b)
        out[:, t] = h
    return out
'''), says=("h0 or np.zeros", "h0 is None"), origin="learner"),
    Mistake("rnn_forward", "skips-last-step", _rnn('''
    h = np.zeros((N, H)) if h0 is None else h0
    out = np.zeros((N, T, H))
    for t in range(T - 1):
        h = np.tanh(x[:, t] @ W + h @ U + b)
        out[:, t] = h
    return out
'''), says=("skipped the last time step", "range(T)"), origin="learner"),
    Mistake("rnn_forward", "skips-first-step", _rnn('''
    h = np.zeros((N, H)) if h0 is None else h0
    out = np.zeros((N, T, H))
    for t in range(1, T):
        h = np.tanh(x[:, t] @ W + h @ U + b)
        out[:, t] = h
    return out
'''), says=("skipped the first time step", "t = 0"), origin="learner"),
]

# ---------------------------------------------------------------------------------------------- lstm_step

_STEP_HEAD = '''
def lstm_step(x_t, h_prev, c_prev, W, U, b):
    if np.ndim(x_t) != 2:
        raise ValueError(f"x_t must be 2-D (N, D), got shape {np.shape(x_t)}")
    recurrent_shapes(np.asarray(x_t)[:, None, :], W, U, b, 4, lambda H: (4 * H,), (h_prev, c_prev))
    H = U.shape[0]
'''


def _step(body: str) -> str:
    return _STEP_HEAD + body


_STEP_CS231N = _step('''
    a = x_t @ W + h_prev @ U + b
    i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H])
    g = np.tanh(a[:, 3 * H:])
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return h, c
''')

STEP = [
    Mistake("lstm_step", "cs231n-order", _STEP_CS231N, says=("i, f, o, g", "i, f, c, o")),
    # a learner's helper, defined in a cell of its own above the exercise: that cell does not run when graded
    Mistake("lstm_step", "helper-in-another-cell", _step('''
    i, f, g, o = split_gates(x_t @ W + h_prev @ U + b, H)
    c = f * c_prev + i * g
    return o * np.tanh(c), c
'''), says=("split_gates", "only the setup cell and the exercise cells run", "inside this exercise's cell"),
            origin="learner"),
    Mistake("lstm_step", "articles-doubled-ifo-bias", _step('''
    # the source articles: i_t = sigma(W_xi * x_t + W_hi * h_{t-1} + b_i + ... + b_i), likewise f and o
    a = x_t @ W + h_prev @ U + b
    i = sigmoid(a[:, :H] + b[:H])
    f = sigmoid(a[:, H:2 * H] + b[H:2 * H])
    g = np.tanh(a[:, 2 * H:3 * H])
    o = sigmoid(a[:, 3 * H:] + b[3 * H:])
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return h, c
'''), says=("source articles' formula", "i, f and o", "once"), origin="learner"),
    Mistake("lstm_step", "bias-twice", _step('''
    a = x_t @ W + b + h_prev @ U + b
    i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
    g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return h, c
'''), says=("all four", "twice")),
    Mistake("lstm_step", "i-f-swapped", _step('''
    a = x_t @ W + h_prev @ U + b
    f, i = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
    g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return h, c
'''), says=("input and forget", "swapped")),
    Mistake("lstm_step", "old-cell-in-h", _step('''
    a = x_t @ W + h_prev @ U + b
    i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
    g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g
    h = o * np.tanh(c_prev)
    return h, c
'''), says=("new cell state", "c_prev")),
    Mistake("lstm_step", "sigmoid-candidate", _step('''
    a = x_t @ W + h_prev @ U + b
    i, f, g, o = (sigmoid(a[:, k * H:(k + 1) * H]) for k in range(4))
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return h, c
'''), says=("candidate", "tanh")),
    Mistake("lstm_step", "returns-c-h", _step('''
    a = x_t @ W + h_prev @ U + b
    i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
    g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g
    return c, o * np.tanh(c)
'''), says=("(h, c)",)),
    Mistake("lstm_step", "in-place-cell", _step('''
    a = x_t @ W + h_prev @ U + b
    i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
    g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    c = c_prev
    c *= f
    c += i * g
    h = o * np.tanh(c)
    return h, c
'''), says=("c_prev", "in place")),
    Mistake("lstm_step", "articles-star-elementwise", _step('''
    # the source articles write W_xi * x_t: read literally, * is NumPy's elementwise product
    a = x_t * W + h_prev * U + b
    i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
    g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return h, c
'''), says=("source articles", "matrix product", "@"), origin="articles"),
    Mistake("lstm_step", "pytorch-weight-layout", _step('''
    a = x_t @ W.T + h_prev @ U.T + b            # PyTorch: weight_ih is (4H, D)
    i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
    g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return h, c
'''), says=("PyTorch", "(D, 4H)")),
    Mistake("lstm_step", "no-shape-check", '''
def lstm_step(x_t, h_prev, c_prev, W, U, b):
    H = U.shape[0]
    a = x_t @ W + h_prev @ U + b
    i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
    g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return h, c
''', says=("ValueError", "recurrent_shapes"), origin="learner"),
    Mistake("lstm_step", "tensorflow", '''
def lstm_step(x_t, h_prev, c_prev, W, U, b):
    import tensorflow as tf
    cell = tf.keras.layers.LSTMCell(U.shape[0])
    cell.build(x_t.shape)
    cell.set_weights([W, U, b])
    h, (h, c) = cell(x_t, [h_prev, c_prev])
    return h.numpy(), c.numpy()
''', says=(_TF,)),
    # seen in a learner's attempt (issue 24): np.split's default axis is 0, the batch; it used to get the `*` message
    Mistake("lstm_step", "split-batch-axis", _step('''
    i, f, g, o = np.split(x_t @ W + h_prev @ U + b, 4)
    i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return h, c
'''), says=("np.split", "wrong axis", "axis=-1"), origin="learner"),
]

# ---------------------------------------------------------------------------------------------- lstm_forward

_FWD_HEAD = '''
def lstm_forward(x, W, U, b, h0=None, c0=None):
    N, T, D, H = recurrent_shapes(x, W, U, b, 4, lambda H: (4 * H,), (h0, c0))
'''


def _fwd(body: str) -> str:
    return _FWD_HEAD + body


_LOOP = '''
    xw = x @ W + b
    h = np.zeros((N, H)) if h0 is None else h0
    c = np.zeros((N, H)) if c0 is None else c0
    h_seq = np.empty((N, T, H))
    for t in range(T):
        a = xw[:, t] + h @ U
        i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
        g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        h_seq[:, t] = h
'''

FORWARD = [
    Mistake("lstm_forward", "cs231n-order", _fwd('''
    xw = x @ W + b
    h = np.zeros((N, H)) if h0 is None else h0
    c = np.zeros((N, H)) if c0 is None else c0
    h_seq = np.empty((N, T, H))
    for t in range(T):
        a = xw[:, t] + h @ U
        i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H])
        c = f * c + i * np.tanh(a[:, 3 * H:])
        h = o * np.tanh(c)
        h_seq[:, t] = h
    return h_seq, h, c
'''), says=("i, f, o, g", "i, f, c, o")),
    Mistake("lstm_forward", "bias-every-step", _fwd('''
    xw = x @ W + b
    h = np.zeros((N, H)) if h0 is None else h0
    c = np.zeros((N, H)) if c0 is None else c0
    h_seq = np.empty((N, T, H))
    for t in range(T):
        a = xw[:, t] + h @ U + b
        i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
        g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        h_seq[:, t] = h
    return h_seq, h, c
'''), says=("bias", "twice")),
    Mistake("lstm_forward", "articles-doubled-ifo-bias", _fwd('''
    xw = x @ W + b
    h = np.zeros((N, H)) if h0 is None else h0
    c = np.zeros((N, H)) if c0 is None else c0
    h_seq = np.empty((N, T, H))
    for t in range(T):
        a = xw[:, t] + h @ U
        i = sigmoid(a[:, :H] + b[:H])                 # the source articles: b_i twice
        f = sigmoid(a[:, H:2 * H] + b[H:2 * H])
        o = sigmoid(a[:, 3 * H:] + b[3 * H:])
        c = f * c + i * np.tanh(a[:, 2 * H:3 * H])
        h = o * np.tanh(c)
        h_seq[:, t] = h
    return h_seq, h, c
'''), says=("source articles' formula", "once"), origin="articles"),
    Mistake("lstm_forward", "tanh-of-c", _fwd(_LOOP + '''
    return h_seq, h, np.tanh(c)
'''), says=("c_T", "not tanh(c_T)")),
    Mistake("lstm_forward", "first-state-as-last", _fwd(_LOOP + '''
    return h_seq, h_seq[:, 0], c
'''), says=("h_T", "last")),
    Mistake("lstm_forward", "ignores-c0", _fwd('''
    xw = x @ W + b
    h = np.zeros((N, H)) if h0 is None else h0
    c = np.zeros((N, H))
    h_seq = np.empty((N, T, H))
    for t in range(T):
        a = xw[:, t] + h @ U
        i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
        g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        h_seq[:, t] = h
    return h_seq, h, c
'''), says=("c0", "ignored")),
    Mistake("lstm_forward", "h0-c0-swapped", _fwd('''
    xw = x @ W + b
    h = np.zeros((N, H)) if c0 is None else c0
    c = np.zeros((N, H)) if h0 is None else h0
    h_seq = np.empty((N, T, H))
    for t in range(T):
        a = xw[:, t] + h @ U
        i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
        g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        h_seq[:, t] = h
    return h_seq, h, c
'''), says=("h0 and c0", "swapped")),
    Mistake("lstm_forward", "h-T-c-T-swapped", _fwd(_LOOP + '''
    return h_seq, c, h
'''), says=("h_T and c_T swapped", "(h_seq, h_T, c_T)"), origin="learner"),
    Mistake("lstm_forward", "h-seq-only", _fwd(_LOOP + '''
    return h_seq
'''), says=("tuple", "h_seq, h_T, c_T")),
    Mistake("lstm_forward", "none-states", _fwd('''
    xw = x @ W + b
    h, c = h0, c0
    h_seq = np.empty((N, T, H))
    for t in range(T):
        a = xw[:, t] + h @ U
        i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
        g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        h_seq[:, t] = h
    return h_seq, h, c
'''), says=("None", "zero")),
    Mistake("lstm_forward", "calls-wrong-step", '''
def lstm_forward(x, W, U, b, h0=None, c0=None):
    N, T, D, H = recurrent_shapes(x, W, U, b, 4, lambda H: (4 * H,), (h0, c0))
    h = np.zeros((N, H)) if h0 is None else h0
    c = np.zeros((N, H)) if c0 is None else c0
    h_seq = np.empty((N, T, H))
    for t in range(T):
        h, c = lstm_step(x[:, t], h, c, W, U, b)
        h_seq[:, t] = h
    return h_seq, h, c
''', says=("lstm_step", "fails its own tests", "fix that first"), also={"lstm_step": _STEP_CS231N}),
    Mistake("lstm_forward", "tensorflow", '''
from tensorflow import keras

def lstm_forward(x, W, U, b, h0=None, c0=None):
    layer = keras.layers.LSTM(U.shape[0], return_sequences=True, return_state=True)
    layer.build(x.shape)
    layer.set_weights([W, U, b])
    return tuple(t.numpy() for t in layer(x))
''', says=(_TF,)),
    # seen in a learner's attempts (issue 24): each used to get another cause's message, or the generic mismatch
    Mistake("lstm_forward", "split-batch-axis", _fwd(_LOOP.replace(
        "i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])\n        g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])",
        "i, f, g, o = np.split(a, 4, axis=0)\n        i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)") + '''
    return h_seq, h, c
'''), says=("np.split", "wrong axis", "axis=-1"), origin="learner"),
    Mistake("lstm_forward", "h0-or-zeros", _fwd(_LOOP.replace("np.zeros((N, H)) if h0 is None else h0", "h0 or np.zeros((N, H))")
                                                 .replace("np.zeros((N, H)) if c0 is None else c0", "c0 or np.zeros((N, H))") + '''
    return h_seq, h, c
'''), says=("h0 or np.zeros", "h0 is None"), origin="learner"),
    Mistake("lstm_forward", "skips-last-step", _fwd(_LOOP.replace("range(T)", "range(T - 1)") + '''
    return h_seq, h, c
'''), says=("skipped the last time step", "range(T)"), origin="learner"),
    Mistake("lstm_forward", "skips-first-step", _fwd(_LOOP.replace("range(T)", "range(1, T)") + '''
    return h_seq, h, c
'''), says=("skipped the first time step", "t = 0"), origin="learner"),
    Mistake("lstm_forward", "stores-previous-state", _fwd(_LOOP.replace(
        "        h = o * np.tanh(c)\n        h_seq[:, t] = h\n", "        h_seq[:, t] = h\n        h = o * np.tanh(c)\n") + '''
    return h_seq, h, c
'''), says=("one step late", "after the step's update"), origin="learner"),
]

# ---------------------------------------------------------------------------------------------- lstm_backward

_BWD_HEAD = '''
def lstm_backward(dh_seq, x, W, U, b, h0=None, c0=None):
    N, T, D, H = recurrent_shapes(x, W, U, b, 4, lambda H: (4 * H,), (h0, c0))
    if np.shape(dh_seq) != (N, T, H):
        raise ValueError(f"dh_seq must have h_seq's shape (N, T, H) = {(N, T, H)}, got {np.shape(dh_seq)}")
    xw = x @ W + b
    h = np.zeros((N, H)) if h0 is None else h0
    c = np.zeros((N, H)) if c0 is None else c0
    cache = []
    for t in range(T):
        a = xw[:, t] + h @ U
        i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
        g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        c_new = f * c + i * g
        tc = np.tanh(c_new)
        cache.append((i, f, g, o, c, c_new, tc, h))
        c, h = c_new, o * tc
    dx = np.zeros(x.shape)
    dW, dU, db = np.zeros(W.shape), np.zeros(U.shape), np.zeros(b.shape)
    dh_next, dc_next = np.zeros((N, H)), np.zeros((N, H))
    for t in reversed(range(T)):
        i, f, g, o, c_prev, c_t, tc, h_prev = cache[t]
'''


def _bwd(body: str, tail: str = '''
    return {"x": dx, "W": dW, "U": dU, "b": db, "h0": dh_next, "c0": dc_next}
''') -> str:
    return _BWD_HEAD + body + tail


def _bwd_step(dh="dh_seq[:, t] + dh_next", dc="dc_next + dh * o * (1.0 - tc ** 2)",
              da_i="dc * g * i * (1.0 - i)", da_f="dc * c_prev * f * (1.0 - f)",
              da_g="dc * i * (1.0 - g ** 2)", da_o="do * o * (1.0 - o)", order="da_i, da_f, da_g, da_o",
              dc_next="dc * f", dW="dW += x[:, t].T @ da", dU="dU += h_prev.T @ da",
              db="db += da.sum(axis=0)"):
    return f'''
        dh = {dh}
        do = dh * tc
        dc = {dc}
        da_i, da_f, da_g, da_o = {da_i}, {da_f}, {da_g}, {da_o}
        da = np.concatenate([{order}], axis=1)
        dc_next = {dc_next}
        dx[:, t] = da @ W.T
        {dW}
        {dU}
        {db}
        dh_next = da @ U.T
'''


BACKWARD = [
    Mistake("lstm_backward", "no-cell-path", _bwd(_bwd_step(dc="dh * o * (1.0 - tc ** 2)")),
            says=("dc_next", "cell path")),
    Mistake("lstm_backward", "no-forget-factor", _bwd(_bwd_step(dc_next="dc")),
            says=("dc * f", "forget gate")),
    Mistake("lstm_backward", "df-with-new-cell", _bwd(_bwd_step(da_f="dc * c_t * f * (1.0 - f)")),
            says=("df = dc * c_prev",)),
    Mistake("lstm_backward", "dU-with-new-state", _bwd(_bwd_step(dU="dU += (o * tc).T @ da")),
            says=("dU", "h_{t-1}")),
    Mistake("lstm_backward", "dW-not-accumulated", _bwd(_bwd_step(dW="dW = x[:, t].T @ da")),
            says=("dW", "accumulate")),
    Mistake("lstm_backward", "db-not-summed", _bwd(_bwd_step(db="db = db + da")),
            says=("db", "batch axis")),
    Mistake("lstm_backward", "tanh-slope-for-gates", _bwd(_bwd_step(
        da_i="dc * g * (1.0 - i ** 2)", da_f="dc * c_prev * (1.0 - f ** 2)", da_o="do * (1.0 - o ** 2)")),
            says=("sigma(1 - sigma)",)),
    Mistake("lstm_backward", "cs231n-order", _bwd(_bwd_step(order="da_i, da_f, da_o, da_g")),
            says=("i, f, c, o",)),
    Mistake("lstm_backward", "no-tanh-slope-in-dc", _bwd(_bwd_step(dc="dc_next + dh * o")),
            says=("1 - tanh(c_t)^2",)),
    Mistake("lstm_backward", "tuple-not-dict", _bwd(_bwd_step(), tail='''
    return dx, dW, dU, db, dh_next, dc_next
'''), says=("dict", "x, W, U, b, h0, c0")),
    Mistake("lstm_backward", "in-place-dh-seq", _bwd(_bwd_step(dh="dh_seq[:, t]") + '''
        if t > 0:
            dh_seq[:, t - 1] += dh_next
'''), says=("dh_seq", "in place")),
    Mistake("lstm_backward", "tensorflow", '''
import tensorflow as tf

def lstm_backward(dh_seq, x, W, U, b, h0=None, c0=None):
    layer = tf.keras.layers.LSTM(U.shape[0], return_sequences=True)
    layer.build(x.shape)
    layer.set_weights([W, U, b])
    tx = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tx)
        loss = tf.reduce_sum(layer(tx) * dh_seq)
    gx, gW, gU, gb = tape.gradient(loss, [tx, *layer.trainable_weights])
    return {"x": gx.numpy(), "W": gW.numpy(), "U": gU.numpy(), "b": gb.numpy(), "h0": None, "c0": None}
''', says=(_TF,)),
    # seen in a learner's attempts (2026-12-07): each used to get the cell-path message
    Mistake("lstm_backward", "no-hidden-path", _bwd(_bwd_step(dh="dh_seq[:, t]")), says=("dh_next", "hidden path"),
            origin="learner"),
    Mistake("lstm_backward", "no-output-slope", _bwd(_bwd_step(da_o="do")), says=("output gate", "o(1 - o)"),
            origin="learner"),
    Mistake("lstm_backward", "skips-first-step", _bwd(_bwd_step()).replace("reversed(range(T))", "reversed(range(1, T))"),
            says=("t = 0", "reversed(range(T))"), origin="learner"),
    Mistake("lstm_backward", "double-sigmoid-slope", _bwd(_bwd_step(
        da_i="dc * g * sigmoid(i) * (1.0 - sigmoid(i))", da_f="dc * c_prev * sigmoid(f) * (1.0 - sigmoid(f))",
        da_o="do * sigmoid(o) * (1.0 - sigmoid(o))")), says=("already", "i * (1 - i)"), origin="learner"),
    Mistake("lstm_backward", "tanh-slope-on-c", _bwd(_bwd_step(dc="dc_next + dh * o * (1.0 - c_t ** 2)")),
            says=("tanh(c_t)", "not c_t"), origin="learner"),
    Mistake("lstm_backward", "c0-without-forget", _bwd(_bwd_step(), tail='''
    return {"x": dx, "W": dW, "U": dU, "b": db, "h0": dh_next, "c0": dc}
'''), says=("c0", "forget gate", "dc * f"), origin="learner"),
    Mistake("lstm_backward", "zero-state-gradients-for-None", _bwd(_bwd_step(), tail='''
    zeros = np.zeros((N, H))
    return {"x": dx, "W": dW, "U": dU, "b": db, "h0": zeros if h0 is None else dh_next,
            "c0": zeros if c0 is None else dc_next}
'''), says=("None", "zero states", "not zeros"), origin="learner"),
    # seen in a learner's attempt (issue 24): it used to get the BPTT shape-error message
    Mistake("lstm_backward", "h0-or-zeros", _bwd(_bwd_step()).replace(
        "h = np.zeros((N, H)) if h0 is None else h0\n    c = np.zeros((N, H)) if c0 is None else c0",
        "h = h0 or np.zeros((N, H))\n    c = c0 or np.zeros((N, H))"), says=("h0 or np.zeros", "h0 is None"), origin="learner"),
]

# ---------------------------------------------------------------------------------------------- gru_forward

_GRU_HEAD = '''
def gru_forward(x, W, U, b, h0=None):
    N, T, D, H = recurrent_shapes(x, W, U, b, 3, lambda H: (2, 3 * H), (h0,))
    xw = x @ W + b[0]
    h = np.zeros((N, H)) if h0 is None else h0
    out = np.empty((N, T, H))
    for t in range(T):
'''


def _gru(body: str, head: str = _GRU_HEAD) -> str:
    return head + body + '''
        out[:, t] = h
    return out
'''


_GATES = '''
        hu = h @ U + b[1]
        z = sigmoid(xw[:, t, :H] + hu[:, :H])
        r = sigmoid(xw[:, t, H:2 * H] + hu[:, H:2 * H])
'''

GRU = [
    Mistake("gru_forward", "ignores-h0", _gru(_GATES + '''
        h_cand = np.tanh(xw[:, t, 2 * H:] + r * hu[:, 2 * H:])
        h = z * h + (1.0 - z) * h_cand
''', head=_GRU_HEAD.replace("h = np.zeros((N, H)) if h0 is None else h0", "h = np.zeros((N, H))")),
            says=("h0 ignored",), origin="learner"),
    Mistake("gru_forward", "z-keeps-candidate", _gru(_GATES + '''
        h_cand = np.tanh(xw[:, t, 2 * H:] + r * hu[:, 2 * H:])
        h = (1.0 - z) * h + z * h_cand
'''), says=("z and (1 - z) swapped",)),
    Mistake("gru_forward", "reset-before", _gru(_GATES + '''
        h_cand = np.tanh(xw[:, t, 2 * H:] + (r * h) @ U[:, 2 * H:] + b[1, 2 * H:])
        h = z * h + (1.0 - z) * h_cand
'''), says=("reset_after=False",)),
    Mistake("gru_forward", "pytorch-order", _gru('''
        hu = h @ U + b[1]
        r = sigmoid(xw[:, t, :H] + hu[:, :H])            # PyTorch packs r, z, n
        z = sigmoid(xw[:, t, H:2 * H] + hu[:, H:2 * H])
        h_cand = np.tanh(xw[:, t, 2 * H:] + r * hu[:, 2 * H:])
        h = z * h + (1.0 - z) * h_cand
'''), says=("z, r, h", "PyTorch")),
    Mistake("gru_forward", "no-recurrent-bias", _gru('''
        hu = h @ U
        z = sigmoid(xw[:, t, :H] + hu[:, :H])
        r = sigmoid(xw[:, t, H:2 * H] + hu[:, H:2 * H])
        h_cand = np.tanh(xw[:, t, 2 * H:] + r * hu[:, 2 * H:])
        h = z * h + (1.0 - z) * h_cand
'''), says=("b[1]", "missing")),
    Mistake("gru_forward", "recurrent-bias-outside-reset", _gru('''
        hu = h @ U
        z = sigmoid(xw[:, t, :H] + hu[:, :H] + b[1, :H])
        r = sigmoid(xw[:, t, H:2 * H] + hu[:, H:2 * H] + b[1, H:2 * H])
        h_cand = np.tanh(xw[:, t, 2 * H:] + b[1, 2 * H:] + r * hu[:, 2 * H:])
        h = z * h + (1.0 - z) * h_cand
'''), says=("b_rec_h", "inside")),
    Mistake("gru_forward", "no-reset", _gru(_GATES + '''
        h_cand = np.tanh(xw[:, t, 2 * H:] + hu[:, 2 * H:])
        h = z * h + (1.0 - z) * h_cand
'''), says=("reset gate", "not applied")),
    Mistake("gru_forward", "no-shape-check", _gru(_GATES + '''
        h_cand = np.tanh(xw[:, t, 2 * H:] + r * hu[:, 2 * H:])
        h = z * h + (1.0 - z) * h_cand
''', head='''
def gru_forward(x, W, U, b, h0=None):
    N, T, D = x.shape
    H = U.shape[0]
    xw = x @ W + b[0]
    h = np.zeros((N, H)) if h0 is None else h0
    out = np.empty((N, T, H))
    for t in range(T):
'''), says=("ValueError", "recurrent_shapes", "(2, 3H)")),
    Mistake("gru_forward", "tensorflow", '''
import keras

def gru_forward(x, W, U, b, h0=None):
    layer = keras.layers.GRU(U.shape[0], return_sequences=True)
    layer.build(x.shape)
    layer.set_weights([W, U, b])
    return layer(x).numpy()
''', says=(_TF,)),
    # seen in a learner's attempts (issue 24): each used to get the shape-error message, or the generic mismatch
    Mistake("gru_forward", "split-batch-axis", _gru('''
        hu = h @ U + b[1]
        xz, xr, xh = np.split(xw[:, t], 3, axis=0)
        hz, hr, hh = np.split(hu, 3, axis=0)
        z, r = sigmoid(xz + hz), sigmoid(xr + hr)
        h_cand = np.tanh(xh + r * hh)
        h = z * h + (1.0 - z) * h_cand
'''), says=("np.split", "wrong axis", "axis=-1"), origin="learner"),
    Mistake("gru_forward", "h0-or-zeros", _gru(_GATES + '''
        h_cand = np.tanh(xw[:, t, 2 * H:] + r * hu[:, 2 * H:])
        h = z * h + (1.0 - z) * h_cand
''', head=_GRU_HEAD.replace("np.zeros((N, H)) if h0 is None else h0", "h0 or np.zeros((N, H))")),
            says=("h0 or np.zeros", "h0 is None"), origin="learner"),
    Mistake("gru_forward", "skips-last-step", _gru(_GATES + '''
        h_cand = np.tanh(xw[:, t, 2 * H:] + r * hu[:, 2 * H:])
        h = z * h + (1.0 - z) * h_cand
''', head=_GRU_HEAD.replace("range(T)", "range(T - 1)")), says=("skipped the last time step", "range(T)"), origin="learner"),
    Mistake("gru_forward", "skips-first-step", _gru(_GATES + '''
        h_cand = np.tanh(xw[:, t, 2 * H:] + r * hu[:, 2 * H:])
        h = z * h + (1.0 - z) * h_cand
''', head=_GRU_HEAD.replace("range(T)", "range(1, T)")), says=("skipped the first time step", "t = 0"), origin="learner"),
    Mistake("gru_forward", "stores-previous-state", _GRU_HEAD + _GATES + '''
        h_cand = np.tanh(xw[:, t, 2 * H:] + r * hu[:, 2 * H:])
        out[:, t] = h
        h = z * h + (1.0 - z) * h_cand
    return out
''', says=("one step late", "after the step's update"), origin="learner"),
]

MISTAKES = RNN + STEP + FORWARD + BACKWARD + GRU
