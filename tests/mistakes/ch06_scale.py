"""Chapter 6's wrong answers: the classic slips of 16-bit rounding, loss scaling, LoRA, int8 quantization, the ring
all-reduce, data parallelism and the parameter count, and the shortcuts a learner reaches for (a library's bfloat16
type, an int8 product that overflows)."""

from mistakes import Mistake

DEPENDS = {}  # every answer of the chapter stands alone


def swap(code: str, *pairs: tuple[str, str]) -> str:
    """``code`` (a solution answer) with each ``old`` fragment replaced by ``new``: one realistic slip."""
    for old, new in pairs:
        assert old in code, old
        code = code.replace(old, new)
    return code


# ---------------------------------------------------------------------------------------------- exercise 1
BF16 = '''
def round_to_bfloat16(x):
    x = np.asarray(x, dtype=np.float32)
    u = x.view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    rounded = np.where(np.isnan(x), 0x7FC00000, rounded)
    return rounded.astype(np.uint32).view(np.float32)
'''
BF16_ROUND = "rounded = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000"
BF16_NAN = "rounded = np.where(np.isnan(x), 0x7FC00000, rounded)"

# ---------------------------------------------------------------------------------------------- exercise 2
SCALE = '''
def loss_scale_update(scale, good_steps, grads_finite, growth_steps=2000, factor=2.0):
    if not grads_finite:
        return float(scale) / 2.0, 0, False
    if good_steps + 1 >= growth_steps:
        return float(scale) * factor, 0, True
    return float(scale), int(good_steps) + 1, True
'''

# ---------------------------------------------------------------------------------------------- exercises 3, 4
LORA = '''
def lora_dense(x, W, b, A, B, alpha):
    r = A.shape[1]
    return x @ W + b + (alpha / r) * ((x @ A) @ B)
'''
LORA_OUT = "return x @ W + b + (alpha / r) * ((x @ A) @ B)"
MERGE = '''
def lora_merge(W, A, B, alpha):
    return W + (alpha / A.shape[1]) * (A @ B)
'''
MERGE_OUT = "return W + (alpha / A.shape[1]) * (A @ B)"

# ---------------------------------------------------------------------------------------------- exercises 5, 6
QUANT = '''
def quantize_int8(w, axis=0):
    w = np.asarray(w, dtype=np.float32)
    m = np.max(np.abs(w), axis=axis, keepdims=True)
    scale = np.float32(127) / (m + np.float32(1e-7))
    q = np.clip(np.round(w * scale), -127, 127).astype(np.int8)
    return q, np.squeeze(scale, axis=axis)
'''
Q_SCALE = "scale = np.float32(127) / (m + np.float32(1e-7))"
Q_Q = "q = np.clip(np.round(w * scale), -127, 127).astype(np.int8)"
Q_RET = "return q, np.squeeze(scale, axis=axis)"
INT8 = '''
def int8_dense(x, q, scale, b):
    x = np.asarray(x, np.float32)
    t = np.float32(127) / (np.max(np.abs(x), axis=-1, keepdims=True) + np.float32(1e-7))
    p = np.clip(np.round(x * t), -127, 127).astype(np.int32)
    acc = (p @ q.astype(np.int32)).astype(np.float32)
    return acc / (scale * t) + b
'''
I_T = "t = np.float32(127) / (np.max(np.abs(x), axis=-1, keepdims=True) + np.float32(1e-7))"
I_P = "p = np.clip(np.round(x * t), -127, 127).astype(np.int32)"
I_ACC = "acc = (p @ q.astype(np.int32)).astype(np.float32)"
I_RET = "return acc / (scale * t) + b"

# ---------------------------------------------------------------------------------------------- exercise 7
RING = '''
def ring_allreduce(shards):
    n = len(shards)
    shape = np.shape(shards[0])
    chunks = [np.array_split(np.array(s, copy=True).ravel(), n) for s in shards]
    sent = [0] * n
    for s in range(n - 1):
        msgs = [(i, (i - s) % n, chunks[i][(i - s) % n].copy()) for i in range(n)]
        for i, c, data in msgs:
            chunks[(i + 1) % n][c] += data
            sent[i] += data.nbytes
    for s in range(n - 1):
        msgs = [(i, (i + 1 - s) % n, chunks[i][(i + 1 - s) % n].copy()) for i in range(n)]
        for i, c, data in msgs:
            chunks[(i + 1) % n][c] = data
            sent[i] += data.nbytes
    return [np.concatenate(ch).reshape(shape) for ch in chunks], sent
'''

