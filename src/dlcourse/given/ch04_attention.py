"""ch04_attention's saved code (``#@save``), generated from solutions/ch04_attention/ch04_attention.ipynb by
`make notebooks`. Do not edit: edit the notebook and regenerate."""

import numpy as np


def scaled_dot_product_attention(q, k, v, mask=None):
    '''softmax(q k^T / sqrt(d)) v, stable for large scores.

    q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv); mask: bool, broadcastable to (..., Tq, Tk),
    True = may attend. Returns (out (..., Tq, dv), weights (..., Tq, Tk)).
    A query row with no allowed key gets all-zero weights (as in Keras).
    '''
    q, k, v = (np.asarray(a) for a in (q, k, v))
    dtype = np.result_type(q, k, v, np.float32)  # float32 in, float32 out (as in Keras); float64 and ints: float64
    q, k, v = (a.astype(dtype, copy=False) for a in (q, k, v))
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"expected q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv); got {q.shape}, {k.shape}, {v.shape}")
    d = q.shape[-1]
    s = q @ np.swapaxes(k, -1, -2) / d ** 0.5  # a Python float keeps float32 inputs in float32
    if mask is not None:
        s = np.where(np.asarray(mask, dtype=bool), s, -np.inf)
    m = np.max(s, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)  # a fully masked row: keep exp(-inf) = 0, no nan
    e = np.exp(s - m)
    total = e.sum(axis=-1, keepdims=True)
    weights = e / np.where(total == 0, 1.0, total)
    return weights @ v, weights


def causal_mask(T):
    '''Boolean (T, T) mask, True on and below the diagonal (query i may attend to keys j <= i).'''
    if int(T) != T or T < 1:
        raise ValueError(f"T must be a positive integer, got {T!r}")
    return np.tril(np.ones((int(T), int(T)), dtype=bool))


def multi_head_attention(query, value, params, num_heads, key=None, mask=None):
    '''Keras MultiHeadAttention forward with Keras's weight layout.

    query (B, Tq, E), value (B, Tk, E_kv), key (B, Tk, E_kv) (defaults to value);
    params: Wq (E, heads, key_dim), bq (heads, key_dim), Wk (E_kv, heads, key_dim), bk,
            Wv (E_kv, heads, value_dim), bv (heads, value_dim), Wo (heads, value_dim, E), bo (E,).
    mask: bool, (Tq, Tk) or (B, Tq, Tk), True = may attend.
    Returns (out (B, Tq, E), weights (B, heads, Tq, Tk)).
    '''
    missing = [n for n in ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo") if n not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; expected keys Wq bq Wk bk Wv bv Wo bo")
    if np.ndim(params["Wq"]) != 3 or np.shape(params["Wq"])[1] != num_heads:
        raise ValueError(f"Wq must be (E, heads={num_heads}, key_dim), got {np.shape(params['Wq'])}")
    key = value if key is None else key
    def project(x, W, b):
        return np.einsum("bte,ehd->bhtd", x, W, optimize=True) + b[None, :, None, :]
    q = project(query, params["Wq"], params["bq"])
    k = project(key, params["Wk"], params["bk"])
    v = project(value, params["Wv"], params["bv"])
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)[..., None, :, :]  # (1 or B, 1, Tq, Tk): the same mask for every head
    o, weights = scaled_dot_product_attention(q, k, v, mask)
    out = np.einsum("bhtd,hde->bte", o, params["Wo"], optimize=True) + params["bo"]
    return out, weights


def layer_norm(x, gamma, beta, eps=1e-3):
    '''Layer normalisation over the last axis (Keras LayerNormalization, epsilon 1e-3 by default).

    x (..., E), gamma (E,), beta (E,). Returns (..., E).
    '''
    if np.shape(gamma) != np.shape(x)[-1:] or np.shape(beta) != np.shape(x)[-1:]:
        raise ValueError(f"gamma and beta must be (E,) = {np.shape(x)[-1:]}, got {np.shape(gamma)} and {np.shape(beta)}")
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def attention_backward(dout, q, k, v, mask=None):
    '''Gradients of sum(out * dout) for out = softmax(q k^T / sqrt(d), masked) v.

    dout (..., Tq, dv), q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv), mask as in scaled_dot_product_attention.
    Returns (dq, dk, dv) shaped like q, k, v.
    '''
    d = q.shape[-1]
    _, A = scaled_dot_product_attention(q, k, v, mask)
    T = lambda a: np.swapaxes(a, -1, -2)
    dv = T(A) @ dout
    dA = dout @ T(v)
    dS = A * (dA - np.sum(dA * A, axis=-1, keepdims=True))
    dq = dS @ k / d ** 0.5
    dk = T(dS) @ q / d ** 0.5
    return dq, dk, dv
