"""TensorFlow/Keras as the reference: quiet import, device, seeds, gradients, layers.

Everything a notebook needs to compare its NumPy code with Keras on the same
weights. TensorFlow is imported on first use, never at ``import dlcourse``.

Weight layouts follow Keras exactly (docs/maintainers/reference.md); every builder checks
the NumPy arrays against the shapes Keras creates and raises ValueError naming
the weight and the expected layout.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import os
import random
import sys
import types
from collections import OrderedDict

import numpy as np

__all__ = [
    "tf",
    "keras",
    "device",
    "describe_device",
    "disable_tf32",
    "seed_everything",
    "tape_gradients",
    "build_layer",
    "dense",
    "conv2d",
    "simple_rnn",
    "lstm",
    "gru",
    "multi_head_attention",
    "layer_norm",
    "gelu",
    "GPT_BLOCK_KEYS",
    "gpt_layers",
    "load_weights",
    "keras_block",
    "keras_gpt",
    "cached",
    "cache_info",
    "clear_cache",
]


@contextlib.contextmanager
def _stderr_silenced():
    """Send file descriptor 2 to /dev/null: TensorFlow's C++ logging bypasses sys.stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


_TF = None


def tf(logical_cpus: int | None = None):
    """Import TensorFlow once, quietly, and return the module.

    The first import writes absl/oneDNN/CUDA lines to stderr, and nbgrader
    scores a test cell 0 if it writes to stderr. So the import, and a first
    tiny op that initialises the devices, run with fd 2 silenced.

    ``logical_cpus`` (opt-in, chapter 6 only; the default changes nothing): split the CPU into that many logical
    devices, for ``tf.distribute.MirroredStrategy``. They can only be set before the runtime starts: on the first
    call they are set between the import and the first op; if the runtime has started already (the grader's
    kernel imports TensorFlow before any chapter), its eager context is started again with them.
    """
    global _TF
    if _TF is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with _stderr_silenced():
            import tensorflow

            try:
                import absl.logging

                absl.logging.set_verbosity(absl.logging.ERROR)
            except ImportError:  # pragma: no cover - absl ships with tensorflow
                pass
            tensorflow.get_logger().setLevel("ERROR")
            if logical_cpus:
                _set_logical_cpus(tensorflow, logical_cpus)
            with tensorflow.device(device()):
                tensorflow.constant(1.0) + 1.0  # device initialisation logs now, not in a graded cell
            disable_tf32()
        _TF = tensorflow
    elif logical_cpus and len(_TF.config.list_logical_devices("CPU")) < logical_cpus:
        from tensorflow.python.eager import context

        with _stderr_silenced():
            context._reset_context()  # the only way to set logical devices once the runtime runs
            _set_logical_cpus(_TF, logical_cpus)
            disable_tf32()
    return _TF


def _set_logical_cpus(tensorflow, n: int) -> None:
    cpu = tensorflow.config.list_physical_devices("CPU")[0]
    tensorflow.config.set_logical_device_configuration(cpu, [tensorflow.config.LogicalDeviceConfiguration()] * n)


def keras():
    """Return the ``keras`` module (Keras 3), after the quiet TensorFlow import."""
    tf()
    import keras as _keras

    return _keras


def device() -> str:
    """The device Keras references run on: ``"/GPU:0"`` if TensorFlow sees a GPU, else ``"/CPU:0"``."""
    import tensorflow

    return "/GPU:0" if tensorflow.config.list_physical_devices("GPU") else "/CPU:0"


def disable_tf32() -> None:
    """Turn TensorFloat-32 off. On Ampere+ GPUs TF32 matmuls/convs are ~1e-3 off in float32,
    which would fail every float32 comparison; on a CPU this is a no-op."""
    import tensorflow

    tensorflow.config.experimental.enable_tensor_float_32_execution(False)