# ---------------------------------------------------------------------------------------------- exercise 8
DP = '''
def data_parallel_sgd_step(W, b, x, y, lr, n_replicas):
    N = np.shape(x)[0]
    if N % n_replicas:
        raise ValueError("unequal shards")
    grads = []
    for xk, yk in zip(np.split(x, n_replicas), np.split(y, n_replicas)):
        G = 2 * (xk @ W + b - yk) / yk.size
        grads.append((xk.T @ G, G.sum(0)))
    dW = sum(g[0] for g in grads) / n_replicas
    db = sum(g[1] for g in grads) / n_replicas
    return W - lr * dW, b - lr * db
'''
DP_G = "G = 2 * (xk @ W + b - yk) / yk.size"
DP_AVG = ("dW = sum(g[0] for g in grads) / n_replicas\n    db = sum(g[1] for g in grads) / n_replicas")

# ---------------------------------------------------------------------------------------------- exercise 9
COUNT = '''
def gpt_param_count(V, T, D, L, F):
    block = 4 * (D * D + D) + 2 * 2 * D + (D * F + F) + (F * D + D)
    return int(V * D + T * D + L * block + 2 * D)
'''
C_BLOCK = "block = 4 * (D * D + D) + 2 * 2 * D + (D * F + F) + (F * D + D)"
C_RET = "return int(V * D + T * D + L * block + 2 * D)"

