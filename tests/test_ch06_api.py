"""Chapter 6's graded API (scale: bfloat16, loss scaling, LoRA, int8, all-reduce, data parallelism, GPT size)
checked against Keras and TensorFlow directly.

Written from the API's specification alone, independently of the chapter's own tests. Each check runs on the
solution's answer cells, where it must pass, and on the student version's stubs (which raise
NotImplementedError), where it must fail.
"""

from __future__ import annotations

import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import nbformat
import numpy as np
import pytest

from dlcourse.notebooks import is_answer_cell, solution_path, student_path

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

CHAPTER = "ch06_scale"
VERSIONS = ("solution", "stub")


@functools.cache
def load(version: str) -> dict:
    """The namespace of the notebook's answer cells only (they need nothing but NumPy); never its test cells."""
    path = solution_path(CHAPTER) if version == "solution" else student_path(CHAPTER)
    nb = nbformat.read(path, as_version=4)
    namespace: dict = {"__name__": f"ch06_api_{version}"}
    exec("import numpy as np", namespace)
    for cell in nb.cells:
        if is_answer_cell(cell):
            exec(compile(cell.source, f"<{version} answer cell>", "exec"), namespace)
    return namespace


def run(version, check):
    """Run check(ns): it must pass for the solution, and the stubs fail it with their NotImplementedError."""
    ns = load(version)
    if version == "solution":
        check(ns)
    else:
        with pytest.raises(NotImplementedError):  # not an error of the check itself
            check(ns)


# ---------------------------------------------------------------------------------------------------------------
# 1. round_to_bfloat16: reference tf.cast(tf.cast(x, tf.bfloat16), tf.float32)

def bits(a):
    return np.asarray(a, np.float32).view(np.uint32)


def check_round_to_bfloat16(ns):
    rng = np.random.default_rng(0)
    f32 = np.float32
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0,
                        np.finfo(np.float32).max, -np.finfo(np.float32).max,      # round up to +-inf
                        np.finfo(np.float32).tiny, np.finfo(np.float32).smallest_subnormal,
                        -np.finfo(np.float32).smallest_subnormal], dtype=f32)
    # Ties (low 16 bits exactly 0x8000) with an even and an odd bit 16, normal and subnormal, both signs;
    # and values just either side of a tie.
    hi = rng.integers(0, 1 << 16, size=4000, dtype=np.uint64)
    ties = ((hi << 16) | 0x8000).astype(np.uint32)
    near = np.concatenate([ties - 1, ties + 1]).astype(np.uint32)
    subnormal = rng.integers(0, 1 << 23, size=2000, dtype=np.uint64).astype(np.uint32)
    subnormal = np.concatenate([subnormal, subnormal | np.uint32(0x80000000)])
    near_inf = np.arange(0x7F7F0000, 0x7F800000, 97, dtype=np.uint32)              # largest finite values
    any_bits = rng.integers(0, 1 << 32, size=20000, dtype=np.uint64).astype(np.uint32)  # incl. NaN payloads
    pattern_bits = np.concatenate([ties, near, subnormal, near_inf, near_inf | np.uint32(0x80000000), any_bits])
    normal = (rng.standard_normal(5000) * 10.0 ** rng.integers(-30, 30, 5000)).astype(f32)
    for x in (special, pattern_bits.view(f32), normal, normal.reshape(50, 100), np.float32(3.14159)):
        x = np.asarray(x, f32)
        got = np.asarray(ns["round_to_bfloat16"](x.copy()))
        want = tf.cast(tf.cast(x, tf.bfloat16), tf.float32).numpy()
        assert got.dtype == np.float32 and got.shape == x.shape
        nan_got, nan_want = np.isnan(got), np.isnan(want)
        np.testing.assert_array_equal(nan_got, nan_want)          # NaN stays NaN (any NaN equals any NaN)
        np.testing.assert_array_equal(bits(got)[~nan_want], bits(want)[~nan_want])
    # The half-way cases really were ties: some rounded up, some down.
    got_ties = bits(ns["round_to_bfloat16"](ties.view(f32)))
    assert np.any(got_ties > ties) and np.any(got_ties < ties)


@pytest.mark.parametrize("version", VERSIONS)
def test_round_to_bfloat16(version):
    run(version, check_round_to_bfloat16)