def describe_device() -> str:
    """One line: TensorFlow and Keras versions, the device used, and the TF32 state."""
    t, k = tf(), keras()
    gpus = t.config.list_physical_devices("GPU")
    where = f"GPU ({len(gpus)} found)" if gpus else "CPU (no GPU found)"
    tf32 = "on" if t.config.experimental.tensor_float_32_execution_enabled() else "off"
    return f"TensorFlow {t.__version__}, Keras {k.__version__}, reference runs on {where}, TF32 {tf32}"


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python, NumPy and TensorFlow/Keras, and return ``np.random.default_rng(seed)``.

    Use the returned generator for data in notebooks; the global seeds are for
    Keras initialisers and any library code that uses the global state.
    """
    random.seed(seed)
    np.random.seed(seed)
    keras().utils.set_random_seed(seed)
    return np.random.default_rng(seed)


def tape_gradients(fn, *inputs, dout=None, variables=()):
    """Run ``fn`` on ``inputs`` under ``tf.GradientTape``; return ``(out, d_inputs, d_variables)``.

    ``inputs`` are NumPy arrays; each becomes a watched tensor of its own dtype.
    The loss is ``sum(fn(*inputs) * dout)`` (``dout`` defaults to ones), so the
    gradients are those a backward pass receiving ``dout`` must produce.
    ``variables`` are extra ``tf.Variable``s (for example ``layer.trainable_weights``)
    to differentiate with respect to. All results are NumPy arrays; a gradient
    that TensorFlow reports as None (no dependence) is returned as zeros.
    """
    t = tf()
    tensors = [t.convert_to_tensor(np.asarray(x)) for x in inputs]
    variables = list(variables)
    with t.device(device()), t.GradientTape(persistent=False) as tape:
        for x in tensors:
            tape.watch(x)
        out = fn(*tensors)
        g = t.ones_like(out) if dout is None else t.convert_to_tensor(np.asarray(dout), dtype=out.dtype)
        if tuple(g.shape) != tuple(out.shape):
            raise ValueError(f"dout must have the output's shape {tuple(out.shape)}, got {tuple(g.shape)}")
        loss = t.reduce_sum(out * g)
    grads = tape.gradient(loss, tensors + variables)
    sources = tensors + variables
    grads = [np.zeros(s.shape, s.dtype.as_numpy_dtype) if gr is None else np.asarray(gr) for s, gr in zip(sources, grads)]
    return np.asarray(out), grads[: len(tensors)], grads[len(tensors) :]


# ----------------------------------------------------------------------------
# Keras layers from NumPy weights


def _dtype_of(*arrays) -> str:
    kinds = {np.asarray(a).dtype for a in arrays}
    if kinds == {np.dtype(np.float64)}:
        return "float64"
    if kinds == {np.dtype(np.float32)}:
        return "float32"
    raise ValueError(f"weights must all be float64 or all float32, got {sorted(str(k) for k in kinds)}")


def _expect_ndim(name: str, a, ndim: int, layout: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D with layout {layout}, got shape {a.shape}")
    return a


def build_layer(layer, input_shape, weights, *, names=None):
    """Build a Keras ``layer`` for ``input_shape`` and load ``weights`` in ``get_weights()`` order.

    ``input_shape`` is a shape tuple (batch dimension included, may be None) or,
    for layers with several inputs, a tuple of them passed to ``layer.build``.
    Each array is checked against the shape Keras created; a mismatch raises
    ValueError naming the weight (``names`` gives readable names). Returns the layer.
    """
    with tf().device(device()):
        if isinstance(input_shape, list):
            layer.build(*input_shape)
        else:
            layer.build(input_shape)
    expected = [tuple(w.shape) for w in layer.weights]
    weights = [np.asarray(w) for w in weights]
    names = names or [w.path for w in layer.weights]
    if len(weights) != len(expected):
        raise ValueError(f"{layer.__class__.__name__} has {len(expected)} weights {names}, got {len(weights)} arrays")
    for n, w, shape in zip(names, weights, expected):
        if w.shape != shape:
            raise ValueError(f"{layer.__class__.__name__} weight {n} must have shape {shape}, got {w.shape}")
    layer.set_weights(weights)
    return layer


def dense(W, b, activation=None):
    """``keras.layers.Dense`` computing ``activation(x @ W + b)``. ``W (D, M)``, ``b (M,)``."""
    W = _expect_ndim("W", W, 2, "(in, out)")
    b = _expect_ndim("b", b, 1, "(out,)")
    if W.shape[1] != b.shape[0]:
        raise ValueError(
            f"W {W.shape} and b {b.shape} disagree: Keras stores the Dense kernel as (in, out), so W's "
            f"second axis must equal len(b). A (out, in) kernel, as torch.nn.Linear stores it, needs W.T"
        )
    layer = keras().layers.Dense(W.shape[1], activation=activation, dtype=_dtype_of(W, b))
    return build_layer(layer, (None, W.shape[0]), [W, b], names=["W (in, out)", "b (out,)"])


def conv2d(w, b, strides=1, padding="valid", dilation_rate=1):
    """``keras.layers.Conv2D`` (cross-correlation, NHWC). ``w (kh, kw, C, F)`` (HWIO), ``b (F,)``."""
    w = _expect_ndim("w", w, 4, "(kh, kw, in_channels, filters) (HWIO)")
    b = _expect_ndim("b", b, 1, "(filters,)")
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    kh, kw, c, f = w.shape
    layer = keras().layers.Conv2D(
        f, (kh, kw), strides=strides, padding=padding, dilation_rate=dilation_rate, dtype=_dtype_of(w, b)
    )
    return build_layer(layer, (None, None, None, c), [w, b], names=["w (kh, kw, C, F)", "b (F,)"])


def _recurrent(cls, W, U, b, blocks, gates, b_layout, **kwargs):
    W = _expect_ndim("W", W, 2, f"(D, {blocks}H), blocks {gates}")
    U = _expect_ndim("U", U, 2, f"(H, {blocks}H), blocks {gates}")
    H = U.shape[0]
    if U.shape[1] != blocks * H or W.shape[1] != blocks * H:
        transposed = " (U looks transposed)" if U.shape[0] == blocks * U.shape[1] else ""
        raise ValueError(
            f"{cls.__name__} needs W (D, {blocks}H) and U (H, {blocks}H) with gate blocks {gates}; "
            f"got W {W.shape}, U {U.shape}{transposed}"
        )
    layer = cls(H, dtype=_dtype_of(W, U, b), **kwargs)
    return build_layer(
        layer, (None, None, W.shape[0]), [W, U, b], names=["W (kernel)", "U (recurrent_kernel)", f"b {b_layout}"]
    )


def simple_rnn(W, U, b, return_sequences=True, return_state=False):
    """``keras.layers.SimpleRNN``: ``h_t = tanh(x_t W + h_{t-1} U + b)``. ``W (D,H)``, ``U (H,H)``, ``b (H,)``."""
    return _recurrent(
        keras().layers.SimpleRNN, W, U, b, 1, "(h)", "(H,)",
        return_sequences=return_sequences, return_state=return_state,
    )


def lstm(W, U, b, return_sequences=True, return_state=True):
    """``keras.layers.LSTM``. ``W (D,4H)``, ``U (H,4H)``, one bias ``b (4H,)``; gate blocks i, f, c, o."""
    return _recurrent(
        keras().layers.LSTM, W, U, b, 4, "i, f, c, o", "(4H,)",
        return_sequences=return_sequences, return_state=return_state,
    )


def gru(W, U, b, return_sequences=True, return_state=False):
    """``keras.layers.GRU`` (reset_after=True). ``W (D,3H)``, ``U (H,3H)``, ``b (2,3H)``; blocks z, r, h.

    Row 0 of ``b`` is the input bias, row 1 the recurrent bias.
    """
    return _recurrent(
        keras().layers.GRU, W, U, b, 3, "z, r, h", "(2, 3H): input bias, recurrent bias",
        reset_after=True, return_sequences=return_sequences, return_state=return_state,
    )


MHA_KEYS = ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")


def multi_head_attention(params, num_heads):
    """``keras.layers.MultiHeadAttention`` from ``params`` with keys ``Wq bq Wk bk Wv bv Wo bo``.

    Shapes, as Keras stores them: ``Wq (E_q, heads, key_dim)``, ``bq (heads, key_dim)``,
    ``Wk (E_v, heads, key_dim)``, ``Wv (E_v, heads, value_dim)``, ``Wo (heads, value_dim, E_q)``,
    ``bo (E_q,)``.
    """
    missing = [k for k in MHA_KEYS if k not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; expected keys {list(MHA_KEYS)}")
    Wq = _expect_ndim("Wq", params["Wq"], 3, "(E, heads, key_dim)")
    Wk = _expect_ndim("Wk", params["Wk"], 3, "(E_kv, heads, key_dim)")
    Wv = _expect_ndim("Wv", params["Wv"], 3, "(E_kv, heads, value_dim)")
    _expect_ndim("Wo", params["Wo"], 3, "(heads, value_dim, E)")
    if Wq.shape[1] != num_heads:
        raise ValueError(f"Wq has {Wq.shape[1]} heads on axis 1, but num_heads={num_heads}")
    weights = [params[k] for k in MHA_KEYS]
    layer = keras().layers.MultiHeadAttention(
        num_heads=num_heads, key_dim=Wq.shape[2], value_dim=Wv.shape[2], dtype=_dtype_of(*weights)
    )
    query_shape = (None, None, Wq.shape[0])
    value_shape = (None, None, Wv.shape[0])
    key_shape = (None, None, Wk.shape[0])
    return build_layer(layer, [query_shape, value_shape, key_shape], weights, names=list(MHA_KEYS))


def layer_norm(gamma, beta, epsilon=1e-3):
    """``keras.layers.LayerNormalization`` over the last axis. ``gamma (E,)``, ``beta (E,)``; Keras's eps is 1e-3."""
    gamma = _expect_ndim("gamma", gamma, 1, "(E,)")
    beta = _expect_ndim("beta", beta, 1, "(E,)")
    layer = keras().layers.LayerNormalization(epsilon=epsilon, dtype=_dtype_of(gamma, beta))
    return build_layer(layer, (None, None, gamma.shape[0]), [gamma, beta], names=["gamma (E,)", "beta (E,)"])


