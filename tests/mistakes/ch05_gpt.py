"""Chapter 5's wrong answers: realistic wrong attempts at every exercise (the classic slips, what a learner
coming from PyTorch or from the source articles would type, and the slips seen in learners' attempts)."""

from mistakes import Mistake

DEPENDS = {
    "gpt_block": {"gelu"},
    "gpt_forward": {"embedding_forward", "gpt_block"},
    "generate_greedy": {"embedding_forward", "gpt_block", "gpt_forward"},  # gpt_forward: the full-recompute entry
}

# ---------------------------------------------------------------------------------------------- exercise 1
EMB_HEAD = '''
def embedding_forward(ids, E):
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= np.shape(E)[0]):
        raise ValueError("ids out of range")
'''


def emb(body, head=EMB_HEAD):
    return head + "".join("    " + line + "\n" for line in body.strip("\n").splitlines())


# ---------------------------------------------------------------------------------------------- exercise 2
EMB_BWD_HEAD = '''
def embedding_backward(d_out, ids, vocab_size):
    d_out, ids = np.asarray(d_out), np.asarray(ids)
    if d_out.shape[:-1] != ids.shape:
        raise ValueError("shapes")
'''


def emb_bwd(body):
    return emb(body, EMB_BWD_HEAD)


# ---------------------------------------------------------------------------------------------- exercise 3
GELU_HEAD = '''
def gelu(x, approximate=False):
    x = np.asarray(x)
'''
GELU_TANH = "return 0.5 * x * (1.0 + np.tanh((2 / np.pi) ** 0.5 * (x + 0.044715 * x ** 3)))"


def gelu(exact, tanh=GELU_TANH, pre=""):
    body = (pre + "\n" if pre else "") + f"if approximate:\n    {tanh}\n{exact}"
    return emb(body, GELU_HEAD)


# ---------------------------------------------------------------------------------------------- exercise 4
LOSS_HEAD = '''
def causal_lm_loss(logits, ids):
    logits, ids = np.asarray(logits), np.asarray(ids)
    if logits.ndim != 3 or logits.shape[:2] != ids.shape:
        raise ValueError("shapes")
    if ids.shape[1] < 2:
        raise ValueError("T >= 2")
'''
LOSS_OK = '''
z, y = logits[:, :-1], ids[:, 1:]
z = z - z.max(axis=-1, keepdims=True)
logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
loss = -np.take_along_axis(logp, y[..., None], axis=-1).mean()
d = np.exp(logp)
np.put_along_axis(d, y[..., None], np.take_along_axis(d, y[..., None], axis=-1) - 1.0, axis=-1)
d_logits = np.zeros_like(logits)
d_logits[:, :-1] = d / y.size
return float(loss), d_logits
'''


def loss(body=LOSS_OK, **replace):
    for old, new in replace.items():
        old = {"shift": "z, y = logits[:, :-1], ids[:, 1:]", "max": "z = z - z.max(axis=-1, keepdims=True)",
               "mean": "loss = -np.take_along_axis(logp, y[..., None], axis=-1).mean()",
               "grad": "d_logits[:, :-1] = d / y.size", "ret": "return float(loss), d_logits"}[old]
        assert old in body, old
        body = body.replace(old, new)
    return emb(body, LOSS_HEAD)


# ---------------------------------------------------------------------------------------------- exercise 5
BLOCK = '''
def feed_forward(h, p, eps=1e-5):
    return gelu(layer_norm(h, p["gamma2"], p["beta2"], eps) @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]


def gpt_block(x, p, num_heads, eps=1e-5):
    u = layer_norm(x, p["gamma1"], p["beta1"], eps)
    a, _ = multi_head_attention(u, u, p, num_heads, mask=causal_mask(x.shape[1]))
    h = x + a
    return h + feed_forward(h, p, eps)
'''


