"""Chapter 4's wrong answers: attention, masks, multi-head attention, positional encoding, layer norm, the
backward pass through attention, the post-LN encoder block.

Each answer cell is written as a learner would, from the stub (its docstring and input checks kept where the
stub has them). ``origin="articles"`` entries type the source articles' formula or description.
"""

from mistakes import Mistake

DEPENDS = {
    "multi_head_attention": {"scaled_dot_product_attention"},
    "attention_backward": {"scaled_dot_product_attention"},
    "encoder_block": {"multi_head_attention", "layer_norm"},
}

# --- building blocks for the answer cells -------------------------------------------------------------------

_SDPA_HEAD = '''
def scaled_dot_product_attention(q, k, v, mask=None):
    q, k, v = (np.asarray(a) for a in (q, k, v))
    dtype = np.result_type(q, k, v, np.float32)
    q, k, v = (a.astype(dtype, copy=False) for a in (q, k, v))
'''


def _sdpa(scores="q @ np.swapaxes(k, -1, -2) / d ** 0.5",
          masking="s = np.where(np.asarray(mask, dtype=bool), s, -np.inf)",
          softmax='''m = np.max(s, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(s - m)
    total = e.sum(axis=-1, keepdims=True)
    weights = e / np.where(total == 0, 1.0, total)''',
          ret="return weights @ v, weights"):
    return _SDPA_HEAD + f'''    d = q.shape[-1]
    s = {scores}
    if mask is not None:
        {masking}
    {softmax}
    {ret}
'''


SDPA_RIGHT = _sdpa()

_MHA_HEAD = '''
def multi_head_attention(query, value, params, num_heads, key=None, mask=None):
    key = value if key is None else key
'''


def _mha(project='''np.einsum("bte,ehd->bhtd", x, W) + b[None, :, None, :]''',
         qkv='''q = project(query, params["Wq"], params["bq"])
    k = project(key, params["Wk"], params["bk"])
    v = project(value, params["Wv"], params["bv"])''',
         masking="mask = None if mask is None else np.asarray(mask, dtype=bool)[..., None, :, :]",
         attend="o, weights = scaled_dot_product_attention(q, k, v, mask)",
         out='''out = np.einsum("bhtd,hde->bte", o, params["Wo"]) + params["bo"]'''):
    return _MHA_HEAD + f'''    def project(x, W, b):
        return {project}
    {qkv}
    {masking}
    {attend}
    {out}
    return out, weights
'''


MHA_RIGHT = _mha()

LN_RIGHT = '''
def layer_norm(x, gamma, beta, eps=1e-3):
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta
'''


def _block(body):
    return '''
def encoder_block(x, params, num_heads, mask=None):
    p = params
''' + body


_BLOCK_RIGHT_BODY = '''    a, _ = multi_head_attention(x, x, p, num_heads, mask=mask)
    h = layer_norm(x + a, p["gamma1"], p["beta1"])
    f = np.maximum(0.0, h @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    return layer_norm(h + f, p["gamma2"], p["beta2"])
'''
BLOCK_RIGHT = _block(_BLOCK_RIGHT_BODY)


def _backward(body):
    return '''
def attention_backward(dout, q, k, v, mask=None):
    d = q.shape[-1]
''' + body


BACKWARD_RIGHT = _backward('''    _, A = scaled_dot_product_attention(q, k, v, mask)
    T = lambda a: np.swapaxes(a, -1, -2)
    dv = T(A) @ dout
    dA = dout @ T(v)
    dS = A * (dA - np.sum(dA * A, axis=-1, keepdims=True))
    return dS @ k / d ** 0.5, T(dS) @ q / d ** 0.5, dv
''')

_NO_SCALE_SDPA = _sdpa(scores="q @ np.swapaxes(k, -1, -2)")
_LN_EPS5 = LN_RIGHT.replace("eps=1e-3", "eps=1e-5")

# --- the catalogue ------------------------------------------------------------------------------------------