# ---------------------------------------------------------------------------- chapter 5's GPT in Keras
# The one Keras reference of chapter 5's decoder (its tests, its training comparison, chapter 6's parameter
# count and `make bench` all build it from here).

GPT_BLOCK_KEYS = ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo", "gamma1", "beta1", "W1", "b1", "W2", "b2",
                  "gamma2", "beta2")


def gelu(z, approximate=False):
    """GELU in TensorFlow ops with the constants in ``z``'s own dtype: exact in float64, where
    ``keras.activations.gelu`` is about 1e-8 * z**2 off. ``approximate=True``: the tanh form (GPT-2's)."""
    tf_ = tf()
    c = lambda value: tf_.constant(value, dtype=z.dtype)
    if approximate:
        return c(0.5) * z * (c(1.0) + tf_.tanh(c((2 / np.pi) ** 0.5) * (z + c(0.044715) * z ** 3)))
    return c(0.5) * z * tf_.math.erfc(-z * c(0.5 ** 0.5))


def _tree_map(f, *trees):
    if isinstance(trees[0], dict):
        return {key: _tree_map(f, *[t[key] for t in trees]) for key in trees[0]}
    if isinstance(trees[0], (list, tuple)):
        return [_tree_map(f, *items) for items in zip(*trees)]
    return f(*trees)


