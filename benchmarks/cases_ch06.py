"""Chapter 6 operations: bfloat16 rounding by bit arithmetic against tf.cast, the LoRA layer against Keras's Dense
with LoRA enabled, and the int8 layer against Keras's quantized Dense. bfloat16 rounding and the int8 layer take
float32 inputs by definition: their float64 rows time the same float32 work."""

import numpy as np

from dlcourse import notebooks, reference

from run import Case, compiled

ch06 = notebooks.load_functions(notebooks.solution_path("ch06_scale"))

N, D_IN, D_OUT, RANK, VALUES = 256, 1024, 1024, 16, 1 << 20
# NumPy's integer matrix product has no BLAS behind it: the int8 layer is timed on a smaller layer.
N8, D8 = 64, 512


def bfloat16_case(dtype):
    tf = reference.tf()
    x = np.random.default_rng(0).normal(size=VALUES).astype(np.float32)
    call = compiled(lambda a: tf.cast(tf.cast(a, tf.bfloat16), tf.float32))
    tx = tf.constant(x)
    return (lambda: ch06.round_to_bfloat16(x)), (lambda: call(tx).numpy())


def lora_case(dtype):
    keras = reference.keras()
    rng = np.random.default_rng(1)
    x, W, b = (rng.normal(size=s).astype(dtype) for s in ((N, D_IN), (D_IN, D_OUT), (D_OUT,)))
    A, B = (rng.normal(size=s).astype(dtype) for s in ((D_IN, RANK), (RANK, D_OUT)))
    layer = keras.layers.Dense(D_OUT, dtype=dtype)
    layer.build((None, D_IN))
    layer.set_weights([W, b])
    layer.enable_lora(RANK, lora_alpha=2.0 * RANK)
    layer.lora_kernel_a.assign(A)
    layer.lora_kernel_b.assign(B)
    call = compiled(layer)
    tx = reference.tf().constant(x)
    return (lambda: ch06.lora_dense(x, W, b, A, B, 2.0 * RANK)), (lambda: call(tx).numpy())


def int8_case(dtype):
    keras = reference.keras()
    rng = np.random.default_rng(2)
    x, W, b = (rng.normal(size=s).astype(np.float32) for s in ((N8, D8), (D8, D8), (D8,)))
    layer = keras.layers.Dense(D8)
    layer.build((None, D8))
    layer.set_weights([W, b])
    layer.quantize("int8")
    weights = {w.name: w.numpy() for w in layer.weights}
    q, scale = weights["kernel"], weights["kernel_scale"]
    call = compiled(layer)
    tx = reference.tf().constant(x)
    return (lambda: ch06.int8_dense(x, q, scale, b)), (lambda: call(tx).numpy())


CASES = [
    Case("round_to_bfloat16", f"x ({VALUES},) float32", bfloat16_case, "tf.cast to bfloat16 and back in tf.function"),
    Case("lora_dense", f"x ({N},{D_IN}), W ({D_IN},{D_OUT}), r {RANK}", lora_case, "Dense.enable_lora in tf.function"),
    Case("int8_dense", f"x ({N8},{D8}) float32, q ({D8},{D8}) int8", int8_case, "Dense.quantize('int8') in tf.function"),
]