# ---------------------------------------------------------------------------------------------------------------
# 2. loss_scale_update: reference keras.optimizers.LossScaleOptimizer (its dynamic_scale and step_counter)

def check_loss_scale_update(ns):
    initial, growth = 64.0, 3
    pattern = [True, True, True, True, False, True, True, False, False, True, True, True, True, True, True, True]
    var = keras.Variable(np.ones(3, np.float32), dtype="float32")
    opt = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(learning_rate=0.1),
                                              initial_scale=initial, dynamic_growth_steps=growth)
    opt.build([var])
    scale, good = initial, 0
    assert float(opt.dynamic_scale.numpy()) == initial and int(opt.step_counter.numpy()) == 0
    for step, finite in enumerate(pattern):
        grad = np.full(3, 1.0 if finite else np.inf, np.float32)
        before = var.numpy().copy()
        opt.apply([tf.constant(grad)], [var])
        moved = not np.array_equal(before, var.numpy())
        scale, good, apply_update = ns["loss_scale_update"](scale, good, finite, growth_steps=growth, factor=2.0)
        assert float(scale) == float(opt.dynamic_scale.numpy()), (step, scale)
        assert int(good) == int(opt.step_counter.numpy()), (step, good)
        assert bool(apply_update) == moved, step
    # The defaults are Keras's: 2000 finite steps to grow by 2.
    s, g = 8.0, 0
    for _ in range(1999):
        s, g, ok = ns["loss_scale_update"](s, g, True)
        assert ok
    assert (float(s), int(g)) == (8.0, 1999)
    s, g, ok = ns["loss_scale_update"](s, g, True)
    assert (float(s), int(g), bool(ok)) == (16.0, 0, True)
    assert ns["loss_scale_update"](16.0, 5, False)[:2] == (8.0, 0)


@pytest.mark.parametrize("version", VERSIONS)
def test_loss_scale_update(version):
    run(version, check_loss_scale_update)


# ---------------------------------------------------------------------------------------------------------------
# 3, 4. lora_dense and lora_merge: reference keras.layers.Dense(d_out) after enable_lora(r, lora_alpha=alpha)

def lora_case(seed=1, N=5, d_in=7, d_out=6, r=3, alpha=8.0):
    rng = np.random.default_rng(seed)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)
    x, W, b, A, B = f(N, d_in), f(d_in, d_out), f(d_out), f(d_in, r), f(r, d_out)
    layer = keras.layers.Dense(d_out)
    layer.build((None, d_in))
    layer.enable_lora(r, lora_alpha=alpha)
    layer._kernel.assign(W)              # the frozen base kernel (layer.kernel is the merged one)
    layer.bias.assign(b)
    layer.lora_kernel_a.assign(A)
    layer.lora_kernel_b.assign(B)
    want = np.asarray(layer(x))
    return x, W, b, A, B, alpha, want