def block(**replace):
    code = BLOCK
    for old, new in replace.items():
        old = {"ffn": 'return gelu(layer_norm(h, p["gamma2"], p["beta2"], eps) @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]',
               "ln1": 'u = layer_norm(x, p["gamma1"], p["beta1"], eps)',
               "mha": 'a, _ = multi_head_attention(u, u, p, num_heads, mask=causal_mask(x.shape[1]))',
               "res": "h = x + a", "out": "return h + feed_forward(h, p, eps)"}[old]
        assert old in code, old
        code = code.replace(old, new)
    return code


# ---------------------------------------------------------------------------------------------- exercise 6
FWD = '''
def gpt_forward(ids, params, num_heads, eps=1e-5):
    T, T_max = np.shape(ids)[1], np.shape(params["P"])[0]
    if T > T_max:
        raise ValueError("T > T_max")
    x = embedding_forward(ids, params["E"]) + params["P"][:T]
    for p in params["blocks"]:
        x = gpt_block(x, p, num_heads, eps)
    x = layer_norm(x, params["gamma_f"], params["beta_f"], eps)
    return x @ params["E"].T
'''


def fwd(**replace):
    code = FWD
    for old, new in replace.items():
        old = {"x0": 'x = embedding_forward(ids, params["E"]) + params["P"][:T]',
               "lnf": 'x = layer_norm(x, params["gamma_f"], params["beta_f"], eps)',
               "out": 'return x @ params["E"].T', "blk": "x = gpt_block(x, p, num_heads, eps)"}[old]
        assert old in code, old
        code = code.replace(old, new)
    return code


# ---------------------------------------------------------------------------------------------- exercise 7
PROBS = '''
def next_token_probs(logits, temperature=1.0, top_k=None):
    if not temperature > 0:
        raise ValueError("temperature")
    if top_k is not None and (int(top_k) != top_k or top_k < 1):
        raise ValueError("top_k")
    z = np.asarray(logits, dtype=np.float64) / temperature
    if top_k is not None and top_k < z.shape[-1]:
        kth = np.partition(z, -int(top_k), axis=-1)[:, -int(top_k)]
        z = np.where(z >= kth[:, None], z, -np.inf)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
'''


def probs(**replace):
    code = PROBS
    for old, new in replace.items():
        old = {"temp": "z = np.asarray(logits, dtype=np.float64) / temperature",
               "kth": "kth = np.partition(z, -int(top_k), axis=-1)[:, -int(top_k)]",
               "keep": "z = np.where(z >= kth[:, None], z, -np.inf)",
               "exp": "e = np.exp(z - z.max(axis=-1, keepdims=True))",
               "ret": "return e / e.sum(axis=-1, keepdims=True)",
               "check": '''    if not temperature > 0:
        raise ValueError("temperature")
'''}[old]
        assert old in code, old
        code = code.replace(old, new)
    return code


# ---------------------------------------------------------------------------------------------- exercise 8
GREEDY = '''
def generate_greedy(prompt_ids, params, num_heads, steps, eps=1e-5, return_caches=False):
    prompt_ids = np.asarray(prompt_ids)
    N, T0 = prompt_ids.shape
    T_total, T_max = T0 + steps, np.shape(params["P"])[0]
    if T0 < 1 or steps < 0 or T_total > T_max:
        raise ValueError("sizes")
    ids = np.zeros((N, T_total), dtype=prompt_ids.dtype)
    ids[:, :T0] = prompt_ids
    caches = []
    for p in params["blocks"]:
        shape = (N, p["Wk"].shape[1], T_total - 1, p["Wk"].shape[2])
        caches.append((np.zeros(shape), np.zeros(shape)))
    for t in range(T_total - 1):
        x = embedding_forward(ids[:, t:t + 1], params["E"]) + params["P"][t]
        for p, (K, V) in zip(params["blocks"], caches):
            u = layer_norm(x, p["gamma1"], p["beta1"], eps)
            K[:, :, t:t + 1] = project(u, p["Wk"], p["bk"])
            V[:, :, t:t + 1] = project(u, p["Wv"], p["bv"])
            o, _ = scaled_dot_product_attention(project(u, p["Wq"], p["bq"]), K[:, :, :t + 1], V[:, :, :t + 1])
            h = x + combine_heads(o, p["Wo"], p["bo"])
            x = h + feed_forward(h, p, eps)
        if t + 1 >= T0:
            logits = layer_norm(x[:, 0], params["gamma_f"], params["beta_f"], eps) @ params["E"].T
            ids[:, t + 1] = logits.argmax(axis=-1)
    return (ids, caches) if return_caches else ids
'''


