"""Chapter 5 operations: GELU, the next-token loss, the embedding gradient, the pre-LN block, the GPT forward
pass, and greedy generation (NumPy with a key/value cache against Keras recomputing the whole prefix)."""

import numpy as np

from dlcourse import notebooks, reference

from run import Case, compiled

ch05 = notebooks.load_functions(notebooks.solution_path("ch05_gpt"))

# A GPT-2-like shape, small enough for a CPU: 8 heads of key_dim 16 (a power of 4: Keras's 1/sqrt(key_dim) exact).
N, T, V, D, HEADS, KEY_DIM, F, LAYERS = 16, 64, 512, 128, 8, 16, 512, 2


def _gpt_params(rng, dtype, n_layers=LAYERS):
    def block():
        shapes = {"Wq": (D, HEADS, KEY_DIM), "bq": (HEADS, KEY_DIM), "Wk": (D, HEADS, KEY_DIM), "bk": (HEADS, KEY_DIM),
                  "Wv": (D, HEADS, KEY_DIM), "bv": (HEADS, KEY_DIM), "Wo": (HEADS, KEY_DIM, D), "bo": (D,),
                  "gamma1": (D,), "beta1": (D,), "W1": (D, F), "b1": (F,), "W2": (F, D), "b2": (D,),
                  "gamma2": (D,), "beta2": (D,)}
        p = {n: rng.normal(size=s) * 0.05 for n, s in shapes.items()}
        p["gamma1"] += 1
        p["gamma2"] += 1
        return {n: a.astype(dtype) for n, a in p.items()}
    return {"E": (rng.normal(size=(V, D)) * 0.1).astype(dtype), "P": (rng.normal(size=(T, D)) * 0.1).astype(dtype),
            "blocks": [block() for _ in range(n_layers)], "gamma_f": np.ones(D, dtype), "beta_f": np.zeros(D, dtype)}


def gelu_case(dtype):
    tf = reference.tf()
    x = np.random.default_rng(0).normal(size=(N, T, 4 * D)).astype(dtype)
    call = compiled(lambda a: tf.nn.gelu(a, approximate=False))
    tx = tf.constant(x)
    return (lambda: ch05.gelu(x)), (lambda: call(tx).numpy())


def lm_loss_case(dtype):
    tf, keras = reference.tf(), reference.keras()
    rng = np.random.default_rng(1)
    logits = (rng.normal(size=(N, T, V)) * 2).astype(dtype)
    ids = rng.integers(0, V, size=(N, T))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=dtype)
    tz, tids = tf.constant(logits), tf.constant(ids)

    @tf.function
    def tape(z, y):
        with tf.GradientTape() as g:
            g.watch(z)
            loss = loss_fn(y[:, 1:], z[:, :-1])
        return loss, g.gradient(loss, z)

    return (lambda: ch05.causal_lm_loss(logits, ids)), (lambda: [t.numpy() for t in tape(tz, tids)])


def embedding_backward_case(dtype):
    tf = reference.tf()
    rng = np.random.default_rng(2)
    ids = rng.integers(0, V, size=(N, T))
    d_out = rng.normal(size=(N, T, D)).astype(dtype)
    E = tf.Variable(rng.normal(size=(V, D)).astype(dtype))
    tids, td = tf.constant(ids), tf.constant(d_out)

    @tf.function
    def tape(i, d):
        with tf.GradientTape() as g:
            loss = tf.reduce_sum(tf.gather(E, i) * d)
        return tf.convert_to_tensor(g.gradient(loss, E))

    return (lambda: ch05.embedding_backward(d_out, ids, V)), (lambda: tape(tids, td).numpy())


def gpt_block_case(dtype):
    rng = np.random.default_rng(3)
    p = _gpt_params(rng, dtype, n_layers=1)["blocks"][0]
    x = rng.normal(size=(N, T, D)).astype(dtype)
    call = compiled(reference.keras_block(p, HEADS, dtype=dtype))
    tx = reference.tf().constant(x)
    return (lambda: ch05.gpt_block(x, p, HEADS)), (lambda: call(tx).numpy())


def gpt_forward_case(dtype):
    rng = np.random.default_rng(4)
    params = _gpt_params(rng, dtype)
    ids = rng.integers(0, V, size=(N, T))
    call = compiled(reference.keras_gpt(params, HEADS, dtype=dtype))
    tids = reference.tf().constant(ids, dtype="int32")
    return (lambda: ch05.gpt_forward(ids, params, HEADS)), (lambda: call(tids).numpy())


def generate_case(dtype):
    """One sequence, a 1-token prompt, T - 1 greedy steps. Keras recomputes the whole prefix at each step, with
    one compiled forward pass (traced once for any length)."""
    tf = reference.tf()
    rng = np.random.default_rng(5)
    params = _gpt_params(rng, dtype)
    model = reference.keras_gpt(params, HEADS, dtype=dtype)
    forward = tf.function(model, input_signature=[tf.TensorSpec((1, None), tf.int32)])
    start = np.zeros((1, 1), dtype=np.int32)

    def keras_greedy():
        ids = start
        for _ in range(T - 1):
            nxt = np.argmax(forward(tf.constant(ids)).numpy()[:, -1], axis=-1).astype(np.int32)
            ids = np.concatenate([ids, nxt[:, None]], axis=1)
        return ids

    return (lambda: ch05.generate_greedy(start, params, HEADS, T - 1)), keras_greedy


_x = f"x ({N},{T},{D}), {HEADS} heads, F {F}"
CASES = [
    Case("gelu", f"x ({N},{T},{4 * D})", gelu_case, "tf.nn.gelu (exact) in tf.function"),
    Case("causal_lm_loss", f"logits ({N},{T},{V})", lm_loss_case, "SparseCategoricalCrossentropy + GradientTape"),
    Case("embedding_backward", f"ids ({N},{T}), E ({V},{D})", embedding_backward_case, "GradientTape through tf.gather"),
    Case("gpt_block", _x, gpt_block_case, "dlcourse.reference.keras_block in tf.function"),
    Case("gpt_forward", f"ids ({N},{T}), V {V}, D {D}, {LAYERS} blocks", gpt_forward_case, "dlcourse.reference.keras_gpt in tf.function"),
    Case("generate_greedy (cached vs full)", f"1 x {T} tokens, D {D}, {LAYERS} blocks", generate_case,
         "Keras GPT, full prefix each step"),
]