_GPT_LAYERS = None


def gpt_layers():
    """``(KerasBlock, KerasGPT)``: chapter 5's decoder block and model as Keras classes (defined on first use,
    so that importing dlcourse does not import Keras)."""
    global _GPT_LAYERS
    if _GPT_LAYERS is not None:
        return _GPT_LAYERS
    keras_, tf_ = keras(), tf()

    class KerasBlock(keras_.layers.Layer):
        """The pre-LN decoder block: h = x + MHA(LN1(x)) (causal), out = h + FFN(LN2(h)), FFN(u) = gelu(u W1 + b1)
        W2 + b2, LayerNorm epsilon 1e-5. The options build the classic mistakes: pre_ln=False (chapter 4's
        post-LN), eps=1e-3 (Keras's default), approximate=True (tanh gelu), mask="none" (no causal mask) or
        "future" (the mask inverted: each position sees only itself and later)."""

        def __init__(self, num_heads, key_dim, F, eps=1e-5, pre_ln=True, approximate=False, mask="causal",
                     dtype="float64", **kw):
            super().__init__(dtype=dtype, **kw)
            self.pre_ln, self.mask_kind = pre_ln, mask
            self.mha = keras_.layers.MultiHeadAttention(num_heads, key_dim, dtype=dtype)
            self.ln1 = keras_.layers.LayerNormalization(epsilon=eps, dtype=dtype)
            self.ln2 = keras_.layers.LayerNormalization(epsilon=eps, dtype=dtype)
            self.F, self.approximate, self.dtype_name = F, approximate, dtype

        def build(self, input_shape):
            D = input_shape[-1]
            self.ffn1 = keras_.layers.Dense(self.F, activation=lambda z: gelu(z, self.approximate), dtype=self.dtype_name)
            self.ffn2 = keras_.layers.Dense(D, dtype=self.dtype_name)
            self.mha.build(input_shape, input_shape)
            for layer, shape in ((self.ln1, input_shape), (self.ln2, input_shape), (self.ffn1, input_shape),
                                 (self.ffn2, tuple(input_shape[:-1]) + (self.F,))):
                layer.build(shape)

        def attend(self, u):
            if self.mask_kind == "causal":
                return self.mha(u, u, use_causal_mask=True)
            if self.mask_kind == "future":
                T = tf_.shape(u)[1]
                future = tf_.linalg.band_part(tf_.ones((T, T), dtype=tf_.bool), 0, -1)  # True on and above the diagonal
                return self.mha(u, u, attention_mask=future[None])
            return self.mha(u, u)

        def call(self, x):
            ffn = lambda u: self.ffn2(self.ffn1(u))
            if self.pre_ln:
                h = x + self.attend(self.ln1(x))
                return h + ffn(self.ln2(h))
            h = self.ln1(x + self.attend(x))
            return self.ln2(h + ffn(h))

        def variables_by_key(self):
            return dict(zip(GPT_BLOCK_KEYS, self.mha.weights + self.ln1.weights + self.ffn1.weights
                            + self.ffn2.weights + self.ln2.weights))

    class KerasGPT(keras_.Model):
        """Chapter 5's GPT: Embedding + learned positions P[:T], the blocks, a final LayerNormalization, tied
        output logits = x @ E.T. Options: the block's (see KerasBlock), final_ln, positions (False: the
        mistakes of leaving them out)."""

        def __init__(self, V, T_max, D, num_heads, key_dim, F, n_layers, eps=1e-5, final_ln=True, positions=True,
                     dtype="float64", **block_kw):
            super().__init__(dtype=dtype)
            self.tok = keras_.layers.Embedding(V, D, dtype=dtype)
            self.tok.build()
            self.P = self.add_weight(shape=(T_max, D), initializer="zeros", name="P", dtype=dtype)
            self.blocks = [KerasBlock(num_heads, key_dim, F, eps=eps, dtype=dtype, **block_kw) for _ in range(n_layers)]
            for b in self.blocks:
                b.build((None, None, D))
            self.ln_f = keras_.layers.LayerNormalization(epsilon=eps, dtype=dtype)
            self.ln_f.build((None, None, D))
            self.final_ln, self.positions = final_ln, positions
            self.built = True  # every weight exists already: count_params() works before a first call

        def hidden(self, ids):
            """The input to the output layer, (N, T, D)."""
            x = self.tok(ids)
            if self.positions:
                x = x + self.P[: tf_.shape(ids)[1]]
            for b in self.blocks:
                x = b(x)
            return self.ln_f(x) if self.final_ln else x

        def call(self, ids):
            return tf_.matmul(self.hidden(ids), self.tok.embeddings, transpose_b=True)

        def variables_by_key(self):
            return {"E": self.tok.embeddings, "P": self.P, "blocks": [b.variables_by_key() for b in self.blocks],
                    "gamma_f": self.ln_f.gamma, "beta_f": self.ln_f.beta}

    _GPT_LAYERS = (KerasBlock, KerasGPT)
    return _GPT_LAYERS