MISTAKES = [
    # Exercise 1: scaled dot-product attention
    Mistake("scaled_dot_product_attention", "no-scale", _NO_SCALE_SDPA, says=("sqrt(d)", "not divided")),
    Mistake("scaled_dot_product_attention", "softmax-over-queries",
            _sdpa(softmax='''e = np.exp(s - np.max(s, axis=-2, keepdims=True))
    weights = e / e.sum(axis=-2, keepdims=True)'''), says=("last axis", "keys")),
    Mistake("scaled_dot_product_attention", "ignores-the-mask", _sdpa(masking="pass"),
            says=("ignores the mask",), origin="articles"),
    Mistake("scaled_dot_product_attention", "inverted-mask",
            _sdpa(masking="s = np.where(np.asarray(mask, dtype=bool), -np.inf, s)"), says=("inverted", "may attend")),
    Mistake("scaled_dot_product_attention", "additive-minus-1e9",
            _sdpa(masking="s = s + np.where(mask, 0.0, -1e9)"), says=("no allowed key",), origin="learner"),
    Mistake("scaled_dot_product_attention", "naive-softmax",
            _sdpa(softmax='''e = np.exp(s)
    weights = e / e.sum(axis=-1, keepdims=True)'''), says=("overflow", "row's maximum")),
    Mistake("scaled_dot_product_attention", "k-dot-T", _sdpa(scores="q @ k.T / d ** 0.5"),
            says=("k.T", "swapaxes")),
    Mistake("scaled_dot_product_attention", "np-sqrt-float64", _sdpa(scores="q @ np.swapaxes(k, -1, -2) / np.sqrt(d)"),
            says=("float32", "np.sqrt")),
    Mistake("scaled_dot_product_attention", "tensorflow", '''
import tensorflow as tf

def scaled_dot_product_attention(q, k, v, mask=None):
    s = tf.matmul(q, k, transpose_b=True) / np.sqrt(q.shape[-1])
    if mask is not None:
        s = tf.where(mask, s, -np.inf)
    w = tf.nn.softmax(s, axis=-1)
    return (w @ v).numpy(), w.numpy()
''', says=("write it in NumPy",)),

    # Exercise 2: the causal mask
    Mistake("causal_mask", "triu", '''
def causal_mask(T):
    return np.triu(np.ones((T, T), dtype=bool))
''', says=("below the diagonal", "np.tril")),
    Mistake("causal_mask", "pytorch-convention", '''
def causal_mask(T):
    return np.triu(np.ones((T, T), dtype=bool), k=1)  # torch: True = masked out
''', says=("PyTorch", "True = may attend"), origin="learner"),
    Mistake("causal_mask", "float-ones", '''
def causal_mask(T):
    return np.tril(np.ones((T, T)))
''', says=("boolean",)),
    Mistake("causal_mask", "additive-float-mask", '''
def causal_mask(T):
    return np.where(np.tril(np.ones((T, T), dtype=bool)), 0.0, -np.inf)
''', says=("boolean", "additive")),
    Mistake("causal_mask", "strictly-lower", '''
def causal_mask(T):
    return np.tril(np.ones((T, T), dtype=bool), k=-1)
''', says=("itself", "diagonal")),
    Mistake("causal_mask", "nested-list", '''
def causal_mask(T):
    return [[j <= i for j in range(T)] for i in range(T)]
''', says=("boolean array", "list")),

    # Exercise 3: multi-head attention
    Mistake("multi_head_attention", "key-dim-heads-reshape", _mha(
        project='''(x @ W.reshape(W.shape[0], -1) + b.reshape(-1)).reshape(x.shape[0], x.shape[1], W.shape[2], W.shape[1]).transpose(0, 3, 1, 2)'''),
        says=("(heads, key_dim)",)),
    Mistake("multi_head_attention", "no-projection-biases", _mha(project='''np.einsum("bte,ehd->bhtd", x, W)'''),
            says=("bq", "bk", "bv")),
    Mistake("multi_head_attention", "ignores-key", _mha(
        qkv='''q = project(query, params["Wq"], params["bq"])
    k = project(value, params["Wk"], params["bk"])
    v = project(value, params["Wv"], params["bv"])'''), says=("`key`",)),
    Mistake("multi_head_attention", "mask-heads-axis-second", _mha(
        masking="mask = None if mask is None else np.asarray(mask, dtype=bool)[:, None]"),
            says=("third from the end",), origin="learner"),
    Mistake("multi_head_attention", "mask-not-passed", _mha(attend="o, weights = scaled_dot_product_attention(q, k, v)"),
            says=("ignores the mask",)),
    Mistake("multi_head_attention", "value-dim-is-key-dim", _mha(
        project='''(x @ W.reshape(W.shape[0], -1) + b.reshape(-1)).reshape(x.shape[0], x.shape[1], num_heads, params["Wq"].shape[2]).transpose(0, 2, 1, 3)'''),
            says=("value_dim",)),
    Mistake("multi_head_attention", "tensorflow", '''
def multi_head_attention(query, value, params, num_heads, key=None, mask=None):
    import keras
    layer = keras.layers.MultiHeadAttention(num_heads, params["Wq"].shape[2], dtype="float64")
    out, w = layer(query, value, key=key, attention_mask=mask, return_attention_scores=True)
    return out.numpy(), w.numpy()
''', says=("write it in NumPy",)),
    Mistake("multi_head_attention", "calls-a-wrong-attention", MHA_RIGHT, also={"scaled_dot_product_attention": _NO_SCALE_SDPA},
            says=("fails its own tests", "fix that first")),

    # Exercise 4: positional encoding
    Mistake("positional_encoding", "concatenated", '''
def positional_encoding(length, depth):
    pos = np.arange(length)[:, None]
    i = np.arange(depth // 2)[None, :]
    angle = pos / 10000.0 ** (2 * i / depth)
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=-1)
''', says=("concatenated", "interleave")),
    Mistake("positional_encoding", "column-index-exponent", '''
def positional_encoding(length, depth):
    pos = np.arange(length)[:, None]
    col = np.arange(depth)[None, :]
    angle = pos / 10000.0 ** (col / depth)
    return np.where(col % 2 == 0, np.sin(angle), np.cos(angle))
''', says=("2*(col//2)",)),
    Mistake("positional_encoding", "cos-on-even", '''
def positional_encoding(length, depth):
    pos = np.arange(length)[:, None]
    col = np.arange(depth)[None, :]
    angle = pos / 10000.0 ** (2 * (col // 2) / depth)
    return np.where(col % 2 == 0, np.cos(angle), np.sin(angle))
''', says=("sin on the even",)),
    Mistake("positional_encoding", "one-based-positions", '''
def positional_encoding(length, depth):
    pos = np.arange(1, length + 1)[:, None]
    col = np.arange(depth)[None, :]
    angle = pos / 10000.0 ** (2 * (col // 2) / depth)
    return np.where(col % 2 == 0, np.sin(angle), np.cos(angle))
''', says=("0-based", "position 0")),
    Mistake("positional_encoding", "multiplied-frequency", '''
def positional_encoding(length, depth):
    pos = np.arange(length)[:, None]
    col = np.arange(depth)[None, :]
    angle = pos * 10000.0 ** (2 * (col // 2) / depth)
    return np.where(col % 2 == 0, np.sin(angle), np.cos(angle))
''', says=("10000**(-2i/depth)",)),
    Mistake("positional_encoding", "odd-depth-slices", '''
def positional_encoding(length, depth):
    pe = np.zeros((length, depth))
    pos = np.arange(length)[:, None]
    w = 1.0 / 10000.0 ** (np.arange(0, depth, 2) / depth)
    pe[:, 0::2] = np.sin(pos * w)
    pe[:, 1::2] = np.cos(pos * w)
    return pe
''', says=("odd depth",)),
    Mistake("positional_encoding", "transposed", '''
def positional_encoding(length, depth):
    pos = np.arange(length)[None, :]
    col = np.arange(depth)[:, None]
    angle = pos / 10000.0 ** (2 * (col // 2) / depth)
    return np.where(col % 2 == 0, np.sin(angle), np.cos(angle))
''', says=("(length, depth)",)),

    # Exercise 5: layer normalisation
    Mistake("layer_norm", "pytorch-epsilon", _LN_EPS5, says=("1e-5", "1e-3"), origin="learner"),
    Mistake("layer_norm", "eps-outside-sqrt", '''
def layer_norm(x, gamma, beta, eps=1e-3):
    mu = x.mean(axis=-1, keepdims=True)
    return (x - mu) / (x.std(axis=-1, keepdims=True) + eps) * gamma + beta
''', says=("inside the square root",)),
    Mistake("layer_norm", "unbiased-variance", '''
def layer_norm(x, gamma, beta, eps=1e-3):
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True, ddof=1)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta
''', says=("biased variance", "ddof")),
    Mistake("layer_norm", "batch-axis", '''
def layer_norm(x, gamma, beta, eps=1e-3):
    mu = x.mean(axis=0, keepdims=True)
    var = x.var(axis=0, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta
''', says=("last axis",)),
    Mistake("layer_norm", "no-keepdims", '''
def layer_norm(x, gamma, beta, eps=1e-3):
    mu = x.mean(axis=-1)
    var = x.var(axis=-1)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta
''', says=("keepdims",)),
    Mistake("layer_norm", "gamma-beta-swapped", '''
def layer_norm(x, gamma, beta, eps=1e-3):
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * beta + gamma
''', says=("gamma", "beta", "swapped")),
    Mistake("layer_norm", "no-scale-and-shift", '''
def layer_norm(x, gamma, beta, eps=1e-3):
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps)
''', says=("gamma", "beta", "forgot")),
    Mistake("layer_norm", "in-place", '''
def layer_norm(x, gamma, beta, eps=1e-3):
    x -= x.mean(axis=-1, keepdims=True)
    x /= np.sqrt(x.var(axis=-1, keepdims=True) + eps)
    return x * gamma + beta
''', says=("in place",)),
    Mistake("layer_norm", "tensorflow", '''
def layer_norm(x, gamma, beta, eps=1e-3):
    import tensorflow as tf
    mu, var = tf.nn.moments(tf.constant(x), axes=[-1], keepdims=True)
    return tf.nn.batch_normalization(x, mu, var, beta, gamma, eps).numpy()
''', says=("write it in NumPy",)),

    # Exercise 6: the backward pass through attention
    Mistake("attention_backward", "no-scale", _backward('''    _, A = scaled_dot_product_attention(q, k, v, mask)
    T = lambda a: np.swapaxes(a, -1, -2)
    dA = dout @ T(v)
    dS = A * (dA - np.sum(dA * A, axis=-1, keepdims=True))
    return dS @ k, T(dS) @ q, T(A) @ dout
'''), says=("1/sqrt(d)",)),
    Mistake("attention_backward", "softmax-backward-without-rowsum", _backward('''    _, A = scaled_dot_product_attention(q, k, v, mask)
    T = lambda a: np.swapaxes(a, -1, -2)
    dS = A * (dout @ T(v))
    return dS @ k / d ** 0.5, T(dS) @ q / d ** 0.5, T(A) @ dout
'''), says=("rowsum",)),
    Mistake("attention_backward", "dv-without-transpose", _backward('''    _, A = scaled_dot_product_attention(q, k, v, mask)
    T = lambda a: np.swapaxes(a, -1, -2)
    dA = dout @ T(v)
    dS = A * (dA - np.sum(dA * A, axis=-1, keepdims=True))
    return dS @ k / d ** 0.5, T(dS) @ q / d ** 0.5, A @ dout
'''), says=("transpose",)),
    Mistake("attention_backward", "dot-T", _backward('''    _, A = scaled_dot_product_attention(q, k, v, mask)
    dA = dout @ v.T
    dS = A * (dA - np.sum(dA * A, axis=-1, keepdims=True))
    return dS @ k / d ** 0.5, dS.T @ q / d ** 0.5, A.T @ dout
'''), says=(".T", "swapaxes")),
    Mistake("attention_backward", "forgets-the-mask", _backward('''    _, A = scaled_dot_product_attention(q, k, v)
    T = lambda a: np.swapaxes(a, -1, -2)
    dA = dout @ T(v)
    dS = A * (dA - np.sum(dA * A, axis=-1, keepdims=True))
    return dS @ k / d ** 0.5, T(dS) @ q / d ** 0.5, T(A) @ dout
'''), says=("WITH the mask",)),
    Mistake("attention_backward", "keepdims-forgotten", _backward('''    _, A = scaled_dot_product_attention(q, k, v, mask)
    T = lambda a: np.swapaxes(a, -1, -2)
    dA = dout @ T(v)
    dS = A * (dA - np.sum(dA * A, axis=-1))
    return dS @ k / d ** 0.5, T(dS) @ q / d ** 0.5, T(A) @ dout
'''), says=("keepdims",)),
    Mistake("attention_backward", "gradient-tape", '''
def attention_backward(dout, q, k, v, mask=None):
    import tensorflow as tf
    q, k, v = (tf.Variable(a) for a in (q, k, v))
    with tf.GradientTape() as tape:
        s = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) / np.sqrt(q.shape[-1]))
        loss = tf.reduce_sum(tf.matmul(s, v) * dout)
    return [g.numpy() for g in tape.gradient(loss, [q, k, v])]
''', says=("write it in NumPy",)),
    Mistake("attention_backward", "calls-a-wrong-attention", BACKWARD_RIGHT,
            also={"scaled_dot_product_attention": _NO_SCALE_SDPA}, says=("fails its own tests", "fix that first")),

    # Exercise 7: the post-LN encoder block
    Mistake("encoder_block", "no-residual", _block('''    a, _ = multi_head_attention(x, x, p, num_heads, mask=mask)
    h = layer_norm(a, p["gamma1"], p["beta1"])
    f = np.maximum(0.0, h @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    return layer_norm(f, p["gamma2"], p["beta2"])
'''), says=("residual", "source articles"), origin="articles"),
    Mistake("encoder_block", "no-layer-norm", _block('''    a, _ = multi_head_attention(x, x, p, num_heads, mask=mask)
    h = x + a
    return h + np.maximum(0.0, h @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
'''), says=("LayerNorm", "source articles"), origin="articles"),
    Mistake("encoder_block", "attention-then-ffn-only", _block('''    a, _ = multi_head_attention(x, x, p, num_heads, mask=mask)
    return np.maximum(0.0, a @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
'''), says=("residual", "LayerNorm", "source articles"), origin="articles"),
    Mistake("encoder_block", "pre-ln", _block('''    a, _ = multi_head_attention(layer_norm(x, p["gamma1"], p["beta1"]), layer_norm(x, p["gamma1"], p["beta1"]), p, num_heads, mask=mask)
    h = x + a
    g = layer_norm(h, p["gamma2"], p["beta2"])
    return h + np.maximum(0.0, g @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
'''), says=("pre-LN",)),
    Mistake("encoder_block", "no-relu", _block('''    a, _ = multi_head_attention(x, x, p, num_heads, mask=mask)
    h = layer_norm(x + a, p["gamma1"], p["beta1"])
    f = (h @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    return layer_norm(h + f, p["gamma2"], p["beta2"])
'''), says=("ReLU",)),
    Mistake("encoder_block", "mask-not-passed", _block('''    a, _ = multi_head_attention(x, x, p, num_heads)
    h = layer_norm(x + a, p["gamma1"], p["beta1"])
    f = np.maximum(0.0, h @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    return layer_norm(h + f, p["gamma2"], p["beta2"])
'''), says=("pass the mask",)),
    Mistake("encoder_block", "calls-a-wrong-layer-norm", BLOCK_RIGHT, also={"layer_norm": _LN_EPS5},
            says=("layer_norm", "fails its own tests", "fix that first")),
    Mistake("encoder_block", "calls-a-wrong-mha", BLOCK_RIGHT,
            also={"multi_head_attention": _mha(out='''out = np.einsum("bhtd,hde->bte", o, params["Wo"])''')},
            says=("multi_head_attention", "fails its own tests", "fix that first")),
]

