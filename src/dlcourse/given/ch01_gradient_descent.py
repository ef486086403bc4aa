"""ch01_gradient_descent's saved code (``#@save``), generated from solutions/ch01_gradient_descent/ch01_gradient_descent.ipynb by
`make notebooks`. Do not edit: edit the notebook and regenerate."""

import numpy as np


def sigmoid(z):
    '''Logistic function 1 / (1 + exp(-z)), elementwise, without overflow.

    z: array of any shape. Returns an array of z's shape, values in [0, 1].
    '''
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(z, axis=-1):
    '''Numerically stable softmax along `axis`.

    z: array of any shape. Returns an array of z's shape whose entries along `axis`
    are positive and sum to 1.
    '''
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)