def load_weights(variables, params):
    """Assign NumPy params to the matching Keras variables (the same nested keys), checking every shape."""
    def assign(var, value):
        if tuple(var.shape) != np.shape(value):
            raise ValueError(f"{var.path}: Keras shape {tuple(var.shape)}, got {np.shape(value)}")
        var.assign(value)
    _tree_map(assign, variables, params)


def keras_block(p, num_heads, **options):
    """A KerasBlock holding the block params ``p`` (chapter 4's MHA keys, gamma1 beta1 W1 b1 W2 b2 gamma2
    beta2); ``options`` as KerasBlock's (dtype among them, float64 by default)."""
    KerasBlock, _ = gpt_layers()
    D, key_dim, F = p["Wq"].shape[0], p["Wq"].shape[2], p["W1"].shape[1]
    block = KerasBlock(num_heads, key_dim, F, **options)
    block.build((None, None, D))
    load_weights(block.variables_by_key(), {k: p[k] for k in GPT_BLOCK_KEYS})
    return block


def keras_gpt(params, num_heads, **options):
    """A KerasGPT holding ``params`` (E (V, D), P (T_max, D), blocks, gamma_f, beta_f)."""
    _, KerasGPT = gpt_layers()
    (V, D), T_max = params["E"].shape, params["P"].shape[0]
    p0 = params["blocks"][0]
    model = KerasGPT(V, T_max, D, num_heads, p0["Wq"].shape[2], p0["W1"].shape[1], len(params["blocks"]), **options)
    load_weights(model.variables_by_key(), params)
    return model


