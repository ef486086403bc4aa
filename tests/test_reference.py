"""dlcourse.reference: each builder is checked against the layer's formula, written out here."""

import subprocess
import sys

import numpy as np
import pytest

from dlcourse import check, reference


@pytest.fixture(scope="module")
def tf():
    return reference.tf()


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_quiet_import_writes_nothing_to_stderr():
    code = "from dlcourse import reference; reference.tf(); reference.keras(); print(reference.describe_device())"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", f"TensorFlow's import leaked to stderr (nbgrader would zero a cell): {proc.stderr!r}"
    assert "reference runs on CPU" in proc.stdout or "reference runs on GPU" in proc.stdout
    assert "TF32 off" in proc.stdout


@pytest.mark.parametrize("started", [False, True], ids=["fresh", "runtime-started"])
def test_logical_cpus_are_opt_in(started):
    """reference.tf(logical_cpus=4) (chapter 6) gives four logical CPUs, quietly, in a fresh process and in one whose
    runtime runs already (the grader's kernel); reference.tf() alone keeps one."""
    first = "reference.tf(); before = len(reference.tf().config.list_logical_devices('CPU')); " if started else "before = 1; "
    code = ("from dlcourse import reference; " + first + "tf = reference.tf(logical_cpus=4); "
            "s = tf.distribute.MirroredStrategy([f'/cpu:{i}' for i in range(4)], "
            "cross_device_ops=tf.distribute.ReductionToOneDevice()); "
            "print(before, len(tf.config.list_logical_devices('CPU')), s.num_replicas_in_sync)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["1", "4", "4"], proc.stdout
    assert proc.stderr == "", f"logical devices leaked TensorFlow's logs to stderr: {proc.stderr[-500:]!r}"


def test_device_is_cpu_without_gpu(tf):
    expected = "/GPU:0" if tf.config.list_physical_devices("GPU") else "/CPU:0"
    assert reference.device() == expected
    assert not tf.config.experimental.tensor_float_32_execution_enabled()


def test_seed_everything_is_reproducible(tf):
    keras = reference.keras()
    reference.seed_everything(3)
    a = keras.random.normal((4,)).numpy(), np.random.rand(2)
    r1 = reference.seed_everything(3)
    b = keras.random.normal((4,)).numpy(), np.random.rand(2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(r1.normal(size=3), np.random.default_rng(3).normal(size=3))


def test_dense_is_x_W_plus_b(rng):
    W, b, x = rng.normal(size=(3, 5)), rng.normal(size=5), rng.normal(size=(4, 3))
    layer = reference.dense(W, b)
    assert layer.dtype == "float64"
    check.assert_close(layer(x).numpy(), x @ W + b, name="Dense", tol="forward64")


def test_dense_rejects_a_transposed_kernel(rng):
    with pytest.raises(ValueError, match=r"\(in, out\).*W\.T"):
        reference.dense(rng.normal(size=(5, 3)), rng.normal(size=5))
    with pytest.raises(ValueError, match="float64 or all float32"):
        reference.dense(rng.normal(size=(3, 5)), rng.normal(size=5).astype(np.float32))


def test_tape_gradients_of_dense_match_the_chain_rule(rng):
    W, b, x, dout = rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    layer = reference.dense(W, b)
    out, (dx,), (dW, db) = reference.tape_gradients(layer, x, dout=dout, variables=layer.trainable_weights)
    check.assert_close(out, x @ W + b, name="out", tol="forward64")
    check.assert_close(dx, dout @ W.T, name="dx", tol="grad64")
    check.assert_close(dW, x.T @ dout, name="dW", tol="grad64")
    check.assert_close(db, dout.sum(0), name="db", tol="grad64")
    with pytest.raises(ValueError, match="dout must have the output's shape"):
        reference.tape_gradients(layer, x, dout=dout.T)


def _correlate_same_loops(x, w, b, stride):
    """SAME cross-correlation by loops, with TensorFlow's padding rule (smaller half top/left)."""
    N, H, Wd, C = x.shape
    kh, kw, _, F = w.shape
    Ho, Wo = -(-H // stride), -(-Wd // stride)
    ph = max((Ho - 1) * stride + kh - H, 0)
    pw = max((Wo - 1) * stride + kw - Wd, 0)
    xp = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    y = np.zeros((N, Ho, Wo, F))
    for i in range(Ho):
        for j in range(Wo):
            patch = xp[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            y[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2])) + b
    return y


@pytest.mark.parametrize("H,W,k,stride", [(8, 8, 3, 2), (7, 6, 2, 2), (5, 5, 3, 1)])
def test_conv2d_is_cross_correlation_with_tf_same_padding(rng, H, W, k, stride):
    x, w, b = rng.normal(size=(2, H, W, 3)), rng.normal(size=(k, k, 3, 4)), rng.normal(size=4)
    y = reference.conv2d(w, b, strides=stride, padding="same")(x).numpy()
    check.assert_close(y, _correlate_same_loops(x, w, b, stride), name="Conv2D same", tol="forward64")


def test_conv2d_rejects_unknown_padding(rng):
    with pytest.raises(ValueError, match="'valid' or 'same'"):
        reference.conv2d(rng.normal(size=(3, 3, 1, 1)), np.zeros(1), padding="full")


def test_lstm_gate_blocks_are_i_f_c_o(rng):
    """Two steps: the second has h_1 and c_1 non-zero, so U and the forget gate (f * c_1) enter the check."""
    D, H = 3, 2
    W, U, b = rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)
    x = rng.normal(size=(1, 2, D))
    seq, h, c = reference.lstm(W, U, b)(x)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    h_t, c_t = np.zeros((1, H)), np.zeros((1, H))
    for t in range(2):
        z = x[:, t] @ W + h_t @ U + b
        i, f, g, o = sig(z[:, :H]), sig(z[:, H : 2 * H]), np.tanh(z[:, 2 * H : 3 * H]), sig(z[:, 3 * H :])
        c_prev, c_t = c_t, f * c_t + i * g
        h_t = o * np.tanh(c_t)
        check.assert_close(seq.numpy()[:, t], h_t, name=f"LSTM h_{t + 1}", tol="forward64")
    assert np.abs(f * c_prev).min() > 1e-3, "at step 2 the forget gate's term f * c_1 is not negligible"
    check.assert_close(c.numpy(), c_t, name="LSTM c_2", tol="forward64")
    check.assert_close(h.numpy(), h_t, name="LSTM h_2", tol="forward64")


def test_lstm_rejects_transposed_recurrent_kernel(rng):
    with pytest.raises(ValueError, match="U looks transposed"):
        reference.lstm(rng.normal(size=(3, 8)), rng.normal(size=(8, 2)), rng.normal(size=8))


def test_gru_bias_rows_are_input_and_recurrent(rng):
    D, H = 2, 3
    W, U, b = rng.normal(size=(D, 3 * H)), rng.normal(size=(H, 3 * H)), rng.normal(size=(2, 3 * H))
    x = rng.normal(size=(1, 1, D))
    h = reference.gru(W, U, b)(x).numpy()[:, 0]
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    xi, hr = x[:, 0] @ W + b[0], np.zeros((1, H)) @ U + b[1]  # h0 = 0
    zg = sig(xi[:, :H] + hr[:, :H])
    r = sig(xi[:, H : 2 * H] + hr[:, H : 2 * H])
    cand = np.tanh(xi[:, 2 * H :] + r * hr[:, 2 * H :])
    check.assert_close(h, (1 - zg) * cand, name="GRU h_1 (z keeps the old state)", tol="forward64")


def test_simple_rnn_two_steps(rng):
    W, U, b, x = rng.normal(size=(2, 3)), rng.normal(size=(3, 3)), rng.normal(size=3), rng.normal(size=(1, 2, 2))
    seq = reference.simple_rnn(W, U, b)(x).numpy()
    h1 = np.tanh(x[:, 0] @ W + b)
    h2 = np.tanh(x[:, 1] @ W + h1 @ U + b)
    check.assert_close(seq, np.stack([h1, h2], axis=1), name="SimpleRNN", tol="forward64")


def test_multi_head_attention_layout(rng):
    E, heads, kd, B, T = 6, 2, 3, 2, 4
    p = {
        "Wq": rng.normal(size=(E, heads, kd)), "bq": rng.normal(size=(heads, kd)),
        "Wk": rng.normal(size=(E, heads, kd)), "bk": rng.normal(size=(heads, kd)),
        "Wv": rng.normal(size=(E, heads, kd)), "bv": rng.normal(size=(heads, kd)),
        "Wo": rng.normal(size=(heads, kd, E)), "bo": rng.normal(size=E),
    }
    x = rng.normal(size=(B, T, E))
    out, weights = reference.multi_head_attention(p, heads)(x, x, return_attention_scores=True)
    q = np.einsum("bte,ehd->bhtd", x, p["Wq"]) + p["bq"][None, :, None]
    k = np.einsum("bte,ehd->bhtd", x, p["Wk"]) + p["bk"][None, :, None]
    v = np.einsum("bte,ehd->bhtd", x, p["Wv"]) + p["bv"][None, :, None]
    # Keras 3.15 casts the Python float 1/sqrt(key_dim) through float32 (ops.cast of a Python
    # scalar), even in a float64 layer: with the float32-rounded scale the match is exact to
    # float64 round-off; with the exact scale it is only ~1e-7 (why the policy says attention 1e-7).
    scale = float(np.float32(1 / np.sqrt(kd)))
    s = q @ k.transpose(0, 1, 3, 2) * scale
    a = np.exp(s - s.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    ref = np.einsum("bhtd,hde->bte", a @ v, p["Wo"]) + p["bo"]
    check.assert_close(weights.numpy(), a, name="MHA weights", tol="forward64")
    check.assert_close(out.numpy(), ref, name="MHA out", tol="forward64")
    with pytest.raises(ValueError, match="missing"):
        reference.multi_head_attention({k: v for k, v in p.items() if k != "bo"}, heads)
    with pytest.raises(ValueError, match="num_heads=3"):
        reference.multi_head_attention(p, 3)


def test_layer_norm_default_epsilon_is_keras_1e_3(rng):
    g, be, x = rng.normal(size=5), rng.normal(size=5), rng.normal(size=(2, 3, 5)) * 0.05
    layer = reference.layer_norm(g, be)
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    check.assert_close(layer(x).numpy(), (x - mu) / np.sqrt(var + 1e-3) * g + be, name="LayerNorm", tol="forward64")
    with pytest.raises(AssertionError):  # PyTorch's 1e-5 is measurably different at this scale
        check.assert_close(layer(x).numpy(), (x - mu) / np.sqrt(var + 1e-5) * g + be, name="eps 1e-5", tol="forward64")


def test_keras_gpt_is_chapter_5_s_model():
    """dlcourse.reference.keras_gpt: the parameter count of chapter 5's GPT by its derivation (tied embeddings,
    learned positions, pre-LN blocks with biases, a final LN), and causality: a later token changes no earlier
    logit."""
    r = np.random.default_rng(0)
    V, T, D, heads, key_dim, F, L = 11, 7, 8, 2, 4, 16, 2

    def block():
        p = {n: r.normal(size=s) for n, s in {
            "Wq": (D, heads, key_dim), "bq": (heads, key_dim), "Wk": (D, heads, key_dim), "bk": (heads, key_dim),
            "Wv": (D, heads, key_dim), "bv": (heads, key_dim), "Wo": (heads, key_dim, D), "bo": (D,),
            "gamma1": (D,), "beta1": (D,), "W1": (D, F), "b1": (F,), "W2": (F, D), "b2": (D,),
            "gamma2": (D,), "beta2": (D,)}.items()}
        return p
    params = {"E": r.normal(size=(V, D)), "P": r.normal(size=(T, D)), "blocks": [block() for _ in range(L)],
              "gamma_f": r.normal(size=D), "beta_f": r.normal(size=D)}
    model = reference.keras_gpt(params, heads)
    attention = 3 * (D * heads * key_dim + heads * key_dim) + heads * key_dim * D + D
    per_block = attention + 2 * 2 * D + (D * F + F) + (F * D + D)
    assert model.count_params() == V * D + T * D + L * per_block + 2 * D
    ids = r.integers(0, V, size=(1, T))
    changed = ids.copy()
    changed[0, -1] = (ids[0, -1] + 1) % V
    a, b = model(ids).numpy(), model(changed).numpy()
    np.testing.assert_array_equal(a[:, :-1], b[:, :-1])
    assert np.abs(a[:, -1] - b[:, -1]).max() > 1e-6


# ----------------------------------------------------------------------------
# reference.cached: a reference computed once per process, bit for bit the same as computed again


@pytest.fixture
def empty_cache():
    reference.clear_cache()
    yield
    reference.clear_cache()


def _define(source):
    """Run ``source`` as the grader runs a given cell (a fresh namespace each time, as after its reset)."""
    ns = {"np": np, "reference": reference}
    exec(compile(source, "<given cell>", "exec"), ns)
    return ns


KERAS_DENSE = '''
@reference.cached
def keras_dense(x, W, b):
    return reference.dense(W, b)(x).numpy()
'''


def test_a_cached_keras_reference_is_computed_once_and_equals_a_fresh_computation(tf, rng, empty_cache):
    x, W, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    first = _define(KERAS_DENSE)["keras_dense"](x, W, b)
    first[0, 0] = 1e9  # a test that changes its copy changes nothing kept
    again = _define(KERAS_DENSE)["keras_dense"](x.copy(), W.copy(), b.copy())  # the given cell run again, equal inputs
    assert reference.cache_info()["misses"] == 1 and reference.cache_info()["hits"] == 1
    again[0, 1] = 1e9  # and neither does a change to a copy handed out from the cache
    again = _define(KERAS_DENSE)["keras_dense"](x, W, b)
    np.testing.assert_array_equal(again, reference.dense(W, b)(x).numpy())  # what Keras computes, not the 1e9
    np.testing.assert_allclose(again, x @ W + b, rtol=1e-12)


@pytest.mark.parametrize("first, second", [
    ((np.float32(1.0),), (np.float64(1.0),)),  # a scalar's dtype
    ((np.float64(1.0),), (np.array(1.0),)),  # a NumPy scalar and a 0-d array
    (({"a": 1.0, "b": 2.0},), ({"b": 2.0, "a": 1.0},)),  # a dict's order, which list(d.values()) sees
    (("1", "23"), ("12", "3")),  # texts that run together
])
def test_arguments_that_look_alike_are_told_apart(first, second, empty_cache):
    ns = _define("@reference.cached\ndef f(*args):\n    return repr(args)\n")
    assert ns["f"](*first) != ns["f"](*second) and reference.cache_info()["misses"] == 2


@pytest.mark.parametrize("change", ["a value", "the dtype", "the shape", "-0.0", "a keyword", "a scalar's dtype"])
def test_different_arguments_are_computed_again(change, empty_cache):
    ns = _define("@reference.cached\ndef f(a, scale=1.0):\n    return np.asarray(a, np.float64) * scale + 0.0\n")
    a = np.zeros((2, 3))
    ns["f"](a)
    other = {"a value": (np.ones((2, 3)),), "the dtype": (a.astype(np.float32),), "the shape": (a.reshape(3, 2),),
             "-0.0": (-a,), "a scalar's dtype": (a, np.float32(1.0))}.get(change, (a,))
    kwargs = {"scale": 2.0} if change == "a keyword" else {}
    ns["f"](*other, **kwargs)
    assert reference.cache_info()["misses"] == 2 and reference.cache_info()["uncached"] == 0, change


@pytest.mark.parametrize("first, second, call", [
    ("def f(x):\n    return x * 1 + 23\n", "def f(x):\n    return x * 12 + 3\n", {"x": 1.0}),  # constants run together
    ("def f(a, b):\n    return a - b\n", "def f(b, a):\n    return b - a\n", {"a": 1.0, "b": 2.0}),  # parameter names
])
def test_functions_with_the_same_bytecode_shape_are_told_apart(first, second, call, empty_cache):
    """Found by a second review: the constants' reprs joined without separators, and the parameter names left out."""
    f1 = _define("@reference.cached\n" + first)["f"](**call)
    f2 = _define("@reference.cached\n" + second)["f"](**call)
    assert f1 != f2 and reference.cache_info()["misses"] == 2


@pytest.mark.parametrize("edit", ["its code", "a constant it names", "a helper it calls", "a table it names"])
def test_a_function_that_computes_something_else_is_not_served_the_old_result(edit, empty_cache):
    source = ("EPS = 1e-7\nSHIFT = {'a': [0.0, 1.0]}\ndef helper(a):\n    return a + 1\n@reference.cached\n"
              "def f(a):\n    return helper(a) * 2 + EPS + SHIFT['a'][1]\n")
    edited = {"its code": source.replace("* 2", "* 3"), "a constant it names": source.replace("1e-7", "1e-3"),
              "a helper it calls": source.replace("a + 1", "a + 5"),
              "a table it names": source.replace("[0.0, 1.0]", "[0.0, 2.0]")}[edit]
    a = np.arange(3.0)
    before = _define(source)["f"](a)
    after = _define(edited)["f"](a)
    assert reference.cache_info()["misses"] == 2 and not np.array_equal(before, after), edit


def test_a_call_with_something_other_than_plain_data_is_only_run(empty_cache):
    ns = _define("@reference.cached\ndef draw(r, n):\n    return r.normal(size=n)\n")
    a, b = ns["draw"](np.random.default_rng(0), 3), ns["draw"](np.random.default_rng(1), 3)
    assert not np.array_equal(a, b)  # a generator is no key: a cached first draw would have come back
    assert reference.cache_info() == {"hits": 0, "misses": 0, "uncached": 2, "entries": 0, "bytes": 0}


def test_a_result_that_is_not_plain_data_is_not_kept(tf, empty_cache):
    ns = _define("@reference.cached\ndef layer(n):\n    return reference.keras().layers.Dense(n)\n")
    assert ns["layer"](2) is not ns["layer"](2)  # a layer could change after the call: never handed out twice
    assert reference.cache_info()["entries"] == 0


def test_the_cache_keeps_at_most_its_bytes_dropping_the_least_recently_used(monkeypatch, empty_cache):
    monkeypatch.setattr(reference, "CACHE_BYTES", 3 * 8000)
    ns = _define("@reference.cached\ndef f(i):\n    return np.full(1000, float(i))\n")  # 8,000 bytes each
    for i in (0, 1, 2):
        ns["f"](i)
    ns["f"](0)  # used again: now the most recent
    ns["f"](3)  # 1 goes
    assert reference.cache_info()["entries"] == 3 and reference.cache_info()["bytes"] == 3 * 8000
    misses = reference.cache_info()["misses"]
    ns["f"](0), ns["f"](2), ns["f"](3)
    assert reference.cache_info()["misses"] == misses
    ns["f"](1)
    assert reference.cache_info()["misses"] == misses + 1