def greedy(**replace):
    code = GREEDY
    for old, new in replace.items():
        old = {"x": 'x = embedding_forward(ids[:, t:t + 1], params["E"]) + params["P"][t]',
               "ln1": 'u = layer_norm(x, p["gamma1"], p["beta1"], eps)',
               "attend": 'o, _ = scaled_dot_product_attention(project(u, p["Wq"], p["bq"]), K[:, :, :t + 1], V[:, :, :t + 1])',
               "lnf": 'logits = layer_norm(x[:, 0], params["gamma_f"], params["beta_f"], eps) @ params["E"].T',
               "loop": "for t in range(T_total - 1):",
               "store": '''            K[:, :, t:t + 1] = project(u, p["Wk"], p["bk"])
            V[:, :, t:t + 1] = project(u, p["Wv"], p["bv"])
''', "ffn": "x = h + feed_forward(h, p, eps)", "argmax": "ids[:, t + 1] = logits.argmax(axis=-1)"}[old]
        assert old in code, old
        code = code.replace(old, new)
    return code


GREEDY_FULL = '''
def generate_greedy(prompt_ids, params, num_heads, steps, eps=1e-5, return_caches=False):
    prompt_ids = np.asarray(prompt_ids)
    N, T0 = prompt_ids.shape
    T_total, T_max = T0 + steps, np.shape(params["P"])[0]
    if T0 < 1 or steps < 0 or T_total > T_max:
        raise ValueError("sizes")
    ids = prompt_ids
    for _ in range(steps):
        logits = gpt_forward(ids, params, num_heads, eps)
        ids = np.concatenate([ids, logits[:, -1].argmax(-1)[:, None]], axis=1)
    return ids
'''