# ----------------------------------------------------------------------------
# Reference results computed once per process


class _Unkeyable(TypeError):
    """A value that is not plain data (a layer, a generator, a lambda): the call is not cached."""


#: Results of ``cached`` functions: key -> (result, bytes). Module state, so it outlives the grader's namespace
#: reset (``grading.proxy.reset_namespace``) and the given cells' re-runs, which define the functions again.
_CACHE: OrderedDict = OrderedDict()
CACHE_BYTES = 256 * 2**20  # the least recently used results go beyond this
_STATS = {"hits": 0, "misses": 0, "uncached": 0}
_PLAIN = (bool, int, float, complex, str, bytes, type(None))


def _feed(h, x, seen=None) -> None:
    """Add plain data ``x`` to the hash ``h``, its type and shape included; raise _Unkeyable for anything else."""
    if isinstance(x, np.ndarray) or isinstance(x, np.generic):
        a = np.asarray(x)
        if a.dtype.hasobject:
            raise _Unkeyable("object array")
        h.update(f"{type(x).__name__}{a.dtype.str}{a.shape}".encode())  # a 0-d array is not a NumPy scalar
        h.update(np.ascontiguousarray(a).tobytes())
    elif isinstance(x, _PLAIN):
        _feed_text(h, f"{type(x).__name__}:{x!r}")
    elif isinstance(x, (tuple, list)):
        h.update(f"{type(x).__name__}{len(x)}(".encode())
        for item in x:
            _feed(h, item, seen)
        h.update(b")")
    elif isinstance(x, dict):
        h.update(f"dict{len(x)}(".encode())
        for k in x:  # in insertion order, which list(d.values()) sees
            _feed(h, k, seen)
            _feed(h, x[k], seen)
        h.update(b")")
    elif isinstance(x, types.FunctionType):
        _feed_function(h, x, seen if seen is not None else set())
    else:
        raise _Unkeyable(type(x).__name__)