def check_lora_dense(ns):
    for seed, r, alpha in ((1, 3, 8.0), (2, 1, 1.0), (3, 4, 16.0)):
        x, W, b, A, B, alpha, want = lora_case(seed, r=r, alpha=alpha)
        got = np.asarray(ns["lora_dense"](x, W, b, A, B, alpha))
        assert got.shape == want.shape == (x.shape[0], W.shape[1])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def check_lora_merge(ns):
    for seed, r, alpha in ((4, 3, 8.0), (5, 2, 4.0)):
        x, W, b, A, B, alpha, want = lora_case(seed, r=r, alpha=alpha)
        merged = np.asarray(ns["lora_merge"](W, A, B, alpha))
        assert merged.shape == W.shape
        plain = keras.layers.Dense(W.shape[1])          # a plain Dense holding the merged kernel
        plain.build((None, W.shape[0]))
        plain.kernel.assign(merged)
        plain.bias.assign(b)
        np.testing.assert_allclose(np.asarray(plain(x)), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("version", VERSIONS)
def test_lora_dense(version):
    run(version, check_lora_dense)


@pytest.mark.parametrize("version", VERSIONS)
def test_lora_merge(version):
    run(version, check_lora_merge)


# ---------------------------------------------------------------------------------------------------------------
# 5, 6. quantize_int8 and int8_dense: reference keras.layers.Dense(d_out).quantize("int8") and
# keras.quantizers.abs_max_quantize

def int8_layer(w, b=None):
    d_in, d_out = w.shape
    layer = keras.layers.Dense(d_out)
    layer.build((None, d_in))
    layer.kernel.assign(w)
    if b is not None:
        layer.bias.assign(b)
    layer.quantize("int8")
    return layer


def check_quantize_int8(ns):
    rng = np.random.default_rng(6)
    w = rng.standard_normal((9, 5)).astype(np.float32)
    w[:, 2] = 0.0                                   # an all-zero column: epsilon keeps the scale finite
    w[3, 4] = 127.0
    q, scale = ns["quantize_int8"](w)
    layer = int8_layer(w)
    q, scale = np.asarray(q), np.asarray(scale)
    assert q.dtype == np.int8 and q.shape == w.shape
    assert scale.dtype == np.float32 and scale.shape == (w.shape[1],)
    assert q.min() >= -127 and q.max() <= 127
    np.testing.assert_array_equal(q, np.asarray(layer._kernel))
    np.testing.assert_array_equal(bits(scale), bits(np.asarray(layer.kernel_scale).reshape(-1)))
    # Other axes and shapes against keras.quantizers.abs_max_quantize (its scale keeps the axis: squeeze it).
    for shape, axis in (((4, 6, 3), 0), ((4, 6, 3), 1), ((4, 6, 3), 2), ((4, 6, 3), -1), ((8, 5), 1)):
        w = (rng.standard_normal(shape) * 3).astype(np.float32)
        q, scale = ns["quantize_int8"](w, axis=axis)
        kq, ks = keras.quantizers.abs_max_quantize(w, axis=axis)
        ks = np.squeeze(np.asarray(ks), axis=axis)
        assert np.asarray(q).dtype == np.int8 and np.asarray(scale).shape == ks.shape
        np.testing.assert_array_equal(np.asarray(q), np.asarray(kq))
        np.testing.assert_array_equal(bits(scale), bits(ks))


def check_int8_dense(ns):
    rng = np.random.default_rng(7)
    for N, d_in, d_out in ((4, 8, 5), (1, 3, 2), (6, 16, 7)):
        w = rng.standard_normal((d_in, d_out)).astype(np.float32)
        b = rng.standard_normal(d_out).astype(np.float32)
        x = (rng.standard_normal((N, d_in)) * 2).astype(np.float32)
        layer = int8_layer(rng.standard_normal((d_in, d_out)).astype(np.float32))
        q, scale = keras.quantizers.abs_max_quantize(w, axis=0)
        q, scale = np.asarray(q), np.squeeze(np.asarray(scale), axis=0)
        layer._kernel.assign(q)                      # the layer's int8 kernel, kernel_scale and bias set to q/scale/b
        layer.kernel_scale.assign(scale.reshape(np.asarray(layer.kernel_scale).shape))
        layer.bias.assign(b)
        want = np.asarray(layer(x))
        got = np.asarray(ns["int8_dense"](x, q, scale, b))
        assert got.shape == (N, d_out)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("version", VERSIONS)
def test_quantize_int8(version):
    run(version, check_quantize_int8)


@pytest.mark.parametrize("version", VERSIONS)
def test_int8_dense(version):
    run(version, check_int8_dense)


# ---------------------------------------------------------------------------------------------------------------
# 7. ring_allreduce: reference tf.add_n

def check_ring_allreduce(ns):
    rng = np.random.default_rng(8)
    for n, shape, dtype in ((2, (6,), np.float32), (3, (4, 3), np.float32), (4, (2, 4, 2), np.float64),
                            (5, (10,), np.float32)):
        shards = [rng.standard_normal(shape).astype(dtype) for _ in range(n)]
        copies = [s.copy() for s in shards]
        results, bytes_sent = ns["ring_allreduce"](shards)
        want = tf.add_n([tf.constant(s) for s in shards]).numpy()
        assert len(results) == n and len(bytes_sent) == n
        for r in results:
            r = np.asarray(r)
            assert r.shape == shape and r.dtype == dtype
            np.testing.assert_allclose(r, want, rtol=1e-5, atol=1e-6)
        expected = 2 * (n - 1) * shards[0].nbytes // n
        assert [int(s) for s in bytes_sent] == [expected] * n
        for s, c in zip(shards, copies):                 # inputs not modified
            np.testing.assert_array_equal(s, c)


@pytest.mark.parametrize("version", VERSIONS)
def test_ring_allreduce(version):
    run(version, check_ring_allreduce)


# ---------------------------------------------------------------------------------------------------------------
# 8. data_parallel_sgd_step: reference one single-device keras.layers.Dense + SGD step on the whole batch under
# keras.losses.MeanSquaredError (the same math as averaging n equal shards' gradients)

def check_data_parallel_sgd_step(ns):
    rng = np.random.default_rng(9)
    N, d, m, lr = 8, 5, 3, 0.05
    for n in (2, 4):
        W = rng.standard_normal((d, m)).astype(np.float32)
        b = rng.standard_normal(m).astype(np.float32)
        layer = keras.layers.Dense(m)
        layer.build((None, d))
        layer.kernel.assign(W)
        layer.bias.assign(b)
        opt = keras.optimizers.SGD(learning_rate=lr)
        mse = keras.losses.MeanSquaredError()
        for step in range(3):
            x = rng.standard_normal((N, d)).astype(np.float32)
            y = rng.standard_normal((N, m)).astype(np.float32)
            with tf.GradientTape() as tape:
                loss = mse(y, layer(x))
            grads = tape.gradient(loss, layer.trainable_variables)
            opt.apply(grads, layer.trainable_variables)
            W, b = ns["data_parallel_sgd_step"](W, b, x, y, lr, n)
            W, b = np.asarray(W, np.float32), np.asarray(b, np.float32)
            assert W.shape == (d, m) and b.shape == (m,)
            np.testing.assert_allclose(W, layer.kernel.numpy(), rtol=1e-5, atol=1e-6, err_msg=f"n={n} step={step}")
            np.testing.assert_allclose(b, layer.bias.numpy(), rtol=1e-5, atol=1e-6, err_msg=f"n={n} step={step}")


@pytest.mark.parametrize("version", VERSIONS)
def test_data_parallel_sgd_step(version):
    run(version, check_data_parallel_sgd_step)


# ---------------------------------------------------------------------------------------------------------------
# 9. gpt_param_count: reference count_params() of a tied-embedding pre-LN GPT built from Keras layers

class Block(keras.layers.Layer):
    """Pre-LN block: x + MHA(LN(x)), then x + FFN(LN(x)); query/key/value/output projections with biases."""

    def __init__(self, D, F, **kw):
        super().__init__(**kw)
        self.ln1 = keras.layers.LayerNormalization()
        self.attn = keras.layers.MultiHeadAttention(num_heads=2, key_dim=D // 2)
        self.ln2 = keras.layers.LayerNormalization()
        self.ff1 = keras.layers.Dense(F, activation="gelu")
        self.ff2 = keras.layers.Dense(D)

    def call(self, x):
        h = self.ln1(x)
        x = x + self.attn(h, h, use_causal_mask=True)
        return x + self.ff2(self.ff1(self.ln2(x)))


class GPT(keras.Model):
    def __init__(self, V, T, D, L, F, **kw):
        super().__init__(**kw)
        self.tok = keras.layers.Embedding(V, D)
        self.pos = keras.layers.Embedding(T, D)
        self.blocks = [Block(D, F) for _ in range(L)]
        self.ln_f = keras.layers.LayerNormalization()

    def call(self, tokens):
        T = keras.ops.shape(tokens)[1]
        x = self.tok(tokens) + self.pos(keras.ops.arange(T))
        for block in self.blocks:
            x = block(x)
        x = self.ln_f(x)
        return keras.ops.matmul(x, keras.ops.transpose(self.tok.embeddings))   # tied output: no new weights


def check_gpt_param_count(ns):
    for V, T, D, L, F in ((11, 5, 4, 1, 8), (23, 7, 8, 2, 16), (50, 3, 6, 3, 10), (17, 9, 12, 2, 48)):
        model = GPT(V, T, D, L, F)
        logits = model(np.zeros((1, T), np.int32))
        assert tuple(logits.shape) == (1, T, V)
        got = ns["gpt_param_count"](V, T, D, L, F)
        assert type(got) is int
        assert got == model.count_params(), (V, T, D, L, F)
    got = ns["gpt_param_count"](50257, 1024, 768, 12, 3072)
    assert type(got) is int and got == 124_439_808


@pytest.mark.parametrize("version", VERSIONS)
def test_gpt_param_count(version):
    run(version, check_gpt_param_count)