MISTAKES = [
    # exercise 1: embedding_forward
    Mistake("embedding_forward", "columns", emb("return E[:, ids]"), says=("E[ids]", "row")),
    Mistake("embedding_forward", "transposed", emb("return E.T[ids]"), says=("E[ids]",)),
    Mistake("embedding_forward", "ids-transposed", emb("return E[ids.T]"), says=("(N, T, D)",)),
    Mistake("embedding_forward", "no-range-check", '''
def embedding_forward(ids, E):
    return E[np.asarray(ids)]
''', says=("ValueError", "wrap"), origin="learner"),
    Mistake("embedding_forward", "one-hot-float32", emb("return np.eye(E.shape[0], dtype=np.float32)[ids] @ E.astype(np.float32)"),
            says=("float32",)),
    Mistake("embedding_forward", "flattened", emb("return E[ids.reshape(-1)]"), says=("flattened",), origin="learner"),
    Mistake("embedding_forward", "one-based", emb("return E[ids - 1]"), says=("count from 0", "ids - 1"), origin="learner"),
    Mistake("embedding_forward", "tensorflow", emb("import tensorflow as tf\nreturn tf.nn.embedding_lookup(E, ids).numpy()"),
            says=("NumPy",)),
    # exercise 2: embedding_backward
    Mistake("embedding_backward", "buffered-plus-equals",
            emb_bwd("dE = np.zeros((vocab_size, d_out.shape[-1]), dtype=d_out.dtype)\ndE[ids] += d_out\nreturn dE"),
            says=("np.add.at",)),
    Mistake("embedding_backward", "assign-in-loop", emb_bwd('''
dE = np.zeros((vocab_size, d_out.shape[-1]), dtype=d_out.dtype)
for n in range(ids.shape[0]):
    for t in range(ids.shape[1]):
        dE[ids[n, t]] = d_out[n, t]
return dE'''), says=("np.add.at",), origin="learner"),
    Mistake("embedding_backward", "transposed", emb_bwd('''
dE = np.zeros((d_out.shape[-1], vocab_size), dtype=d_out.dtype)
np.add.at(dE.T, ids.reshape(-1), d_out.reshape(-1, d_out.shape[-1]))
return dE'''), says=("(vocab_size, D)",)),
    Mistake("embedding_backward", "mean-over-occurrences", emb_bwd('''
D = d_out.shape[-1]
dE = np.zeros((vocab_size, D), dtype=d_out.dtype)
np.add.at(dE, ids.reshape(-1), d_out.reshape(-1, D))
counts = np.bincount(ids.reshape(-1), minlength=vocab_size)
return dE / np.maximum(counts, 1)[:, None]'''), says=("sum", "mean")),
    Mistake("embedding_backward", "float64-zeros", emb_bwd('''
dE = np.zeros((vocab_size, d_out.shape[-1]))
np.add.at(dE, ids.reshape(-1), d_out.reshape(-1, d_out.shape[-1]))
return dE'''), says=("float32", "dtype")),
    Mistake("embedding_backward", "tensorflow", emb_bwd('''
import tensorflow as tf
return tf.math.unsorted_segment_sum(d_out.reshape(-1, d_out.shape[-1]), ids.reshape(-1), vocab_size).numpy()'''),
            says=("NumPy",)),
    Mistake("embedding_backward", "sized-by-max-id", emb_bwd('''
dE = np.zeros((ids.max() + 1, d_out.shape[-1]), dtype=d_out.dtype)
np.add.at(dE, ids.reshape(-1), d_out.reshape(-1, d_out.shape[-1]))
return dE'''), says=("vocab_size", "ids.max() + 1"), origin="learner"),
    # exercise 3: gelu
    Mistake("gelu", "numpy-sqrt-constants",
            gelu("return 0.5 * x * special.erfc(-x / np.sqrt(2))",
                 tanh="return 0.5 * x * (1.0 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))"),
            says=("float32", "2 ** 0.5"), origin="learner"),
    Mistake("gelu", "tanh-for-exact", gelu(GELU_TANH), says=("tanh", "not this chapter's choice")),
    Mistake("gelu", "erf-cancels", gelu("return 0.5 * x * (1.0 + special.erf(x / 2 ** 0.5))"), says=("erfc",)),
    Mistake("gelu", "math-erfc", gelu("return np.array([0.5 * v * math.erfc(-v / 2 ** 0.5) for v in x])", pre="import math"),
            says=("special.erfc",)),
    Mistake("gelu", "math-erfc-array", gelu("return 0.5 * x * math.erfc(-x / 2 ** 0.5)", pre="import math"),
            says=("special.erfc",), origin="learner"),
    Mistake("gelu", "sigmoid-approximation", gelu("return x / (1.0 + np.exp(-1.702 * x))"), says=("sigmoid", "1.702")),
    Mistake("gelu", "tanh-without-sqrt", gelu("return 0.5 * x * special.erfc(-x / 2 ** 0.5)",
                                              tanh="return 0.5 * x * (1.0 + np.tanh(2 / np.pi * (x + 0.044715 * x ** 3)))"),
            says=("sqrt(2/pi)",)),
    Mistake("gelu", "tensorflow", gelu("import tensorflow as tf\nreturn tf.nn.gelu(x).numpy()"), says=("NumPy",)),
    Mistake("gelu", "cast-to-float64", gelu("return 0.5 * x * special.erfc(-x / 2 ** 0.5)", pre="x = x.astype(np.float64)"),
            says=("cast", "float64"), origin="learner"),
    Mistake("gelu", "tanh-x-squared", gelu("return 0.5 * x * special.erfc(-x / 2 ** 0.5)",
                                           tanh="return 0.5 * x * (1.0 + np.tanh((2 / np.pi) ** 0.5 * (x + 0.044715 * x ** 2)))"),
            says=("x**3", "not 0.044715 x**2"), origin="learner"),
    Mistake("gelu", "tanh-no-cubic", gelu("return 0.5 * x * special.erfc(-x / 2 ** 0.5)",
                                          tanh="return 0.5 * x * (1.0 + np.tanh((2 / np.pi) ** 0.5 * x))"),
            says=("cubic term is missing",), origin="learner"),
    # exercise 4: causal_lm_loss
    Mistake("causal_lm_loss", "unshifted", loss(shift="z, y = logits, ids"), says=("NEXT token",)),
    Mistake("causal_lm_loss", "unshifted-whole", loss(shift="z, y = logits, ids", grad="d_logits = d / y.size"),
            says=("NEXT token",), origin="learner"),
    Mistake("causal_lm_loss", "shifted-backwards", loss(shift="z, y = logits[:, 1:], ids[:, :-1]"),
            says=("shifted the wrong way",)),
    Mistake("causal_lm_loss", "sum-not-mean", loss(mean="loss = -np.take_along_axis(logp, y[..., None], axis=-1).sum()",
                                                   grad="d_logits[:, :-1] = d"), says=("mean",)),
    Mistake("causal_lm_loss", "divide-by-NT", loss(mean="loss = -np.take_along_axis(logp, y[..., None], axis=-1).sum() / ids.size",
                                                   grad="d_logits[:, :-1] = d / ids.size"), says=("N(T-1)",)),
    Mistake("causal_lm_loss", "no-max-subtraction", loss(max="pass"), says=("maximum",)),
    Mistake("causal_lm_loss", "logits-as-probabilities", loss(body='''
z, y = logits[:, :-1], ids[:, 1:]
loss = -np.log(np.take_along_axis(z, y[..., None], axis=-1)).mean()
d = np.zeros_like(z)
np.put_along_axis(d, y[..., None], -1.0 / np.take_along_axis(z, y[..., None], axis=-1), axis=-1)
d_logits = np.zeros_like(logits)
d_logits[:, :-1] = d / y.size
return float(loss), d_logits
'''), says=("source articles", "probabilities", "from_logits"), origin="articles"),
    Mistake("causal_lm_loss", "softmax-twice", loss(max="z = np.exp(z - z.max(axis=-1, keepdims=True)); z = z / z.sum(-1, keepdims=True)"),
            says=("source articles", "softmax", "twice"), origin="articles"),
    Mistake("causal_lm_loss", "gradient-unpadded", loss(grad="d_logits = d / y.size"), says=("(N, T, V)",)),
    Mistake("causal_lm_loss", "gradient-sign", loss(grad="d_logits[:, :-1] = -d / y.size"), says=("wrong sign",), origin="learner"),
    Mistake("causal_lm_loss", "gradient-no-onehot", loss(body=LOSS_OK.replace(
        "np.put_along_axis(d, y[..., None], np.take_along_axis(d, y[..., None], axis=-1) - 1.0, axis=-1)\n", "")),
            says=("one-hot", "subtract 1"), origin="learner"),
    Mistake("causal_lm_loss", "swapped-return", loss(ret="return d_logits, float(loss)"), says=("(loss, d_logits)", "order"),
            origin="learner"),
    # exercise 5: gpt_block
    Mistake("gpt_block", "post-ln", block(ln1="u = x", res="h = layer_norm(x + a, p['gamma1'], p['beta1'], eps)",
                                          ffn='return gelu(h @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]',
                                          out='return layer_norm(h + feed_forward(h, p, eps), p["gamma2"], p["beta2"], eps)'),
            says=("post-LN",)),
    Mistake("gpt_block", "default-eps", block(ln1='u = layer_norm(x, p["gamma1"], p["beta1"])',
                                              ffn='return gelu(layer_norm(h, p["gamma2"], p["beta2"]) @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]'),
            says=("epsilon", "1e-3")),
    Mistake("gpt_block", "eps-in-ln2-only", block(ffn='return gelu(layer_norm(h, p["gamma2"], p["beta2"]) @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]'),
            says=("eps",), origin="learner"),
    Mistake("gpt_block", "tanh-gelu", block(ffn='return gelu(layer_norm(h, p["gamma2"], p["beta2"], eps) @ p["W1"] + p["b1"], approximate=True) @ p["W2"] + p["b2"]'),
            says=("tanh", "not this chapter's choice")),
    Mistake("gpt_block", "no-mask", block(mha="a, _ = multi_head_attention(u, u, p, num_heads)"), says=("future", "causal_mask")),
    Mistake("gpt_block", "inverted-mask", block(mha="a, _ = multi_head_attention(u, u, p, num_heads, mask=~causal_mask(x.shape[1]))"),
            says=("causal_mask",)),
    Mistake("gpt_block", "forgot-the-pair", block(mha="a = multi_head_attention(u, u, p, num_heads, mask=causal_mask(x.shape[1]))"),
            says=("pair", "a, _ ="), origin="learner"),
    Mistake("gpt_block", "no-ffn-residual", block(out="return feed_forward(h, p, eps)"), says=("residual",)),
    Mistake("gpt_block", "relu-ffn", block(ffn='return np.maximum(layer_norm(h, p["gamma2"], p["beta2"], eps) @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"]'),
            says=("gelu",)),
    Mistake("gpt_block", "residual-from-u", block(res="h = u + a"), says=("residual", "x itself"), origin="learner"),
    Mistake("gpt_block", "ffn-of-x", block(out="return h + feed_forward(x, p, eps)"), says=("reads x, not h",), origin="learner"),
    Mistake("gpt_block", "no-ln1", block(mha="a, _ = multi_head_attention(x, x, p, num_heads, mask=causal_mask(x.shape[1]))"),
            says=("no LN1",), origin="learner"),
    Mistake("gpt_block", "no-ln2", block(ffn='return gelu(h @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]'), says=("no LN2",),
            origin="learner"),
    Mistake("gpt_block", "mask-hides-diagonal",
            block(mha="a, _ = multi_head_attention(u, u, p, num_heads, mask=np.tril(np.ones((x.shape[1],) * 2, bool), -1))"),
            says=("diagonal", "ITSELF"), origin="learner"),
    Mistake("gpt_block", "pytorch-additive-mask",
            block(mha="a, _ = multi_head_attention(u, u, p, num_heads, mask=np.triu(np.full((x.shape[1],) * 2, -np.inf), 1))"),
            says=("future", "PyTorch"), origin="learner"),
    Mistake("gpt_block", "gelu-twice",
            block(ffn='return gelu(gelu(layer_norm(h, p["gamma2"], p["beta2"], eps) @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"])'),
            says=("gelu applied after W2",), origin="learner"),
    # exercise 6: gpt_forward
    Mistake("gpt_forward", "all-positions", fwd(x0='x = embedding_forward(ids, params["E"]) + params["P"]'),
            says=("P", "[:T]"), origin="learner"),
    Mistake("gpt_forward", "positions-by-token", fwd(x0='x = embedding_forward(ids, params["E"]) + params["P"][ids]'),
            says=("position", "[:T]")),
    Mistake("gpt_forward", "no-positions", fwd(x0='x = embedding_forward(ids, params["E"])'), says=("positions",)),
    Mistake("gpt_forward", "no-final-ln", fwd(lnf="pass"), says=("final layer norm",)),
    Mistake("gpt_forward", "final-ln-default-eps", fwd(lnf='x = layer_norm(x, params["gamma_f"], params["beta_f"])'),
            says=("final", "eps")),
    Mistake("gpt_forward", "untied", fwd(out='return x @ params["W_out"]'), says=("TIED",)),
    Mistake("gpt_forward", "E-not-transposed", fwd(out='return x @ params["E"]'), says=("E.T",)),
    Mistake("gpt_forward", "scaled-embedding", fwd(x0='x = embedding_forward(ids, params["E"]) * np.sqrt(params["E"].shape[1]) + params["P"][:T]'),
            says=("sqrt(D)",)),
    Mistake("gpt_forward", "positions-every-block", fwd(blk='x = gpt_block(x + params["P"][:T], p, num_heads, eps)'),
            says=("every block", "once"), origin="learner"),
    Mistake("gpt_forward", "positions-after-blocks", fwd(x0='x = embedding_forward(ids, params["E"])',
                                                         lnf='x = layer_norm(x + params["P"][:T], params["gamma_f"], params["beta_f"], eps)'),
            says=("after the blocks",), origin="learner"),
    Mistake("gpt_forward", "softmax-output", fwd(out='z = x @ params["E"].T\n    e = np.exp(z - z.max(-1, keepdims=True))\n    '
                                                     'return e / e.sum(-1, keepdims=True)'),
            says=("probabilities", "LOGITS"), origin="learner"),
    Mistake("gpt_forward", "first-block-only", fwd(blk='x = gpt_block(x, params["blocks"][0], num_heads, eps)'),
            says=("params['blocks'][0]", "own weights"), origin="learner"),
    Mistake("gpt_forward", "blocks-reversed", fwd().replace('for p in params["blocks"]:', 'for p in params["blocks"][::-1]:'),
            says=("reverse order",), origin="learner"),
    Mistake("gpt_forward", "eps-not-to-blocks", fwd(blk="x = gpt_block(x, p, num_heads)"), says=("blocks ignore eps",),
            origin="learner"),
    # exercise 7: next_token_probs
    Mistake("next_token_probs", "temperature-after-softmax", probs(temp="z = np.asarray(logits, dtype=np.float64)",
                                                                  ret="return e / e.sum(axis=-1, keepdims=True) / temperature"),
            says=("LOGITS", "temperature")),
    Mistake("next_token_probs", "top-k-unnormalised", probs(keep="pass", ret='''p = e / e.sum(axis=-1, keepdims=True)
    if top_k is not None and top_k < z.shape[-1]:
        p = np.where(z >= kth[:, None], p, 0.0)
    return p'''), says=("renormalis",)),
    Mistake("next_token_probs", "argsort-drops-ties", probs(kth="kth = None", keep='''order = np.argsort(z, axis=-1)[:, :-int(top_k)]
        np.put_along_axis(z, order, -np.inf, axis=-1)'''), says=("ties",)),
    Mistake("next_token_probs", "no-max-subtraction", probs(exp="e = np.exp(z)"), says=("maximum",)),
    Mistake("next_token_probs", "softmax-over-batch", probs(exp="e = np.exp(z - z.max(axis=0, keepdims=True))",
                                                          ret="return e / e.sum(axis=0, keepdims=True)"), says=("axis=-1",)),
    Mistake("next_token_probs", "kth-off-by-one", probs(kth="kth = np.sort(z, axis=-1)[:, -int(top_k) - 1]"), says=("k-th largest",)),
    Mistake("next_token_probs", "no-temperature-check", probs(check=""), says=("ValueError",)),
    Mistake("next_token_probs", "top-k-strict", probs(keep="z = np.where(z > kth[:, None], z, -np.inf)"), says=("z >= kth",),
            origin="learner"),
    Mistake("next_token_probs", "top-k-zeroed", probs(keep="z = np.where(z >= kth[:, None], z, 0.0)"), says=("not -inf",),
            origin="learner"),
    Mistake("next_token_probs", "times-temperature", probs(temp="z = np.asarray(logits, dtype=np.float64) * temperature"),
            says=("multiplied by the temperature",), origin="learner"),
    # exercise 8: generate_greedy
    Mistake("generate_greedy", "full-recompute", GREEDY_FULL, says=("cache",), origin="learner"),
    Mistake("generate_greedy", "final-ln-default-eps",
            greedy(lnf='logits = layer_norm(x[:, 0], params["gamma_f"], params["beta_f"]) @ params["E"].T'),
            says=("final layer norm", "eps"), origin="learner"),
    Mistake("generate_greedy", "prompt-not-cached", greedy(store='''            if t + 1 >= T0:
                K[:, :, t:t + 1] = project(u, p["Wk"], p["bk"])
                V[:, :, t:t + 1] = project(u, p["Wv"], p["bv"])
'''), says=("prompt",), origin="learner"),
    Mistake("generate_greedy", "position-zero", greedy(x='x = embedding_forward(ids[:, t:t + 1], params["E"]) + params["P"][0]'),
            says=("P[t]",)),
    Mistake("generate_greedy", "zero-size-slice",
            greedy(attend='o, _ = scaled_dot_product_attention(project(u, p["Wq"], p["bq"]), K[:, :, :t], V[:, :, :t])'),
            says=(":t + 1",), origin="learner"),
    Mistake("generate_greedy", "no-final-ln", greedy(lnf='logits = x[:, 0] @ params["E"].T'), says=("final layer norm",)),
    Mistake("generate_greedy", "blocks-default-eps", greedy(ln1='u = layer_norm(x, p["gamma1"], p["beta1"])'),
            says=("eps",)),
    Mistake("generate_greedy", "argmax-over-batch", greedy(argmax="ids[:, t + 1] = logits.argmax()"),
            says=("argmax", "axis=-1")),
    Mistake("generate_greedy", "argmax-axis-1-of-3d", greedy(
        lnf='logits = layer_norm(x, params["gamma_f"], params["beta_f"], eps) @ params["E"].T',
        argmax="ids[:, t + 1] = logits.argmax(axis=1)"), says=("one per sequence", "axis=-1"), origin="learner"),
    Mistake("generate_greedy", "keys-from-x", greedy(store='''            K[:, :, t:t + 1] = project(x, p["Wk"], p["bk"])
            V[:, :, t:t + 1] = project(x, p["Wv"], p["bv"])
'''), says=("input x, not from LN1(x)",), origin="learner"),
    Mistake("generate_greedy", "position-next", greedy(x='x = embedding_forward(ids[:, t:t + 1], params["E"]) + params["P"][t + 1]'),
            says=("P[t + 1]",), origin="learner"),
    Mistake("generate_greedy", "attend-new-only", greedy(
        attend='o, _ = scaled_dot_product_attention(project(u, p["Wq"], p["bq"]), K[:, :, t:t + 1], V[:, :, t:t + 1])'),
            says=("only to itself", ":t + 1"), origin="learner"),
    Mistake("generate_greedy", "swapped-return", GREEDY.replace("return (ids, caches) if", "return (caches, ids) if"),
            says=("(caches, ids)", "return (ids, caches)"), origin="learner"),
    Mistake("generate_greedy", "store-next-column", greedy(store='''            K[:, :, t + 1:t + 2] = project(u, p["Wk"], p["bk"])
            V[:, :, t + 1:t + 2] = project(u, p["Wv"], p["bv"])
'''), says=("column t + 1", "t:t + 1"), origin="learner"),
    Mistake("generate_greedy", "no-ffn-residual", greedy(ffn="x = feed_forward(h, p, eps)"), says=("residual",), origin="learner"),
    Mistake("generate_greedy", "loop-one-short", greedy(loop="for t in range(T_total - 2):"), says=("range(T0 + steps - 1)",),
            origin="learner"),
]