def _feed_code(h, code: types.CodeType) -> None:
    """Bytecode, names, parameter names and counts, and each constant with its type and length (so that the
    constants 1, 23 and 12, 3 differ)."""
    h.update(code.co_code)
    h.update(repr((code.co_names, code.co_varnames, code.co_argcount, code.co_posonlyargcount,
                   code.co_kwonlyargcount, code.co_flags)).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            h.update(b"C(")
            _feed_code(h, const)
            h.update(b")")
        else:
            _feed_text(h, f"{type(const).__name__}:{const!r}")


def _feed_text(h, text: str) -> None:
    """Length first, so that consecutive texts cannot run together ("1" then "23" is not "12" then "3")."""
    h.update(f"{len(text)}:{text}".encode())


def _feed_function(h, fn: types.FunctionType, seen: set) -> None:
    """What a function computes: its code, defaults and closure, and the globals it names that are plain data or
    functions themselves (a constant such as EPS, a table of them, a helper it calls); modules and classes are
    left out."""
    if id(fn) in seen:
        return
    seen.add(id(fn))
    h.update(fn.__qualname__.encode())
    _feed_code(h, fn.__code__)
    _feed(h, (fn.__defaults__, fn.__kwdefaults__), seen)
    for cell in fn.__closure__ or ():
        _feed_named(h, "", cell.cell_contents, seen)
    names = set(fn.__code__.co_names)
    for const in fn.__code__.co_consts:  # the names used by its nested functions and lambdas
        if isinstance(const, types.CodeType):
            names.update(const.co_names)
    for name in sorted(names):
        _feed_named(h, name, fn.__globals__.get(name), seen)


def _feed_named(h, name: str, value, seen: set) -> None:
    """A global or closure value of a cached function: plain data (tables of it too: tuples, lists and dicts) and
    functions count; modules, classes and other objects (a Keras strategy, ``tf``, a dict of strategies) are left
    out, so a reference must not compute from their state."""
    if isinstance(value, (np.ndarray, np.generic, *_PLAIN[:-1], tuple, list, dict, types.FunctionType)):
        h.update(name.encode())
        try:
            _feed(h, value, seen)
        except _Unkeyable:  # an object array
            h.update(b"?")


def _nbytes(x) -> int:
    if isinstance(x, np.ndarray):
        return x.nbytes
    if isinstance(x, (tuple, list)):
        return sum(_nbytes(i) for i in x)
    if isinstance(x, dict):
        return sum(_nbytes(i) for i in x.values())
    return 64


def _is_result(x) -> bool:
    """Plain data that a copy can hand out safely: NumPy arrays and scalars, numbers, strings, and tuples, lists
    and dicts of those (not a Keras layer or a tensor, which could change after the call)."""
    if isinstance(x, (np.ndarray, np.generic)):
        return not np.asarray(x).dtype.hasobject
    if isinstance(x, _PLAIN):
        return True
    if isinstance(x, (tuple, list)):
        return all(_is_result(i) for i in x)
    if isinstance(x, dict):
        return all(isinstance(k, _PLAIN) and _is_result(v) for k, v in x.items())
    return False


def cached(fn):
    """Decorator: compute a reference once per process for the same arguments, bit for bit.

    For a **pure** reference: its result depends on its arguments only (a Keras layer built in it has every weight
    set from them; no global random state), and it returns plain data (NumPy arrays, numbers, tuples, lists and
    dicts of those). The key is the exact bytes, dtypes and shapes of the arguments, and what the function computes:
    its code, defaults, closure, and the plain constants and functions it names. A call with anything else as an
    argument (a layer, a generator) is not cached, only run. Each call returns its own copy of the result.

    The results are kept in this module, so they outlive the grader kernel's reset between phases and between
    submissions, and a given cell that defines the function again: a visible test part that the hidden phase runs
    again, and every further submission of a batch or of the warm self-check service, reuse them. Only trusted
    code runs in the grader's kernel, and a student's function is never an argument here (its results can be:
    the key is then their bytes). At most ``CACHE_BYTES`` of results are kept, the least recently used dropped.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        h = hashlib.blake2b(digest_size=20)
        try:
            _feed_function(h, fn, set())
            _feed(h, (args, kwargs))
        except _Unkeyable:
            _STATS["uncached"] += 1
            return fn(*args, **kwargs)
        key = h.digest()
        if key in _CACHE:
            _CACHE.move_to_end(key)
            _STATS["hits"] += 1
            return copy.deepcopy(_CACHE[key][0])
        result = fn(*args, **kwargs)
        _STATS["misses"] += 1
        if _is_result(result):
            size = _nbytes(result)
            _CACHE[key] = (copy.deepcopy(result), size)
            total = sum(s for _, s in _CACHE.values())
            while total > CACHE_BYTES and _CACHE:
                total -= _CACHE.popitem(last=False)[1][1]
        return result

    return wrapper


def cache_info() -> dict:
    """{"hits", "misses", "uncached", "entries", "bytes"} of ``cached`` since this process started (or the last
    ``clear_cache``)."""
    return {**_STATS, "entries": len(_CACHE), "bytes": sum(s for _, s in _CACHE.values())}


def clear_cache() -> None:
    """Forget every cached result and the counts."""
    _CACHE.clear()
    _STATS.update(hits=0, misses=0, uncached=0)