# --- seen in a learner's attempts (issue 24): each used to get a raw NumPy error, another cause's message or the
# generic mismatch ------------------------------------------------------------------------------------------------

_BACKWARD_TAIL = '''
    return dS @ k / d ** 0.5, T(dS) @ q / d ** 0.5, T(A) @ dout
'''


def _backward_ds(ds, ret=_BACKWARD_TAIL):
    return _backward('''    _, A = scaled_dot_product_attention(q, k, v, mask)
    T = lambda a: np.swapaxes(a, -1, -2)
    dA = dout @ T(v)
    dS = ''' + ds + ret)


MISTAKES += [
    # Exercise 1
    Mistake("scaled_dot_product_attention", "torch-transpose", _sdpa(scores="q @ k.transpose(-2, -1) / d ** 0.5"),
            says=("k.transpose(-2, -1)", "order of ALL the axes", "np.swapaxes"), origin="learner"),
    Mistake("scaled_dot_product_attention", "softmax-without-keepdims", _sdpa(softmax='''e = np.exp(s - np.max(s, axis=-1, keepdims=True))
    weights = e / e.sum(axis=-1)'''), says=("keepdims=True",), origin="learner"),
    Mistake("scaled_dot_product_attention", "returns-weights-first", _sdpa(ret="return weights, weights @ v"),
            says=("returned (weights, out)",), origin="learner"),
    Mistake("scaled_dot_product_attention", "mask-added-as-0-1", _sdpa(masking="s = s + mask"),
            says=("mask was added to the scores", "-inf"), origin="learner"),
    Mistake("scaled_dot_product_attention", "tf-tutorial-mask-sign", _sdpa(masking="s = s + mask * -1e9"),
            says=("mask * -1e9", "True = may attend"), origin="learner"),
    Mistake("scaled_dot_product_attention", "masked-to-plus-inf", _sdpa(masking="s = np.where(mask, s, np.inf)"),
            says=("+inf", "-np.inf"), origin="learner"),
    Mistake("scaled_dot_product_attention", "mask-after-softmax", _sdpa(
        masking="pass", ret="if mask is not None:\n        weights = weights * mask\n    return weights @ v, weights"),
            says=("after the softmax", "scores"), origin="learner"),
    Mistake("scaled_dot_product_attention", "mask-after-softmax-renormalised", _sdpa(
        masking="pass", ret="if mask is not None:\n        weights = weights * mask\n"
                            "        weights = weights / weights.sum(-1, keepdims=True)\n    return weights @ v, weights"),
            says=("renormalised", "nonzero"), origin="learner"),
    Mistake("scaled_dot_product_attention", "boolean-index-mask", _sdpa(masking="s[~np.asarray(mask, dtype=bool)] = -np.inf"),
            says=("s[~mask]", "np.where"), origin="learner"),
    Mistake("scaled_dot_product_attention", "global-max", _sdpa(softmax='''e = np.exp(s - np.max(s))
    weights = e / e.sum(axis=-1, keepdims=True)'''), says=("WHOLE array", "row's maximum"), origin="learner"),

    # Exercise 2
    Mistake("causal_mask", "int-ones", '''
def causal_mask(T):
    return np.tril(np.ones((T, T), dtype=int))
''', says=("int64 as you asked", "dtype=bool"), origin="learner"),

    # Exercise 3
    Mistake("multi_head_attention", "merge-heads-without-transpose", _mha(out='''B_, H_, T_, D_ = o.shape
    out = o.reshape(B_, T_, H_ * D_) @ params["Wo"].reshape(H_ * D_, -1) + params["bo"]'''),
            says=("merged the heads", "transpose(0, 2, 1, 3)"), origin="learner"),
    Mistake("multi_head_attention", "split-heads-without-transpose", _mha(
        project='''(x @ W.reshape(W.shape[0], -1) + b.reshape(-1)).reshape(x.shape[0], W.shape[1], x.shape[1], W.shape[2])'''),
            says=("straight to (B, heads, T, key_dim)", "transpose(0, 2, 1, 3)"), origin="learner"),
    Mistake("multi_head_attention", "no-output-projection", _mha(out="out = np.swapaxes(o, 1, 2).reshape(o.shape[0], o.shape[2], -1)"),
            says=("forgot the output projection", "Wo"), origin="learner"),
    Mistake("multi_head_attention", "query-scaled-twice", _mha(
        qkv='''q = project(query, params["Wq"], params["bq"]) / params["Wq"].shape[2] ** 0.5
    k = project(key, params["Wk"], params["bk"])
    v = project(value, params["Wv"], params["bv"])'''), says=("scaled twice",), origin="learner"),
    Mistake("multi_head_attention", "bias-not-broadcast", _mha(project='''np.einsum("bte,ehd->bhtd", x, W) + b'''),
            says=("b[None, :, None, :]", "(heads, dim)"), origin="learner"),

    # Exercise 4
    Mistake("positional_encoding", "exponent-without-2", '''
def positional_encoding(length, depth):
    pos = np.arange(length)[:, None]
    col = np.arange(depth)[None, :]
    angle = pos / 10000.0 ** ((col // 2) / depth)
    return np.where(col % 2 == 0, np.sin(angle), np.cos(angle))
''', says=("factor 2",), origin="learner"),

    # Exercise 5
    Mistake("layer_norm", "sqrt-of-std", '''
def layer_norm(x, gamma, beta, eps=1e-3):
    mu = x.mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(x.std(axis=-1, keepdims=True) + eps) * gamma + beta
''', says=("square root of the standard deviation", "sqrt(var + eps)"), origin="learner"),

    # Exercise 6
    Mistake("attention_backward", "jacobian-diagonal", _backward_ds("A * (1 - A) * dA"),
            says=("diagonal of its Jacobian", "rowsum(dA * A)"), origin="learner"),
    Mistake("attention_backward", "rowsum-of-dA", _backward_ds("A * (dA - np.sum(dA, axis=-1, keepdims=True))"),
            says=("not of dA alone",), origin="learner"),
    Mistake("attention_backward", "rowsum-over-queries", _backward_ds("A * (dA - np.sum(dA * A, axis=-2, keepdims=True))"),
            says=("LAST axis", "axis=-2"), origin="learner"),
    Mistake("attention_backward", "divided-by-d", _backward_ds("A * (dA - np.sum(dA * A, axis=-1, keepdims=True))", '''
    return dS @ k / d, T(dS) @ q / d, T(A) @ dout
'''), says=("divided by d", "sqrt(d)"), origin="learner"),
    Mistake("attention_backward", "dk-transposed", _backward_ds("A * (dA - np.sum(dA * A, axis=-1, keepdims=True))", '''
    return dS @ k / d ** 0.5, T(q) @ dS / d ** 0.5, T(A) @ dout
'''), says=("transpose of dk", "q^T dS"), origin="learner"),

    # Exercise 7
    Mistake("encoder_block", "pytorch-linear-transposed", _block('''    a, _ = multi_head_attention(x, x, p, num_heads, mask=mask)
    h = layer_norm(x + a, p["gamma1"], p["beta1"])
    f = np.maximum(0.0, h @ p["W1"].T + p["b1"]) @ p["W2"].T + p["b2"]
    return layer_norm(h + f, p["gamma2"], p["beta2"])
'''), says=("no transpose", "nn.Linear"), origin="learner"),
    Mistake("encoder_block", "mask-passed-as-key", _block('''    a, _ = multi_head_attention(x, x, p, num_heads, mask)
    h = layer_norm(x + a, p["gamma1"], p["beta1"])
    f = np.maximum(0.0, h @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    return layer_norm(h + f, p["gamma2"], p["beta2"])
'''), says=("`key`", "mask=mask"), origin="learner"),
    Mistake("encoder_block", "no-first-residual", _block(_BLOCK_RIGHT_BODY.replace("layer_norm(x + a,", "layer_norm(a,")),
            says=("first sublayer has no residual",), origin="learner"),
    Mistake("encoder_block", "no-second-residual", _block(_BLOCK_RIGHT_BODY.replace("layer_norm(h + f,", "layer_norm(f,")),
            says=("second sublayer has no residual",), origin="learner"),
    Mistake("encoder_block", "relu-after-w2", _block(_BLOCK_RIGHT_BODY.replace(
        'f = np.maximum(0.0, h @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]',
        'f = np.maximum(0.0, np.maximum(0.0, h @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"])')),
            says=("ReLU after W2",), origin="learner"),
    Mistake("encoder_block", "first-layer-norm-twice", _block(_BLOCK_RIGHT_BODY.replace('p["gamma2"], p["beta2"]', 'p["gamma1"], p["beta1"]')),
            says=("both layer_norms use gamma1, beta1",), origin="learner"),
    Mistake("encoder_block", "returns-the-weights-too", _block(_BLOCK_RIGHT_BODY.replace("a, _ =", "a, w =").replace(
        'return layer_norm(h + f, p["gamma2"], p["beta2"])', 'return layer_norm(h + f, p["gamma2"], p["beta2"]), w')),
            says=("return only the block's output",), origin="learner"),
]
