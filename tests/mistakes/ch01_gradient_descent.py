"""Chapter 1's wrong answers."""

from mistakes import Mistake

# Every entry below writes its own helpers inline, so no answer depends on another exercise's cell.
DEPENDS = {}


def swap(code: str, *pairs: tuple[str, str]) -> str:
    """``code`` (a right answer) with each ``old`` fragment replaced by ``new``: one realistic slip."""
    for old, new in pairs:
        assert code.count(old) == 1, old
        code = code.replace(old, new)
    return code


# Keras's Adam, as exercise 8 asks for it: the Adam slips below are this cell with one change each
ADAM = '''
def adam_update(w, g, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g * g
    alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    return w - alpha * m / (np.sqrt(v) + epsilon), m, v
'''

MISTAKES = [
    # ---------------------------------------------------------------- dense_forward
    Mistake("dense_forward", "W-at-x", '''
def dense_forward(x, W, b):
    return W @ x + b
''', says=("x @ W", "(N, D) @ (D, M)"), origin="learner"),
    Mistake("dense_forward", "W-at-x-transposed", '''
def dense_forward(x, W, b):
    return (W @ x.T + b).T
''', says=("x @ W",)),
    Mistake("dense_forward", "torch-layout", '''
def dense_forward(x, W, b):
    return x @ W.T + b
''', says=("x @ W", "torch")),
    Mistake("dense_forward", "no-bias", '''
def dense_forward(x, W, b):
    return x @ W
''', says=("bias",)),
    Mistake("dense_forward", "bias-as-column", '''
def dense_forward(x, W, b):
    return x @ W + b[:, None]
''', says=("bias", "every row")),
    Mistake("dense_forward", "elementwise-product", '''
def dense_forward(x, W, b):
    return x * W + b
''', says=("matrix product", "x @ W")),
    Mistake("dense_forward", "float32", '''
def dense_forward(x, W, b):
    return (x.astype(np.float32) @ W.astype(np.float32) + b.astype(np.float32))
''', says=("float32",)),
    Mistake("dense_forward", "tensorflow", '''
def dense_forward(x, W, b):
    return tf.matmul(x, W) + b
''', says=("write it in NumPy",)),

    # ---------------------------------------------------------------- sigmoid
    Mistake("sigmoid", "naive-overflow", '''
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))
''', says=("overflows",)),
    Mistake("sigmoid", "where-of-two-naive-forms", '''
def sigmoid(z):
    return np.where(z >= 0, 1.0 / (1.0 + np.exp(-z)), np.exp(z) / (1.0 + np.exp(z)))
''', says=("overflows", "np.where")),
    Mistake("sigmoid", "sign-flipped", '''
def sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, e / (1.0 + e), 1.0 / (1.0 + e))
''', says=("sign",)),
    Mistake("sigmoid", "clipped", '''
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
''', says=("clip",)),
    Mistake("sigmoid", "in-place", '''
def sigmoid(z):
    np.clip(z, -500.0, 500.0, out=z)
    return 1.0 / (1.0 + np.exp(-z))
''', says=("changed its input",)),
    Mistake("sigmoid", "tensorflow", '''
def sigmoid(z):
    return tf.math.sigmoid(z).numpy()
''', says=("write it in NumPy",)),

    # ---------------------------------------------------------------- relu
    Mistake("relu", "np-max", '''
def relu(z):
    return np.max(z, 0)
''', says=("np.maximum",)),
    Mistake("relu", "python-max", '''
def relu(z):
    return max(z, 0)
''', says=("np.maximum",)),
    Mistake("relu", "in-place", '''
def relu(z):
    z[z < 0] = 0
    return z
''', says=("changed its input",)),
    Mistake("relu", "mask-not-values", '''
def relu(z):
    return (z > 0).astype(float)
''', says=("mask",)),
    Mistake("relu", "tf-nn-relu", '''
def relu(z):
    return tf.nn.relu(z)
''', says=("write it in NumPy",), origin="learner"),
    Mistake("relu", "tf-import", '''
import tensorflow as tf

def relu(z):
    return tf.nn.relu(z).numpy()
''', says=("write it in NumPy",)),

    # ---------------------------------------------------------------- softmax
    Mistake("softmax", "no-shift", '''
def softmax(z, axis=-1):
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)
''', says=("subtract the max",)),
    Mistake("softmax", "no-keepdims", '''
def softmax(z, axis=-1):
    e = np.exp(z - np.max(z, axis=axis))
    return e / np.sum(e, axis=axis)
''', says=("keepdims",)),
    Mistake("softmax", "sum-over-everything", '''
def softmax(z, axis=-1):
    e = np.exp(z - np.max(z))
    return e / np.sum(e)
''', says=("along",)),
    Mistake("softmax", "ignores-axis", '''
def softmax(z, axis=-1):
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)
''', says=("axis",)),
    Mistake("softmax", "in-place", '''
def softmax(z, axis=-1):
    z -= np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)
''', says=("changed its input",)),
    Mistake("softmax", "tensorflow", '''
def softmax(z, axis=-1):
    return tf.nn.softmax(z, axis=axis).numpy()
''', says=("write it in NumPy",)),

    # ---------------------------------------------------------------- mse_loss
    Mistake("mse_loss", "no-factor-2", '''
def mse_loss(y_pred, y):
    diff = y_pred - y
    return float(np.mean(diff ** 2)), diff / diff.size
''', says=("factor 2",)),
    Mistake("mse_loss", "row-sums", '''
def mse_loss(y_pred, y):
    diff = y_pred - y
    N = diff.shape[0]
    return float(np.sum(diff ** 2) / N), 2.0 * diff / N
''', says=("summed",)),
    Mistake("mse_loss", "gradient-over-N", '''
def mse_loss(y_pred, y):
    diff = y_pred - y
    return float(np.mean(diff ** 2)), 2.0 * diff / diff.shape[0]
''', says=("number of elements",)),
    Mistake("mse_loss", "gradient-sign", '''
def mse_loss(y_pred, y):
    diff = y - y_pred
    return float(np.mean(diff ** 2)), 2.0 * diff / diff.size
''', says=("sign",)),
    Mistake("mse_loss", "swapped-returns", '''
def mse_loss(y_pred, y):
    diff = y_pred - y
    return 2.0 * diff / diff.size, float(np.mean(diff ** 2))
''', says=("(loss, d_y_pred)",)),
    Mistake("mse_loss", "tensorflow", '''
def mse_loss(y_pred, y):
    t = tf.Variable(y_pred)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((t - y) ** 2)
    return float(loss), tape.gradient(loss, t).numpy()
''', says=("write it in NumPy",)),

    # ---------------------------------------------------------------- softmax_cross_entropy
    Mistake("softmax_cross_entropy", "double-softmax", '''
def softmax_cross_entropy(logits, labels):
    # the source articles apply softmax in the forward pass, then a loss "with logits" on top
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    N = logits.shape[0]
    shifted = probs - probs.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -np.mean(log_probs[np.arange(N), labels])
    d = np.exp(log_probs)
    d[np.arange(N), labels] -= 1.0
    return float(loss), d / N
''', says=("softmax twice", "source articles' formula"), origin="articles"),
    Mistake("softmax_cross_entropy", "integer-labels-as-one-hot", '''
def softmax_cross_entropy(logits, labels):
    # categorical cross-entropy -sum(y * log p) with the integer labels, as the source articles' code does
    N = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -np.mean(np.sum(labels[:, None] * log_probs, axis=1))
    d = (np.exp(log_probs) - labels[:, None]) / N
    return float(loss), d
''', says=("one-hot", "source articles' formula"), origin="articles"),
    Mistake("softmax_cross_entropy", "log-of-softmax", '''
def softmax_cross_entropy(logits, labels):
    N = logits.shape[0]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(N), labels]))
    d = p.copy()
    d[np.arange(N), labels] -= 1.0
    return float(loss), d / N
''', says=("log-sum-exp",)),
    Mistake("softmax_cross_entropy", "sum-over-batch", '''
def softmax_cross_entropy(logits, labels):
    N = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    d = np.exp(log_probs)
    d[np.arange(N), labels] -= 1.0
    return float(-np.sum(log_probs[np.arange(N), labels])), d
''', says=("N times",)),
    Mistake("softmax_cross_entropy", "columns-not-rows", '''
def softmax_cross_entropy(logits, labels):
    N = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    d = np.exp(log_probs)
    d[:, labels] -= 1.0
    return float(-np.mean(log_probs[:, labels])), d / N
''', says=("np.arange(N)",)),
    Mistake("softmax_cross_entropy", "gradient-not-over-N", '''
def softmax_cross_entropy(logits, labels):
    N = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    d = np.exp(log_probs)
    d[np.arange(N), labels] -= 1.0
    return float(-np.mean(log_probs[np.arange(N), labels])), d
''', says=("divide", "by N")),
    Mistake("softmax_cross_entropy", "gradient-without-onehot", '''
def softmax_cross_entropy(logits, labels):
    N = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean(log_probs[np.arange(N), labels])), np.exp(log_probs) / N
''', says=("subtract 1",)),
    Mistake("softmax_cross_entropy", "in-place", '''
def softmax_cross_entropy(logits, labels):
    N = logits.shape[0]
    logits -= logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    d = np.exp(log_probs)
    d[np.arange(N), labels] -= 1.0
    return float(-np.mean(log_probs[np.arange(N), labels])), d / N
''', says=("changed its input",)),
    Mistake("softmax_cross_entropy", "keras-loss", '''
def softmax_cross_entropy(logits, labels):
    t = tf.Variable(logits)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        loss = loss_fn(labels, t)
    return float(loss), tape.gradient(loss, t).numpy()
''', says=("write it in NumPy",)),

    # ---------------------------------------------------------------- sgd_momentum_update
    Mistake("sgd_momentum_update", "plain-gradient-descent", '''
def sgd_momentum_update(w, g, velocity, lr, momentum):
    return w - lr * g, velocity
''', says=("plain gradient descent",), origin="learner"),
    Mistake("sgd_momentum_update", "old-velocity", '''
def sgd_momentum_update(w, g, velocity, lr, momentum):
    w_new = w + velocity
    return w_new, momentum * velocity - lr * g
''', says=("old velocity",)),
    Mistake("sgd_momentum_update", "pytorch-form", '''
def sgd_momentum_update(w, g, velocity, lr, momentum):
    velocity = momentum * velocity + g
    return w - lr * velocity, velocity
''', says=("PyTorch",)),
    Mistake("sgd_momentum_update", "sign", '''
def sgd_momentum_update(w, g, velocity, lr, momentum):
    velocity = momentum * velocity + lr * g
    return w + velocity, velocity
''', says=("sign",)),
    Mistake("sgd_momentum_update", "dampened", '''
def sgd_momentum_update(w, g, velocity, lr, momentum):
    velocity = momentum * velocity - (1 - momentum) * lr * g
    return w + velocity, velocity
''', says=("1 - momentum",)),
    Mistake("sgd_momentum_update", "nesterov", '''
def sgd_momentum_update(w, g, velocity, lr, momentum):
    velocity = momentum * velocity - lr * g
    return w + momentum * velocity - lr * g, velocity
''', says=("Nesterov",)),
    Mistake("sgd_momentum_update", "in-place", '''
def sgd_momentum_update(w, g, velocity, lr, momentum):
    velocity *= momentum
    velocity -= lr * g
    w += velocity
    return w, velocity
''', says=("in place",)),

    # ---------------------------------------------------------------- adam_update
    Mistake("adam_update", "textbook", swap(ADAM, ('alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)\n    return w - alpha * m / (np.sqrt(v) + epsilon), m, v', 'm_hat, v_hat = m / (1 - beta_1 ** t), v / (1 - beta_2 ** t)\n    return w - lr * m_hat / (np.sqrt(v_hat) + epsilon), m, v')), says=("textbook",)),
    Mistake("adam_update", "epsilon-inside-sqrt", swap(ADAM, ('return w - alpha * m / (np.sqrt(v) + epsilon), m, v', 'return w - alpha * m / np.sqrt(v + epsilon), m, v')), says=("outside the square root",)),
    Mistake("adam_update", "v-of-g-not-squared", swap(ADAM, ('v = beta_2 * v + (1 - beta_2) * g * g', 'v = beta_2 * v + (1 - beta_2) * np.abs(g)')), says=("square of the gradient",)),
    Mistake("adam_update", "betas-swapped", swap(ADAM, ('m = beta_1 * m + (1 - beta_1) * g\n    v = beta_2 * v + (1 - beta_2) * g * g', 'm = beta_2 * m + (1 - beta_2) * g\n    v = beta_1 * v + (1 - beta_1) * g * g')), says=("beta_1",)),
    Mistake("adam_update", "step-off-by-one", swap(ADAM, ('alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)', 'alpha = lr * np.sqrt(1 - beta_2 ** (t + 1)) / (1 - beta_1 ** (t + 1))')), says=("t starts at 1",)),
    Mistake("adam_update", "pytorch-epsilon", swap(ADAM, ('def adam_update(w, g, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):', 'def adam_update(w, g, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8):')), says=("1e-7",)),
    Mistake("adam_update", "in-place", swap(ADAM, ('m = beta_1 * m + (1 - beta_1) * g\n    v = beta_2 * v + (1 - beta_2) * g * g', 'm *= beta_1\n    m += (1 - beta_1) * g\n    v *= beta_2\n    v += (1 - beta_2) * g * g')), says=("in place",)),

    # ---------------------------------------------------------------- mlp_forward
    Mistake("mlp_forward", "relu-on-logits", '''
def mlp_forward(x, params):
    h = np.maximum(x @ params["W1"] + params["b1"], 0.0)
    return np.maximum(h @ params["W2"] + params["b2"], 0.0)
''', says=("after the last",)),
    Mistake("mlp_forward", "no-relu", '''
def mlp_forward(x, params):
    h = x @ params["W1"] + params["b1"]
    return h @ params["W2"] + params["b2"]
''', says=("no ReLU",)),
    Mistake("mlp_forward", "no-b2", '''
def mlp_forward(x, params):
    h = np.maximum(x @ params["W1"] + params["b1"], 0.0)
    return h @ params["W2"]
''', says=("b2",)),
    Mistake("mlp_forward", "softmax-output", '''
def mlp_forward(x, params):
    # the source articles end the forward pass with a softmax
    h = np.maximum(x @ params["W1"] + params["b1"], 0.0)
    z = h @ params["W2"] + params["b2"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
''', says=("logits", "source articles' formula"), origin="articles"),
    Mistake("mlp_forward", "tf-nn-relu-in-numpy", '''
def mlp_forward(x, params):
    # as the source articles' NeuralNetwork.forward: np.dot, then tf.nn.relu
    hidden = np.dot(x, params["W1"]) + params["b1"]
    hidden = tf.nn.relu(hidden)
    return np.dot(hidden, params["W2"]) + params["b2"]
''', says=("write it in NumPy", "source articles"), origin="articles"),
    Mistake("mlp_forward", "W1-transposed", '''
def mlp_forward(x, params):
    h = np.maximum(x @ params["W1"].T + params["b1"], 0.0)
    return h @ params["W2"] + params["b2"]
''', says=("x @ W1",)),

    # ---------------------------------------------------------------- mlp_backward
    Mistake("mlp_backward", "no-relu-mask", '''
def mlp_backward(dout, x, params):
    a = x @ params["W1"] + params["b1"]
    h = np.maximum(a, 0.0)
    da = dout @ params["W2"].T
    return {"W2": h.T @ dout, "b2": dout.sum(axis=0), "W1": x.T @ da, "b1": da.sum(axis=0), "x": da @ params["W1"].T}
''', says=("mask",)),
    Mistake("mlp_backward", "relu-of-gradient", '''
def mlp_backward(dout, x, params):
    a = x @ params["W1"] + params["b1"]
    h = np.maximum(a, 0.0)
    da = np.maximum(dout @ params["W2"].T, 0.0)
    return {"W2": h.T @ dout, "b2": dout.sum(axis=0), "W1": x.T @ da, "b1": da.sum(axis=0), "x": da @ params["W1"].T}
''', says=("mask",)),
    Mistake("mlp_backward", "dW2-before-relu", '''
def mlp_backward(dout, x, params):
    a = x @ params["W1"] + params["b1"]
    da = (dout @ params["W2"].T) * (a > 0)
    return {"W2": a.T @ dout, "b2": dout.sum(axis=0), "W1": x.T @ da, "b1": da.sum(axis=0), "x": da @ params["W1"].T}
''', says=("after the ReLU",)),
    Mistake("mlp_backward", "bias-summed-over-classes", '''
def mlp_backward(dout, x, params):
    a = x @ params["W1"] + params["b1"]
    h = np.maximum(a, 0.0)
    da = (dout @ params["W2"].T) * (a > 0)
    return {"W2": h.T @ dout, "b2": dout.sum(axis=1), "W1": x.T @ da, "b1": da.sum(axis=1), "x": da @ params["W1"].T}
''', says=("axis 0",)),
    Mistake("mlp_backward", "dW1-transposed", '''
def mlp_backward(dout, x, params):
    a = x @ params["W1"] + params["b1"]
    h = np.maximum(a, 0.0)
    da = (dout @ params["W2"].T) * (a > 0)
    return {"W2": h.T @ dout, "b2": dout.sum(axis=0), "W1": da.T @ x, "b1": da.sum(axis=0), "x": da @ params["W1"].T}
''', says=("x.T @ da",)),
    Mistake("mlp_backward", "dx-without-transpose", '''
def mlp_backward(dout, x, params):
    a = x @ params["W1"] + params["b1"]
    h = np.maximum(a, 0.0)
    da = (dout @ params["W2"].T) * (a > 0)
    return {"W2": h.T @ dout, "b2": dout.sum(axis=0), "W1": x.T @ da, "b1": da.sum(axis=0), "x": da @ params["W1"]}
''', says=("W1.T",)),
    Mistake("mlp_backward", "tuple-not-dict", '''
def mlp_backward(dout, x, params):
    a = x @ params["W1"] + params["b1"]
    h = np.maximum(a, 0.0)
    da = (dout @ params["W2"].T) * (a > 0)
    return da @ params["W1"].T, x.T @ da, da.sum(axis=0), h.T @ dout, dout.sum(axis=0)
''', says=("dict",)),
    # ---------------------------------------------------------------- issue 24, second pass (learner's slips)
    Mistake('sigmoid', 'tanh-of-z', '''
def sigmoid(z):
    return 0.5 * (1 + np.tanh(z))
''', says=('tanh takes z / 2',), origin="learner"),
    Mistake('sigmoid', 'tanh-without-half', '''
def sigmoid(z):
    return 0.5 + np.tanh(z / 2)
''', says=('factor 1/2 in front of tanh',), origin="learner"),
    Mistake('sigmoid', 'float32', '''
def sigmoid(z):
    z = np.asarray(z, dtype=np.float32)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))
''', says=('float32', 'keep float64'), origin="learner"),
    Mistake('relu', 'mask-product-as-int', '''
def relu(z):
    return (z * (z > 0)).astype(int)
''', says=('int64', 'float values'), origin="learner"),
    Mistake('relu', 'where-float32', '''
def relu(z):
    return np.where(z > 0, z, 0).astype(np.float32)
''', says=('float32', 'float values'), origin="learner"),
    Mistake('softmax', 'always-axis-0', '''
def softmax(z, axis=-1):
    e = np.exp(z - np.max(z, axis=0, keepdims=True))
    return e / np.sum(e, axis=0, keepdims=True)
''', says=('axis 0', 'whatever the axis argument'), origin="learner"),
    Mistake('softmax', 'max-and-sum-on-different-axes', '''
def softmax(z, axis=-1):
    e = np.exp(z - np.max(z, axis=0, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)
''', says=('same axis as the sum',), origin="learner"),
    Mistake('mse_loss', 'sum-not-mean', '''
def mse_loss(y_pred, y):
    d = y_pred - y
    return float(np.sum(d**2)), 2 * d
''', says=('SUM of the squared errors',), origin="learner"),
    Mistake('mse_loss', 'half-mse', '''
def mse_loss(y_pred, y):
    d = y_pred - y
    return float(0.5 * np.mean(d**2)), d / d.size
''', says=('factor 1/2',), origin="learner"),
    Mistake('mse_loss', 'gradient-over-M', '''
def mse_loss(y_pred, y):
    d = y_pred - y
    return float(np.mean(d**2)), 2 * d / d.shape[1]
''', says=('divided by M only',), origin="learner"),
    Mistake('mse_loss', 'rmse', '''
def mse_loss(y_pred, y):
    d = y_pred - y
    return float(np.sqrt(np.mean(d**2))), 2 * d / d.size
''', says=('RMSE', 'no square root'), origin="learner"),
    Mistake('softmax_cross_entropy', 'one-hot-from-labels-max', '''
def softmax_cross_entropy(logits, labels):
    N = logits.shape[0]
    onehot = np.eye(labels.max() + 1)[labels]
    s = logits - logits.max(axis=1, keepdims=True)
    lp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    return float(-np.mean(np.sum(onehot * lp, axis=1))), (np.exp(lp) - onehot) / N
''', says=('logits.shape[1]', 'labels.max() + 1'), origin="learner"),
    Mistake('softmax_cross_entropy', 'mean-over-classes-too', '''
def softmax_cross_entropy(logits, labels):
    N, C = logits.shape
    s = logits - logits.max(axis=1, keepdims=True)
    lp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    onehot = np.eye(C)[labels]
    d = np.exp(lp) - onehot
    return float(-np.mean(onehot * lp)), d / N
''', says=('C times too small', 'sum over the classes'), origin="learner"),
    Mistake('softmax_cross_entropy', 'gradient-sign', '''
def softmax_cross_entropy(logits, labels):
    N, C = logits.shape
    s = logits - logits.max(axis=1, keepdims=True)
    lp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    onehot = np.eye(C)[labels]
    return float(-np.mean(lp[np.arange(N), labels])), (onehot - np.exp(lp)) / N
''', says=('wrong sign',), origin="learner"),
    Mistake('softmax_cross_entropy', 'log-sum-exp-over-axis-0', '''
def softmax_cross_entropy(logits, labels):
    N, C = logits.shape
    s = logits - logits.max(axis=0, keepdims=True)
    lp = s - np.log(np.exp(s).sum(axis=0, keepdims=True))
    d = np.exp(lp); d[np.arange(N), labels] -= 1
    return float(-np.mean(lp[np.arange(N), labels])), d / N
''', says=('axis 0', 'axis=1'), origin="learner"),
    Mistake('sgd_momentum_update', 'lr-twice', '''
def sgd_momentum_update(w, g, velocity, lr, momentum):
    velocity = momentum * velocity - lr * g
    return w + lr * velocity, velocity
''', says=('lr*v', 'already includes the learning rate'), origin="learner"),
    Mistake('adam_update', 'no-bias-correction', swap(ADAM, ('alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)\n    return w - alpha * m / (np.sqrt(v) + epsilon), m, v', 'return w - lr * m / (np.sqrt(v) + epsilon), m, v')), says=('bias correction is missing',), origin="learner"),
    Mistake('adam_update', 'no-sqrt-of-v', swap(ADAM, ('return w - alpha * m / (np.sqrt(v) + epsilon), m, v', 'return w - alpha * m / (v + epsilon), m, v')), says=('square root of v is missing',), origin="learner"),
    Mistake('adam_update', 'step-with-g', swap(ADAM, ('return w - alpha * m / (np.sqrt(v) + epsilon), m, v', 'return w - alpha * g / (np.sqrt(v) + epsilon), m, v')), says=('raw gradient g', 'first moment'), origin="learner"),
    Mistake('adam_update', 'bias-correction-betas-swapped', swap(ADAM, ('alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)', 'alpha = lr * np.sqrt(1 - beta_1 ** t) / (1 - beta_2 ** t)')), says=('swapped in the bias correction',), origin="learner"),
    Mistake('mlp_forward', 'sigmoid-hidden', '''
def mlp_forward(x, params):
    h = 1 / (1 + np.exp(-(x @ params["W1"] + params["b1"])))
    return h @ params["W2"] + params["b2"]
''', says=('sigmoid', 'ReLU'), origin="learner"),
    Mistake('mlp_forward', 'b1-after-relu', '''
def mlp_forward(x, params):
    h = np.maximum(x @ params["W1"], 0) + params["b1"]
    return h @ params["W2"] + params["b2"]
''', says=('b1 is added after the ReLU',), origin="learner"),
    Mistake('mlp_backward', 'mask-h-ge-0', '''
def mlp_backward(dout, x, params):
    a = x @ params["W1"] + params["b1"]
    h = np.maximum(a, 0.0)
    dh = dout @ params["W2"].T
    da = dh * (h >= 0)
    return {"W2": h.T @ dout, "b2": dout.sum(axis=0), "W1": x.T @ da, "b1": da.sum(axis=0), "x": da @ params["W1"].T}
''', says=('no ReLU mask', 'h >= 0'), origin="learner"),
    Mistake('mlp_backward', 'times-h-not-mask', '''
def mlp_backward(dout, x, params):
    a = x @ params["W1"] + params["b1"]
    h = np.maximum(a, 0.0)
    dh = dout @ params["W2"].T
    da = dh * h
    return {"W2": h.T @ dout, "b2": dout.sum(axis=0), "W1": x.T @ da, "b1": da.sum(axis=0), "x": da @ params["W1"].T}
''', says=('multiplied by h', 'mask'), origin="learner"),
    Mistake('mlp_backward', 'divided-by-N', '''
def mlp_backward(dout, x, params):
    a = x @ params["W1"] + params["b1"]
    h = np.maximum(a, 0.0)
    dh = dout @ params["W2"].T
    da = dh * (a > 0) / len(x)
    return {"W2": h.T @ dout / len(x), "b2": dout.sum(axis=0), "W1": x.T @ da, "b1": da.sum(axis=0), "x": da @ params["W1"].T}
''', says=('divided by the batch size N',), origin="learner"),
    # a shortcut, not a slip: the chapter's own saved solution (dlcourse.given), hidden from its graded answers
    Mistake("sigmoid", "imports-the-saved-solution", "from dlcourse.given.ch01_gradient_descent import sigmoid\n",
            says=("solutions of the chapter being graded",)),
]
