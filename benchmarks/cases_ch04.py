"""Chapter 4 operations: attention, multi-head attention, its backward pass, layer norm, the encoder block."""

import numpy as np

from dlcourse import notebooks, reference

from run import Case, compiled

ch04 = notebooks.load_functions(notebooks.solution_path("ch04_attention"))

# Issue 9's sizes: multi-head attention on x (16, 128, 128) with 8 heads (key_dim 16);
# the attention backward pass on q, k, v (16, 8, 128, 16).
B, T, E, HEADS, KEY_DIM, F = 16, 128, 128, 8, 16, 256


def _mha_params(rng, dtype):
    shapes = {"Wq": (E, HEADS, KEY_DIM), "bq": (HEADS, KEY_DIM), "Wk": (E, HEADS, KEY_DIM), "bk": (HEADS, KEY_DIM),
              "Wv": (E, HEADS, KEY_DIM), "bv": (HEADS, KEY_DIM), "Wo": (HEADS, KEY_DIM, E), "bo": (E,)}
    return {n: (rng.normal(size=s) * 0.2).astype(dtype) for n, s in shapes.items()}


def attention_case(dtype):
    keras = reference.keras()
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(B, HEADS, T, KEY_DIM)).astype(dtype) for _ in range(3))
    qt, kt, vt = (np.ascontiguousarray(np.swapaxes(a, 1, 2)) for a in (q, k, v))  # Keras: (batch, T, heads, dim)
    return (lambda: ch04.scaled_dot_product_attention(q, k, v)), (
        lambda: np.asarray(keras.ops.dot_product_attention(qt, kt, vt)))


def mha_case(dtype):
    rng = np.random.default_rng(2)
    p = _mha_params(rng, dtype)
    x = rng.normal(size=(B, T, E)).astype(dtype)
    layer = reference.multi_head_attention(p, HEADS)
    call = compiled(lambda a: layer(a, a, return_attention_scores=True))  # NumPy returns the weights too
    tx = reference.tf().constant(x)
    return (lambda: ch04.multi_head_attention(x, x, p, HEADS)), (lambda: [t.numpy() for t in call(tx)])


def attention_backward_case(dtype):
    tf = reference.tf()
    rng = np.random.default_rng(3)
    q, k, v, dout = (rng.normal(size=(B, HEADS, T, KEY_DIM)).astype(dtype) for _ in range(4))
    tq, tk, tv, td = (tf.constant(a) for a in (q, k, v, dout))
    scale = 1 / np.sqrt(KEY_DIM)

    def tape():
        with tf.GradientTape() as g:
            g.watch([tq, tk, tv])
            out = tf.matmul(tf.nn.softmax(tf.matmul(tq, tk, transpose_b=True) * scale), tv)
            loss = tf.reduce_sum(out * td)
        return [a.numpy() for a in g.gradient(loss, [tq, tk, tv])]

    return (lambda: ch04.attention_backward(dout, q, k, v)), tape


def layer_norm_case(dtype):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(B, T, E)).astype(dtype)
    g, b = rng.normal(size=E).astype(dtype), rng.normal(size=E).astype(dtype)
    call = compiled(reference.layer_norm(g, b))
    tx = reference.tf().constant(x)
    return (lambda: ch04.layer_norm(x, g, b)), (lambda: call(tx).numpy())


def encoder_block_case(dtype):
    keras = reference.keras()
    rng = np.random.default_rng(5)
    p = _mha_params(rng, dtype)
    p.update({"gamma1": np.ones(E, dtype), "beta1": np.zeros(E, dtype), "gamma2": np.ones(E, dtype),
              "beta2": np.zeros(E, dtype), "W1": (rng.normal(size=(E, F)) / 8).astype(dtype),
              "b1": np.zeros(F, dtype), "W2": (rng.normal(size=(F, E)) / 8).astype(dtype), "b2": np.zeros(E, dtype)})
    x = rng.normal(size=(B, T, E)).astype(dtype)
    x_in = keras.Input((T, E), dtype=dtype)
    mha = keras.layers.MultiHeadAttention(HEADS, KEY_DIM, dtype=dtype)
    ln1, ln2 = keras.layers.LayerNormalization(dtype=dtype), keras.layers.LayerNormalization(dtype=dtype)
    d1, d2 = keras.layers.Dense(F, activation="relu", dtype=dtype), keras.layers.Dense(E, dtype=dtype)
    h = ln1(keras.layers.Add(dtype=dtype)([x_in, mha(x_in, x_in)]))
    model = keras.Model(x_in, ln2(keras.layers.Add(dtype=dtype)([h, d2(d1(h))])))
    mha.set_weights([p[n] for n in ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")])
    ln1.set_weights([p["gamma1"], p["beta1"]]); ln2.set_weights([p["gamma2"], p["beta2"]])
    d1.set_weights([p["W1"], p["b1"]]); d2.set_weights([p["W2"], p["b2"]])
    call = compiled(model)
    tx = reference.tf().constant(x)
    return (lambda: ch04.encoder_block(x, p, HEADS)), (lambda: call(tx).numpy())


_qkv = f"q, k, v ({B},{HEADS},{T},{KEY_DIM})"
_x = f"x ({B},{T},{E}), {HEADS} heads"
CASES = [
    Case("multi_head_attention", _x, mha_case, "Keras MHA in tf.function", goal=1.5),
    Case("attention_backward", _qkv, attention_backward_case, "GradientTape", goal=2.0),
    Case("scaled_dot_product_attention", _qkv, attention_case, "keras.ops.dot_product_attention"),
    Case("layer_norm", f"x ({B},{T},{E})", layer_norm_case, "LayerNormalization in tf.function"),
    Case("encoder_block", _x + f", F {F}", encoder_block_case, "Keras model in tf.function"),
]