MISTAKES = [
    # ------------------------------------------------------------------ 1: round_to_bfloat16
    Mistake("round_to_bfloat16", "truncation", swap(BF16, (BF16_ROUND, "rounded = u & 0xFFFF0000")),
            says=("truncates", "nearest")),
    Mistake("round_to_bfloat16", "ties-away-from-zero", swap(BF16, (BF16_ROUND, "rounded = (u + 0x8000) & 0xFFFF0000")),
            says=("ties", "even")),
    Mistake("round_to_bfloat16", "nan-to-inf", swap(BF16, (BF16_NAN, "pass")), says=("NaN", "inf")),
    Mistake("round_to_bfloat16", "ml-dtypes", '''
def round_to_bfloat16(x):
    import ml_dtypes
    return np.asarray(x, np.float32).astype(ml_dtypes.bfloat16).astype(np.float32)
''', says=("ml_dtypes", "bit arithmetic"), origin="learner"),
    Mistake("round_to_bfloat16", "returns-bits", swap(BF16, ("return rounded.astype(np.uint32).view(np.float32)",
                                                             "return rounded.astype(np.uint32)")),
            says=("float32",), origin="learner"),
    Mistake("round_to_bfloat16", "nan-keeps-payload", swap(BF16, (BF16_NAN, "rounded = np.where(np.isnan(x), u, rounded)")),
            says=("NaN", "low 16 bits"), origin="learner"),
    Mistake("round_to_bfloat16", "flush-subnormals",
            swap(BF16, (BF16_NAN, BF16_NAN + "\n    rounded = np.where(np.abs(x) < 1.1754944e-38, u & 0x80000000, rounded)")),
            says=("flushed", "subnormal"), origin="learner"),
    # ------------------------------------------------------------------ 2: loss_scale_update
    Mistake("loss_scale_update", "counter-kept-after-skip",
            swap(SCALE, ("return float(scale) / 2.0, 0, False", "return float(scale) / 2.0, good_steps, False")),
            says=("skipped", "reset")),
    Mistake("loss_scale_update", "grows-one-step-late", swap(SCALE, ("if good_steps + 1 >= growth_steps:", "if good_steps >= growth_steps:")),
            says=("late", "growth_steps")),
    Mistake("loss_scale_update", "counter-kept-after-growth",
            swap(SCALE, ("return float(scale) * factor, 0, True", "return float(scale) * factor, int(good_steps) + 1, True")),
            says=("count", "reset")),
    Mistake("loss_scale_update", "applies-skipped-step", swap(SCALE, ("return float(scale) / 2.0, 0, False", "return float(scale) / 2.0, 0, True")),
            says=("skipped", "apply_update")),
    Mistake("loss_scale_update", "divides-by-factor", swap(SCALE, ("return float(scale) / 2.0, 0, False", "return float(scale) / factor, 0, False")),
            says=("halves",), origin="learner"),
    # ------------------------------------------------------------------ 3: lora_dense
    Mistake("lora_dense", "alpha-without-r", swap(LORA, (LORA_OUT, "return x @ W + b + alpha * ((x @ A) @ B)")),
            says=("alpha / r",)),
    Mistake("lora_dense", "r-over-alpha", swap(LORA, (LORA_OUT, "return x @ W + b + (r / alpha) * ((x @ A) @ B)")),
            says=("inverted",), origin="learner"),
    Mistake("lora_dense", "no-bias", swap(LORA, (LORA_OUT, "return x @ W + (alpha / r) * ((x @ A) @ B)")),
            says=("bias",)),
    Mistake("lora_dense", "B-then-A", swap(LORA, (LORA_OUT, "return x @ W + b + (alpha / r) * ((x @ B) @ A)")),
            says=("(x @ A) @ B",), origin="learner"),
    # ------------------------------------------------------------------ 4: lora_merge
    Mistake("lora_merge", "alpha-without-r", swap(MERGE, (MERGE_OUT, "return W + alpha * (A @ B)")), says=("alpha / r",)),
    Mistake("lora_merge", "update-only", swap(MERGE, (MERGE_OUT, "return (alpha / A.shape[1]) * (A @ B)")),
            says=("W is missing",)),
    Mistake("lora_merge", "transposed", swap(MERGE, (MERGE_OUT, "return (W + (alpha / A.shape[1]) * (A @ B)).T")),
            says=("(d_in, d_out)",), origin="learner"),
    # ------------------------------------------------------------------ 5: quantize_int8
    Mistake("quantize_int8", "scale-on-wrong-axis", swap(QUANT, ("m = np.max(np.abs(w), axis=axis, keepdims=True)",
                                                                 "m = np.max(np.abs(w), axis=1 - axis, keepdims=True)"),
                                                          (Q_RET, "return q, np.squeeze(scale, axis=1 - axis)")),
            says=("wrong axis",)),
    Mistake("quantize_int8", "unrounded", swap(QUANT, (Q_Q, "q = np.clip(w * scale, -127, 127).astype(np.int8)")),
            says=("truncated", "round")),
    Mistake("quantize_int8", "unclipped-128", swap(QUANT, (Q_SCALE, "scale = np.float32(128) / (m + np.float32(1e-7))"),
                                                   (Q_Q, "q = np.round(w * scale).astype(np.int8)")),
            says=("127",)),
    Mistake("quantize_int8", "inverse-convention", swap(QUANT, (Q_SCALE, "scale = m / np.float32(127)"),
                                                        (Q_Q, "q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)")),
            says=("convention", "127 / (max|w| + epsilon)")),
    Mistake("quantize_int8", "no-epsilon", swap(QUANT, (Q_SCALE, "scale = np.float32(127) / m")), says=("epsilon",)),
    # the locked cell under the exercise defines EPS: it passes in Jupyter, and that cell does not run when graded
    Mistake("quantize_int8", "eps-from-a-locked-cell", swap(QUANT, (Q_SCALE, "scale = np.float32(127) / (m + EPS)")),
            says=("EPS", "only the setup cell and the exercise cells run", "inside this exercise's cell"), origin="learner"),
    Mistake("quantize_int8", "keeps-axis", swap(QUANT, (Q_RET, "return q, scale")), says=("remove the reduced axis",),
            origin="learner"),
    Mistake("quantize_int8", "float64-scale", swap(QUANT, (Q_SCALE, "scale = (127.0 / (m.astype(np.float64) + 1e-7)).astype(np.float32)")),
            says=("float32",), origin="learner"),
    Mistake("quantize_int8", "q-as-float", swap(QUANT, (Q_Q, "q = np.clip(np.round(w * scale), -127, 127)")), says=("int8",),
            origin="learner"),
    # ------------------------------------------------------------------ 6: int8_dense
    Mistake("int8_dense", "int8-overflow", swap(INT8, (I_P, "p = np.clip(np.round(x * t), -127, 127).astype(np.int8)"),
                                                (I_ACC, "acc = (p @ q).astype(np.float32)")),
            says=("overflow", "int32"), origin="learner"),
    Mistake("int8_dense", "inputs-not-quantized", swap(INT8, (I_RET, "return x @ (q.astype(np.float32) / scale) + b")),
            says=("not quantized",)),
    Mistake("int8_dense", "per-tensor-input-scale", swap(INT8, (I_T, "t = np.float32(127) / (np.max(np.abs(x)) + np.float32(1e-7))")),
            says=("ROW",)),
    Mistake("int8_dense", "multiplies-scales", swap(INT8, (I_RET, "return acc * (scale * t) + b")), says=("DIVIDING",)),
    Mistake("int8_dense", "no-bias", swap(INT8, (I_RET, "return acc / (scale * t)")), says=("bias",)),
    # ------------------------------------------------------------------ 7: ring_allreduce
    Mistake("ring_allreduce", "sends-whole-arrays", swap(RING, ("            sent[i] += data.nbytes\n    for s",
                                                                "            sent[i] += data.nbytes * n\n    for s"),
                                                         ("            chunks[(i + 1) % n][c] = data\n            sent[i] += data.nbytes",
                                                          "            chunks[(i + 1) % n][c] = data\n            sent[i] += data.nbytes * n")),
            says=("whole arrays",)),
    Mistake("ring_allreduce", "reduce-scatter-only-counted",
            swap(RING, ("            chunks[(i + 1) % n][c] = data\n            sent[i] += data.nbytes",
                        "            chunks[(i + 1) % n][c] = data")),
            says=("all-gather",)),
    Mistake("ring_allreduce", "mean-not-sum", swap(RING, ("return [np.concatenate(ch).reshape(shape) for ch in chunks], sent",
                                                          "return [np.concatenate(ch).reshape(shape) / n for ch in chunks], sent")),
            says=("SUM",)),
    Mistake("ring_allreduce", "modifies-inputs", swap(RING, ("chunks = [np.array_split(np.array(s, copy=True).ravel(), n) for s in shards]",
                                                             "chunks = [np.array_split(s.reshape(-1), n) for s in shards]")),
            says=("modified",), origin="learner"),
    # ------------------------------------------------------------------ 8: data_parallel_sgd_step
    Mistake("data_parallel_sgd_step", "summed-not-averaged",
            swap(DP, (DP_AVG, "dW = sum(g[0] for g in grads)\n    db = sum(g[1] for g in grads)")),
            says=("not averaged",)),
    Mistake("data_parallel_sgd_step", "averaged-before-summing", swap(DP, (DP_G, "G = 2 * (xk @ W + b - yk) / (yk.size * n_replicas)")),
            says=("averaging before the shards are summed",)),
    Mistake("data_parallel_sgd_step", "mean-over-batch-only", swap(DP, (DP_G, "G = 2 * (xk @ W + b - yk) / len(yk)")),
            says=("outputs",)),
    Mistake("data_parallel_sgd_step", "no-factor-2", swap(DP, (DP_G, "G = (xk @ W + b - yk) / yk.size")), says=("factor 2",)),
    # ------------------------------------------------------------------ 9: gpt_param_count
    Mistake("gpt_param_count", "tied-output-counted-twice", swap(COUNT, (C_RET, "return int(2 * V * D + T * D + L * block + 2 * D)")),
            says=("tied", "twice")),
    Mistake("gpt_param_count", "no-final-layer-norm", swap(COUNT, (C_RET, "return int(V * D + T * D + L * block)")),
            says=("final layer norm",)),
    Mistake("gpt_param_count", "no-positions", swap(COUNT, (C_RET, "return int(V * D + L * block + 2 * D)")), says=("positions",)),
    Mistake("gpt_param_count", "no-attention-biases", swap(COUNT, (C_BLOCK, "block = 4 * D * D + 2 * 2 * D + (D * F + F) + (F * D + D)")),
            says=("attention biases",)),
    Mistake("gpt_param_count", "one-layer-norm-per-block", swap(COUNT, (C_BLOCK, "block = 4 * (D * D + D) + 2 * D + (D * F + F) + (F * D + D)")),
            says=("two",)),
    Mistake("gpt_param_count", "F-as-4D", swap(COUNT, (C_BLOCK, "block = 4 * (D * D + D) + 2 * 2 * D + (D * 4 * D + 4 * D) + (4 * D * D + D)")),
            says=("F is ignored",), origin="learner"),
    # ------------------------------------------------------------------ a fresh learner's slips (their messages named them)
    Mistake("loss_scale_update", "factor-ignored", swap(SCALE, ("return float(scale) * factor, 0, True", "return float(scale) * 2, 0, True")),
            says=("factor",), origin="learner"),
    Mistake("loss_scale_update", "halving-floored-at-1",
            swap(SCALE, ("return float(scale) / 2.0, 0, False", "return max(float(scale) / 2.0, 1.0), 0, False")),
            says=("halved",), origin="learner"),
    Mistake("quantize_int8", "rounds-half-away-from-zero",
            swap(QUANT, (Q_Q, "v = w * scale\n    q = np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5), -127, 127).astype(np.int8)")),
            says=("half to even",), origin="learner"),
    Mistake("int8_dense", "row-scale-without-keepdims",
            swap(INT8, (I_T, "t = np.float32(127) / (np.max(np.abs(x), axis=-1) + np.float32(1e-7))")),
            says=("keepdims",), origin="learner"),
    Mistake("data_parallel_sgd_step", "in-place-update",
            swap(DP, ("return W - lr * dW, b - lr * db", "W -= lr * dW\n    b -= lr * db\n    return W, b")),
            says=("in place",), origin="learner"),
    # ------------------------------------------------------------------ slips whose messages named another cause, or none (issue 24)
    Mistake("round_to_bfloat16", "tie-bit-15", swap(BF16, (BF16_ROUND, "rounded = (u + 0x7FFF + ((u >> 15) & 1)) & 0xFFFF0000")),
            says=("(u >> 16) & 1", "lowest bit KEPT"), origin="learner"),
    Mistake("round_to_bfloat16", "astype-not-view", swap(BF16, ("u = x.view(np.uint32).astype(np.uint64)", "u = x.astype(np.uint32).astype(np.uint64)")),
            says=("x.view(np.uint32)", "astype"), origin="learner"),
    Mistake("lora_dense", "r-from-rows", swap(LORA, ("r = A.shape[1]", "r = A.shape[0]")),
            says=("r = A.shape[1]", "not A.shape[0]"), origin="learner"),
    Mistake("lora_merge", "elementwise", swap(MERGE, (MERGE_OUT, "return W + (alpha / A.shape[1]) * (A * B)")),
            says=("matrix product A @ B", "element by element"), origin="learner"),
    Mistake("quantize_int8", "max-without-abs", swap(QUANT, ("m = np.max(np.abs(w), axis=axis, keepdims=True)", "m = np.max(w, axis=axis, keepdims=True)")),
            says=("np.abs", "without abs"), origin="learner"),
    Mistake("quantize_int8", "squeeze-every-axis", swap(QUANT, (Q_RET, "return q, np.squeeze(scale)")),
            says=("np.squeeze(scale, axis)",), origin="learner"),
    Mistake("int8_dense", "input-scale-per-column", swap(INT8, (I_T, "t = np.float32(127) / (np.max(np.abs(x), axis=0, keepdims=True) + np.float32(1e-7))")),
            says=("axis=-1", "row scale"), origin="learner"),
    Mistake("ring_allreduce", "n-steps", swap(RING, ("    for s in range(n - 1):\n        msgs = [(i, (i - s) % n", "    for s in range(n):\n        msgs = [(i, (i - s) % n")),
            says=("n - 1", "a phase ran n steps"), origin="learner"),
    Mistake("ring_allreduce", "bytes-of-whole-shard", swap(RING, ("            chunks[(i + 1) % n][c] = data\n            sent[i] += data.nbytes", "            chunks[(i + 1) % n][c] = data\n            sent[i] += shards[i].nbytes")),
            says=("ONE chunk",), origin="learner"),
    Mistake("gpt_param_count", "no-output-projection", swap(COUNT, (C_BLOCK, "block = 3 * (D * D + D) + 2 * 2 * D + (D * F + F) + (F * D + D)")),
            says=("output projection", "W_o", "b_o"), origin="learner"),
    # ------------------------------------------------------------------ a fresh learner's ch06 (issue 29): wrong causes, none, or vague
    Mistake("round_to_bfloat16", "lsb-bit-0", swap(BF16, (BF16_ROUND, "rounded = (u + 0x7FFF + (u & 1)) & 0xFFFF0000")),
            says=("u & 1", "(u >> 16) & 1"), origin="learner"),
    Mistake("round_to_bfloat16", "nan-truncated", swap(BF16, (BF16_NAN, "rounded = np.where(np.isnan(x), u & 0xFFFF0000, rounded)")),
            says=("truncated", "0x7FC00000"), origin="learner"),
    Mistake("round_to_bfloat16", "nan-as-float", swap(BF16, (BF16_NAN, "rounded = np.where(np.isnan(x), np.nan, rounded)")),
            says=("float NaN", "0x7FC00000"), origin="learner"),
    Mistake("round_to_bfloat16", "bits-as-number", swap(BF16, ("return rounded.astype(np.uint32).view(np.float32)",
                                                               "return rounded.astype(np.float32)")),
            says=("converted as a number", "view"), origin="learner"),
    Mistake("round_to_bfloat16", "flush-subnormals-to-plus-zero",
            swap(BF16, (BF16_NAN, BF16_NAN + "\n    rounded = np.where(np.abs(x) < 1.1754944e-38, 0, rounded)")),
            says=("-0.0", "subnormal"), origin="learner"),
    Mistake("round_to_bfloat16", "signed-view", swap(BF16, ("u = x.view(np.uint32).astype(np.uint64)", "u = x.view(np.int32)")),
            says=("SIGNED", "np.uint32"), origin="learner"),
    Mistake("loss_scale_update", "is-False", swap(SCALE, ("if not grads_finite:", "if grads_finite is False:")),
            says=("np.bool_", "if not grads_finite"), origin="learner"),
    Mistake("loss_scale_update", "floor-halving", swap(SCALE, ("return float(scale) / 2.0, 0, False", "return float(scale) // 2, 0, False")),
            says=("floor",), origin="learner"),
    Mistake("loss_scale_update", "count-restarts-at-1", swap(SCALE, ("return float(scale) * factor, 0, True", "return float(scale) * factor, 1, True")),
            says=("restarts at 1",), origin="learner"),
    Mistake("loss_scale_update", "growth-step-skipped", swap(SCALE, ("return float(scale) * factor, 0, True", "return float(scale) * factor, 0, False")),
            says=("grows is skipped",), origin="learner"),
    Mistake("loss_scale_update", "tuple-order", swap(SCALE, ("return float(scale) / 2.0, 0, False", "return float(scale) / 2.0, False, 0"),
                                                     ("return float(scale) * factor, 0, True", "return float(scale) * factor, True, 0"),
                                                     ("return float(scale), int(good_steps) + 1, True", "return float(scale), True, int(good_steps) + 1")),
            says=("order",), origin="learner"),
    Mistake("loss_scale_update", "float16-scale", swap(SCALE, ("return float(scale) * factor, 0, True",
                                                               "return np.float16(scale) * np.float16(factor), 0, True")),
            says=("float16",), origin="learner"),
    Mistake("lora_dense", "floor-division", swap(LORA, (LORA_OUT, "return x @ W + b + (alpha // r) * ((x @ A) @ B)")),
            says=("floor division", "alpha / r"), origin="learner"),
    Mistake("lora_merge", "floor-division", swap(MERGE, (MERGE_OUT, "return W + (alpha // A.shape[1]) * (A @ B)")),
            says=("floor division", "alpha / r"), origin="learner"),
    Mistake("int8_dense", "float64-output", swap(INT8, ("x = np.asarray(x, np.float32)", "x = np.asarray(x, np.float64)")),
            says=("float64", "float32"), origin="learner"),
    Mistake("int8_dense", "row-max-without-abs", swap(INT8, (I_T, "t = np.float32(127) / (np.max(x, axis=-1, keepdims=True) + np.float32(1e-7))")),
            says=("without abs", "MAGNITUDE"), origin="learner"),
    Mistake("int8_dense", "max-of-x", swap(INT8, (I_T, "t = np.float32(127) / (np.max(x) + np.float32(1e-7))")),
            says=("whole input", "ROW"), origin="learner"),
    Mistake("ring_allreduce", "sum-of-shards", '''
def ring_allreduce(shards):
    n = len(shards)
    total = sum(np.array(s, copy=True) for s in shards)
    return [total.copy() for _ in range(n)], [2 * (n - 1) * shards[0].nbytes // n] * n
''', says=("machine order", "ring"), origin="learner"),
    Mistake("ring_allreduce", "reduce-scatter-assigns", swap(RING, ("chunks[(i + 1) % n][c] += data", "chunks[(i + 1) % n][c] = data")),
            says=("ASSIGNS", "+="), origin="learner"),
    Mistake("ring_allreduce", "counts-elements", swap(RING, ("sent[i] += data.nbytes", "sent[i] += data.size")),
            says=("elements", ".nbytes"), origin="learner"),
    Mistake("data_parallel_sgd_step", "replica-by-replica", '''
def data_parallel_sgd_step(W, b, x, y, lr, n_replicas):
    if np.shape(x)[0] % n_replicas:
        raise ValueError("unequal shards")
    for xk, yk in zip(np.split(x, n_replicas), np.split(y, n_replicas)):
        G = 2 * (xk @ W + b - yk) / yk.size
        W, b = W - lr * (xk.T @ G), b - lr * G.sum(0)
    return W, b
''', says=("one after another",), origin="learner"),
    Mistake("data_parallel_sgd_step", "replica-0-only",
            swap(DP, (DP_AVG, "dW = grads[0][0]\n    db = grads[0][1]")), says=("replica 0",), origin="learner"),
    Mistake("data_parallel_sgd_step", "db-mean", swap(DP, ("grads.append((xk.T @ G, G.sum(0)))", "grads.append((xk.T @ G, G.mean(0)))")),
            says=("G.mean(0)", "G.sum(0)"), origin="learner"),
    Mistake("lora_dense", "r-from-B-columns", swap(LORA, ("r = A.shape[1]", "r = B.shape[1]")),
            says=("B.shape[1]", "A.shape[1]"), origin="learner"),
    Mistake("lora_dense", "whole-output-scaled", swap(LORA, (LORA_OUT, "return (alpha / r) * (x @ W + b + (x @ A) @ B)")),
            says=("whole output",), origin="learner"),
    Mistake("lora_dense", "float32", swap(LORA, (LORA_OUT, "return (x @ W + b + (alpha / r) * ((x @ A) @ B)).astype(np.float32)")),
            says=("float32", "float64"), origin="learner"),
    Mistake("lora_dense", "B-transposed", swap(LORA, (LORA_OUT, "return x @ W + b + (alpha / r) * ((x @ A) @ B.T)")),
            says=("transposed",), origin="learner"),
    Mistake("lora_merge", "float32", swap(MERGE, (MERGE_OUT, "return (W + (alpha / A.shape[1]) * (A @ B)).astype(np.float32)")),
            says=("float32", "float64"), origin="learner"),
    Mistake("quantize_int8", "divides-by-scale", swap(QUANT, (Q_Q, "q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)")),
            says=("MULTIPLIES",), origin="learner"),
    Mistake("quantize_int8", "epsilon-outside", swap(QUANT, (Q_SCALE, "scale = np.float32(127) / m + np.float32(1e-7)")),
            says=("denominator",), origin="learner"),
    Mistake("int8_dense", "int16-accumulation", swap(INT8, (I_P, "p = np.clip(np.round(x * t), -127, 127).astype(np.int16)"),
                                                     (I_ACC, "acc = (p @ q.astype(np.int16)).astype(np.float32)")),
            says=("int16", "int32"), origin="learner"),
    Mistake("int8_dense", "unrounded", swap(INT8, (I_P, "p = np.clip(x * t, -127, 127).astype(np.int32)")),
            says=("truncated", "np.round"), origin="learner"),
    Mistake("int8_dense", "bias-de-scaled", swap(INT8, (I_RET, "return (acc + b) / (scale * t)")),
            says=("de-scaled too",), origin="learner"),
    Mistake("int8_dense", "t-with-None", swap(INT8, (I_RET, "return acc / (scale * t[:, None]) + b")),
            says=("third axis",), origin="learner"),
    # ------------------------------------------------------------------ a second reviewer's (issue 29)
    Mistake("round_to_bfloat16", "no-lsb", swap(BF16, (BF16_ROUND, "rounded = (u + 0x7FFF) & 0xFFFF0000")),
            says=("lsb term is missing",), origin="learner"),
    Mistake("round_to_bfloat16", "minus-zero-lost", swap(BF16, (BF16_NAN, BF16_NAN + "\n    rounded = np.where(x == 0, 0, rounded)")),
            says=("-0.0 became +0.0",), origin="learner"),
    Mistake("round_to_bfloat16", "negative-mask", swap(BF16, (BF16_ROUND, "rounded = (u + 0x7FFF + ((u >> 16) & 1)) & ~0xFFFF")),
            says=("negative mask", "0xFFFF0000"), origin="learner"),
    Mistake("loss_scale_update", "is-not-True", swap(SCALE, ("if not grads_finite:", "if grads_finite is not True:")),
            says=("NOT finite", "np.bool_"), origin="learner"),
    Mistake("int8_dense", "int32-divided", swap(INT8, (I_ACC, "acc = p @ q.astype(np.int32)")),
            says=("int32 array divided by float32",), origin="learner"),
    # a learner's read of the chapter (2026-12-07): these earned full marks, or a message naming another slip
    Mistake("quantize_int8", "scale-returned-float64", swap(QUANT, (Q_RET, "return q, np.squeeze(scale, axis=axis).astype(np.float64)")),
            says=("scale is float64", "float32"), origin="learner"),
    Mistake("quantize_int8", "one-scale-per-tensor", swap(QUANT, ("m = np.max(np.abs(w), axis=axis, keepdims=True)",
                                                                  "m = np.max(np.abs(w))"),
                                                          (Q_RET, "return q, scale")),
            says=("one scale for the whole tensor", "per output column"), origin="learner"),
    Mistake("data_parallel_sgd_step", "float64-weights", swap(DP, ("return W - lr * dW, b - lr * db",
                                                                   "return (W - lr * dW).astype(np.float64), (b - lr * db).astype(np.float64)")),
            says=("float64", "keep the weights' dtype"), origin="learner"),
    Mistake("gpt_param_count", "float-count", swap(COUNT, (C_RET, "return V * D + T * D + L * block + 2 * D + 0.0")),
            says=("float", "int"), origin="learner"),
    Mistake("gpt_param_count", "no-attention-output-bias", swap(COUNT, (C_BLOCK, "block = 4 * D * D + 3 * D + 2 * 2 * D + (D * F + F) + (F * D + D)")),
            says=("b_o", "D per block"), origin="learner"),
    Mistake("gpt_param_count", "ffn-biases-2D", swap(COUNT, (C_BLOCK, "block = 4 * (D * D + D) + 2 * 2 * D + D * F + F * D + 2 * D")),
            says=("F + D", "not 2D"), origin="learner"),
    Mistake("gpt_param_count", "final-norm-in-every-block", swap(COUNT, (C_BLOCK, "block = 4 * (D * D + D) + 3 * 2 * D + (D * F + F) + (F * D + D)"),
                                                                 (C_RET, "return int(V * D + T * D + L * block)")),
            says=("final layer norm", "once"), origin="learner"),
    Mistake("loss_scale_update", "applied-as-int", swap(SCALE, ("return float(scale) / 2.0, 0, False", "return float(scale) / 2.0, 0, 0"),
                                                        ("return float(scale) * factor, 0, True", "return float(scale) * factor, 0, 1"),
                                                        ("return float(scale), int(good_steps) + 1, True", "return float(scale), int(good_steps) + 1, 1")),
            says=("apply_update is a bool",), origin="learner"),
    # a learner's read of the chapter (2026-12-07), round two: these were sent to another slip's message, or earned full marks
    Mistake("ring_allreduce", "all-gather-reduce-scatter-index",
            swap(RING, ("msgs = [(i, (i + 1 - s) % n, chunks[i][(i + 1 - s) % n].copy())", "msgs = [(i, (i - s) % n, chunks[i][(i - s) % n].copy())")),
            says=("all-gather sends chunk (i - s) % n", "(i + 1 - s) % n"), origin="learner"),
    Mistake("ring_allreduce", "all-gather-index-backwards",
            swap(RING, ("msgs = [(i, (i + 1 - s) % n, chunks[i][(i + 1 - s) % n].copy())", "msgs = [(i, (i + 1 + s) % n, chunks[i][(i + 1 + s) % n].copy())")),
            says=("all-gather's chunk index runs the wrong way",), origin="learner"),
    Mistake("ring_allreduce", "reduce-scatter-index-backwards",
            swap(RING, ("msgs = [(i, (i - s) % n, chunks[i][(i - s) % n].copy())", "msgs = [(i, (i + s) % n, chunks[i][(i + s) % n].copy())")),
            says=("reduce-scatter's chunk index runs the wrong way",), origin="learner"),
    Mistake("ring_allreduce", "sends-to-previous", RING.replace("chunks[(i + 1) % n][c]", "chunks[(i - 1) % n][c]"),
            says=("machine i - 1", "(i + 1) % n"), origin="learner"),
    Mistake("ring_allreduce", "ring-the-other-way", RING.replace("chunks[(i + 1) % n][c]", "chunks[(i - 1) % n][c]")
            .replace("(i + 1 - s) % n", "(i - 1 + s) % n").replace("(i - s) % n", "(i + s) % n"),
            says=("the other way", "order"), origin="learner"),
    Mistake("quantize_int8", "epsilon-1e-8", swap(QUANT, (Q_SCALE, "scale = np.float32(127) / (m + np.float32(1e-8))")),
            says=("too small to count", "1e-7"), origin="learner"),
    Mistake("int8_dense", "epsilon-1e-8", swap(INT8, (I_T, "t = np.float32(127) / (np.max(np.abs(x), axis=-1, keepdims=True) + np.float32(1e-8))")),
            says=("too small to count", "1e-7"), origin="learner"),
    Mistake("data_parallel_sgd_step", "b-not-updated", swap(DP, ("return W - lr * dW, b - lr * db", "return W - lr * dW, b")),
            says=("b is returned unchanged",), origin="learner"),
    Mistake("data_parallel_sgd_step", "db-not-summed", swap(DP, ("grads.append((xk.T @ G, G.sum(0)))", "grads.append((xk.T @ G, G))")),
            says=("shape", "G.sum(0)"), origin="learner"),
    Mistake("gpt_param_count", "final-norm-in-every-block-and-at-the-end",
            swap(COUNT, (C_BLOCK, "block = 4 * (D * D + D) + 3 * 2 * D + (D * F + F) + (F * D + D)")),
            says=("once more at the end",), origin="learner"),
]
