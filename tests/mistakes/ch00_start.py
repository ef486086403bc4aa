"""Chapter 0's wrong answers."""

from mistakes import Mistake

DEPENDS = {}

MISTAKES = [
    # ---------------------------------------------------------------- rel_error
    Mistake("rel_error", "ratio-of-maxima", '''
import numpy as np

def rel_error(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.max(np.abs(a - b)) / max(1e-8, np.max(np.abs(a) + np.abs(b)))
''', says=("elementwise",), origin="learner"),
    Mistake("rel_error", "np-max-as-floor", '''
def rel_error(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.max(1e-8, np.abs(a) + np.abs(b))))
''', says=("np.maximum",), origin="learner"),
    Mistake("rel_error", "max-of-magnitudes", '''
def rel_error(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.maximum(np.abs(a), np.abs(b)))))
''', says=("|a| + |b|",)),
    Mistake("rel_error", "relative-to-b", '''
def rel_error(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(b))))
''', says=("|a| + |b|",)),
    Mistake("rel_error", "abs-of-sum", '''
def rel_error(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a + b))))
''', says=("not |a + b|",)),
    Mistake("rel_error", "no-abs", '''
def rel_error(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max((a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
''', says=("absolute value",)),
    Mistake("rel_error", "mean", '''
def rel_error(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.mean(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
''', says=("take the max",)),
    Mistake("rel_error", "no-floor", '''
def rel_error(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(all="ignore"):
        return float(np.max(np.abs(a - b) / (np.abs(a) + np.abs(b))))
''', says=("floor",)),
    Mistake("rel_error", "floor-1e-6", '''
def rel_error(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1e-6, np.abs(a) + np.abs(b))))
''', says=("exactly 1e-8",)),
    Mistake("rel_error", "no-max", '''
def rel_error(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))
''', says=("one number",)),
    Mistake("rel_error", "tensorflow", '''
def rel_error(a, b):
    a, b = tf.constant(a, dtype=tf.float64), tf.constant(b, dtype=tf.float64)
    return float(tf.reduce_max(tf.abs(a - b) / tf.maximum(1e-8, tf.abs(a) + tf.abs(b))))
''', says=("write it in NumPy",)),

    # ---------------------------------------------------------------- numerical_gradient
    Mistake("numerical_gradient", "forward-difference", '''
def numerical_gradient(f, x, h=1e-5):
    xp = np.array(x, dtype=np.float64, copy=True)
    grad = np.zeros_like(xp)
    f0 = f(xp)
    for i in np.ndindex(xp.shape):
        old = xp[i]
        xp[i] = old + h
        grad[i] = (f(xp) - f0) / h
        xp[i] = old
    return grad
''', says=("centred",)),
    Mistake("numerical_gradient", "divides-by-h", '''
def numerical_gradient(f, x, h=1e-5):
    xp = np.array(x, dtype=np.float64, copy=True)
    grad = np.zeros_like(xp)
    for i in np.ndindex(xp.shape):
        old = xp[i]
        xp[i] = old + h
        fp = f(xp)
        xp[i] = old - h
        fm = f(xp)
        xp[i] = old
        grad[i] = (fp - fm) / h
    return grad
''', says=("2h",)),
    Mistake("numerical_gradient", "not-restored", '''
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        x[i] += h
        fp = f(x)
        x[i] -= 2 * h
        fm = f(x)
        grad[i] = (fp - fm) / (2 * h)
    return grad
''', says=("changed",)),
    Mistake("numerical_gradient", "ignores-h", '''
def numerical_gradient(f, x, h=1e-5):
    xp = np.array(x, dtype=np.float64, copy=True)
    grad = np.zeros_like(xp)
    for i in np.ndindex(xp.shape):
        old = xp[i]
        xp[i] = old + 1e-5
        fp = f(xp)
        xp[i] = old - 1e-5
        fm = f(xp)
        xp[i] = old
        grad[i] = (fp - fm) / (2 * 1e-5)
    return grad
''', says=("ignoring the h",)),
    Mistake("numerical_gradient", "rows-not-elements", '''
def numerical_gradient(f, x, h=1e-5):
    xp = np.array(x, dtype=np.float64, copy=True)
    grad = np.zeros_like(xp)
    for i in range(len(xp)):
        old = xp[i].copy()
        xp[i] = old + h
        fp = f(xp)
        xp[i] = old - h
        fm = f(xp)
        xp[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad
''', says=("np.ndindex",)),
    Mistake("numerical_gradient", "flat-result", '''
def numerical_gradient(f, x, h=1e-5):
    xp = np.array(x, dtype=np.float64, copy=True).reshape(-1)
    grad = np.zeros(xp.size)
    for i in range(xp.size):
        old = xp[i]
        xp[i] = old + h
        fp = f(xp.reshape(np.shape(x)))
        xp[i] = old - h
        fm = f(xp.reshape(np.shape(x)))
        xp[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad
''', says=("x's shape",)),
    Mistake("numerical_gradient", "len-of-0d", '''
def numerical_gradient(f, x, h=1e-5):
    xp = np.array(x, dtype=np.float64, copy=True)
    flat = xp.reshape(len(xp), -1)
    grad = np.zeros_like(flat)
    for r in range(flat.shape[0]):
        for c in range(flat.shape[1]):
            old = flat[r, c]
            flat[r, c] = old + h
            fp = f(xp)
            flat[r, c] = old - h
            fm = f(xp)
            flat[r, c] = old
            grad[r, c] = (fp - fm) / (2 * h)
    return grad.reshape(xp.shape)
''', says=("0-d", "np.ndindex")),
    Mistake("numerical_gradient", "tensorflow-tape", '''
def numerical_gradient(f, x, h=1e-5):
    t = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = f(t)
    return tape.gradient(y, t).numpy()
''', says=("write it in NumPy",)),
]
