"""Chapter 2's wrong answers: convolution, padding, stride, pooling and their gradients."""

from mistakes import Mistake

DEPENDS = {
    "convolve2d": {"correlate2d"},
    # pad_amounts lives in exercise 3's answer cell; every later exercise calls it
    "conv2d_backward": {"conv2d_forward"},
    "max_pool2d": {"conv2d_forward"},
    "avg_pool2d": {"conv2d_forward"},
    "max_pool2d_backward": {"conv2d_forward"},
}

# ---------------------------------------------------------------- the answer cells' given parts

CORR = '''
def correlate2d(x, k):
    x = np.asarray(x, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    if x.ndim != 2 or k.ndim != 2:
        raise ValueError(f"expected a 2-D x (H, W) and a 2-D kernel (Kh, Kw), got shapes {x.shape} and {k.shape}")
    if k.shape[0] > x.shape[0] or k.shape[1] > x.shape[1]:
        raise ValueError(f"'valid' mode needs a kernel no larger than the input: kernel {k.shape}, input {x.shape}")
'''

PAD_OK = '''

def pad_amounts(n, k, s, padding):
    if padding == "valid":
        return 0, 0
    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2
'''

FWD = '''
def conv2d_forward(x, w, b, stride=1, padding="valid"):
    x, w, b = _check_conv_args(x, w, b)
    sh, sw = _pair(stride, "stride")
    _check_padding(padding)
'''

FWD_OK = FWD + '''    N, H, W, C = x.shape
    kh, kw, _, F = w.shape
    pt, pb = pad_amounts(H, kh, sh, padding)
    pl, pr = pad_amounts(W, kw, sw, padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    Ho, Wo = win.shape[1], win.shape[2]
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(N * Ho * Wo, kh * kw * C)
    return (cols @ w.reshape(kh * kw * C, F) + b).reshape(N, Ho, Wo, F)
'''


def fwd(body, pad=PAD_OK):
    return FWD + body + pad


def fwd_with_pad(pad_body):
    return FWD_OK + '''

def pad_amounts(n, k, s, padding):
    if padding == "valid":
        return 0, 0
''' + pad_body


BWD = '''
def conv2d_backward(dy, x, w, stride=1, padding="valid"):
    x, w, _ = _check_conv_args(x, w)
    (dy,) = _as_float(dy)
    sh, sw = _pair(stride, "stride")
    _check_padding(padding)
    N, H, W, C = x.shape
    kh, kw, _, F = w.shape
    pt, pb = pad_amounts(H, kh, sh, padding)
    pl, pr = pad_amounts(W, kw, sw, padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    Ho, Wo = win.shape[1], win.shape[2]
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(N * Ho * Wo, kh * kw * C)
    dy_mat = dy.reshape(N * Ho * Wo, F)
'''

BWD_DW = "    dw = (cols.T @ dy_mat).reshape(kh, kw, C, F)\n"
BWD_DB = "    db = dy_mat.sum(axis=0)\n"
BWD_DCOLS = "    dcols = (dy_mat @ w.reshape(kh * kw * C, F).T).reshape(N, Ho, Wo, kh, kw, C)\n"
BWD_COL2IM = '''    dxp = np.zeros_like(xp)
    for u in range(kh):
        for v in range(kw):
            dxp[:, u:u + sh * (Ho - 1) + 1:sh, v:v + sw * (Wo - 1) + 1:sw, :] += dcols[:, :, :, u, v, :]
'''
BWD_RET = "    return dxp[:, pt:pt + H, pl:pl + W, :], dw, db\n"


def bwd(dw=BWD_DW, db=BWD_DB, dcols=BWD_DCOLS, col2im=BWD_COL2IM, ret=BWD_RET):
    return BWD + dw + db + dcols + col2im + ret


MAXP = '''
def max_pool2d(x, pool_size=2, stride=None, padding="valid"):
    (x,) = _as_float(x)
    if x.ndim != 4:
        raise ValueError(f"x must be 4-D (N, H, W, C), got shape {x.shape}")
    ph, pw = _pair(pool_size, "pool_size")
    sh, sw = _pair(pool_size if stride is None else stride, "stride")
    _check_padding(padding)
'''
MAXP_PAD = '''    pt, pb = pad_amounts(x.shape[1], ph, sh, padding)
    pl, pr = pad_amounts(x.shape[2], pw, sw, padding)
'''

AVGP = MAXP.replace("def max_pool2d", "def avg_pool2d")
AVGP_PAD = '''    N, H, W, C = x.shape
    pt, pb = pad_amounts(H, ph, sh, padding)
    pl, pr = pad_amounts(W, pw, sw, padding)
    pads = ((0, 0), (pt, pb), (pl, pr), (0, 0))
'''

MAXB = '''
def max_pool2d_backward(dy, x, pool_size=2, stride=None, padding="valid"):
    x, dy = _as_float(x, dy)
    if x.ndim != 4:
        raise ValueError(f"x must be 4-D (N, H, W, C), got shape {x.shape}")
    ph, pw = _pair(pool_size, "pool_size")
    sh, sw = _pair(pool_size if stride is None else stride, "stride")
    _check_padding(padding)
    N, H, W, C = x.shape
    pt, pb = pad_amounts(H, ph, sh, padding)
    pl, pr = pad_amounts(W, pw, sw, padding)
'''
MAXB_WIN = '''    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=-np.inf)
    win = sliding_window_view(xp, (ph, pw), axis=(1, 2))[:, ::sh, ::sw]
    Ho, Wo = win.shape[1], win.shape[2]
'''
MAXB_ARG = "    arg = win.reshape(N, Ho, Wo, C, ph * pw).argmax(axis=-1)\n"
MAXB_LOOP = '''    dxp = np.zeros_like(xp)
    for u in range(ph):
        for v in range(pw):
            dxp[:, u:u + sh * (Ho - 1) + 1:sh, v:v + sw * (Wo - 1) + 1:sw, :] += dy * (arg == u * pw + v)
'''
MAXB_RET = "    return dxp[:, pt:pt + H, pl:pl + W, :]\n"


def maxb(win=MAXB_WIN, arg=MAXB_ARG, loop=MAXB_LOOP, ret=MAXB_RET):
    return MAXB + win + arg + loop + ret


ARTICLES = "source articles' formula"

MISTAKES = [
    # ------------------------------------------------------------ exercise 1: correlate2d
    Mistake("correlate2d", "flipped-kernel", CORR + '''    win = sliding_window_view(x, k.shape)
    return np.einsum("ijab,ab->ij", win, k[::-1, ::-1])
''', says=("flipped", "cross-correlation")),
    Mistake("correlate2d", "scipy-full-mode", CORR + '''    from scipy import signal
    return signal.correlate2d(x, k)
''', says=("'valid'", "full")),
    Mistake("correlate2d", "off-by-one-range", CORR + '''    H, W = x.shape
    kh, kw = k.shape
    y = np.zeros((H - kh, W - kw))
    for i in range(H - kh):
        for j in range(W - kw):
            y[i, j] = np.sum(x[i:i + kh, j:j + kw] * k)
    return y
''', says=("off by one", "H - Kh + 1")),
    Mistake("correlate2d", "sum-over-wrong-axes", CORR + '''    win = sliding_window_view(x, k.shape)
    return (win * k).sum(axis=(0, 1))
''', says=("axes",)),
    Mistake("correlate2d", "centred-window", CORR + '''    H, W = x.shape
    kh, kw = k.shape
    y = np.zeros((H - kh + 1, W - kw + 1))
    for i in range(H - kh + 1):
        for j in range(W - kw + 1):
            for a in range(kh):
                for b in range(kw):
                    y[i, j] += x[i + a - kh // 2, j + b - kw // 2] * k[a, b]
    return y
''', says=("top-left", "wrap")),
    Mistake("correlate2d", "transposed-kernel", CORR + '''    win = sliding_window_view(x, k.shape)
    return np.sum(win * k.T, axis=(2, 3))
''', says=("transpose",)),
    Mistake("correlate2d", "tensorflow", '''import tensorflow as tf
''' + CORR + '''    y = tf.nn.conv2d(x[None, :, :, None], k[:, :, None, None], strides=1, padding="VALID")
    return y.numpy()[0, :, :, 0]
''', says=("write it in NumPy",)),

    # ------------------------------------------------------------ exercise 2: convolve2d
    Mistake("convolve2d", "no-flip", '''
def convolve2d(x, k):
    return correlate2d(x, k)
''', says=("no flip", "cross-correlation")),
    Mistake("convolve2d", "rows-only", '''
def convolve2d(x, k):
    k = np.asarray(k, dtype=np.float64)
    return correlate2d(x, k[::-1])
''', says=("one axis", "k[::-1]")),
    Mistake("convolve2d", "columns-only", '''
def convolve2d(x, k):
    k = np.asarray(k, dtype=np.float64)
    return correlate2d(x, k[:, ::-1])
''', says=("one axis", "k[:, ::-1]")),
    Mistake("convolve2d", "transpose-for-flip", '''
def convolve2d(x, k):
    k = np.asarray(k, dtype=np.float64)
    return correlate2d(x, k.T)
''', says=("90 degrees",)),
    Mistake("convolve2d", "rot90-once", '''
def convolve2d(x, k):
    return correlate2d(x, np.rot90(k))
''', says=("90 degrees", "np.rot90(k, 2)")),
    # a learner's attempt: the articles' x(i-k+1, j-l+1), 0-based, over the valid output range; the kernel
    # IS read backwards, but the rows i < K-1 read x at negative indices, which NumPy wraps around
    Mistake("convolve2d", "articles-literal-wraps", '''
def convolve2d(x, k):
    x, k = np.asarray(x, dtype=np.float64), np.asarray(k, dtype=np.float64)
    H, W = x.shape
    K, L = k.shape
    y = np.zeros((H - K + 1, W - L + 1))
    for i in range(H - K + 1):
        for j in range(W - L + 1):
            for a in range(K):
                for b in range(L):
                    y[i, j] += x[i - a, j - b] * k[a, b]
    return y
''', says=(ARTICLES, "negative", "wrap"), origin="articles"),
    # the articles' formula over the whole image, as the errata's article_formula_literal
    Mistake("convolve2d", "articles-literal-full-size", '''
def convolve2d(x, k):
    x, k = np.asarray(x, dtype=np.float64), np.asarray(k, dtype=np.float64)
    H, W = x.shape
    K, L = k.shape
    y = np.zeros((H, W))
    for i in range(1, H + 1):
        for j in range(1, W + 1):
            for kk in range(1, K + 1):
                for ll in range(1, L + 1):
                    y[i - 1, j - 1] += x[i - kk, j - ll] * k[kk - 1, ll - 1]
    return y
''', says=(ARTICLES, "i >= K"), origin="articles"),
    Mistake("convolve2d", "broken-correlate2d", '''
def convolve2d(x, k):
    k = np.asarray(k, dtype=np.float64)
    return correlate2d(x, k[::-1, ::-1])
''', says=("correlate2d", "fix that first"), alone=True, also={"correlate2d": CORR + '''    win = sliding_window_view(x, k.shape)
    return np.einsum("ijab,ab->ij", win, k[::-1, ::-1])
'''}),

    # ------------------------------------------------------------ exercise 3: conv2d_forward, pad_amounts
    Mistake("conv2d_forward", "same-pads-k-half-both-sides", fwd_with_pad('''    return k // 2, k // 2
'''), says=("k // 2",)),
    Mistake("conv2d_forward", "same-larger-half-on-top", fwd_with_pad('''    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total - total // 2, total // 2
'''), says=("smaller half", "top")),
    Mistake("conv2d_forward", "same-ignores-stride", fwd_with_pad('''    total = k - 1
    return total // 2, total - total // 2
'''), says=("stride",)),
    Mistake("conv2d_forward", "same-negative-padding", fwd_with_pad('''    total = (-(-n // s) - 1) * s + k - n
    return total // 2, total - total // 2
'''), says=("max(", "0)")),
    Mistake("conv2d_forward", "window-axes-not-reordered", fwd('''    N, H, W, C = x.shape
    kh, kw, _, F = w.shape
    pt, pb = pad_amounts(H, kh, sh, padding)
    pl, pr = pad_amounts(W, kw, sw, padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    Ho, Wo = win.shape[1], win.shape[2]
    cols = win.reshape(N * Ho * Wo, kh * kw * C)
    return (cols @ w.reshape(kh * kw * C, F) + b).reshape(N, Ho, Wo, F)
'''), says=("(Kh, Kw, C)", "transpose")),
    Mistake("conv2d_forward", "no-bias", fwd('''    N, H, W, C = x.shape
    kh, kw, _, F = w.shape
    pt, pb = pad_amounts(H, kh, sh, padding)
    pl, pr = pad_amounts(W, kw, sw, padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    Ho, Wo = win.shape[1], win.shape[2]
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(N * Ho * Wo, kh * kw * C)
    return (cols @ w.reshape(kh * kw * C, F)).reshape(N, Ho, Wo, F)
'''), says=("bias",)),
    Mistake("conv2d_forward", "flipped-kernel", fwd('''    w = w[::-1, ::-1]
    N, H, W, C = x.shape
    kh, kw, _, F = w.shape
    pt, pb = pad_amounts(H, kh, sh, padding)
    pl, pr = pad_amounts(W, kw, sw, padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    Ho, Wo = win.shape[1], win.shape[2]
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(N * Ho * Wo, kh * kw * C)
    return (cols @ w.reshape(kh * kw * C, F) + b).reshape(N, Ho, Wo, F)
'''), says=("flip",)),
    Mistake("conv2d_forward", "row-stride-for-both", fwd('''    N, H, W, C = x.shape
    kh, kw, _, F = w.shape
    pt, pb = pad_amounts(H, kh, sh, padding)
    pl, pr = pad_amounts(W, kw, sh, padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sh]
    Ho, Wo = win.shape[1], win.shape[2]
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(N * Ho * Wo, kh * kw * C)
    return (cols @ w.reshape(kh * kw * C, F) + b).reshape(N, Ho, Wo, F)
'''), says=("sw",)),
    Mistake("conv2d_forward", "float64-output", fwd('''    N, H, W, C = x.shape
    kh, kw, _, F = w.shape
    pt, pb = pad_amounts(H, kh, sh, padding)
    pl, pr = pad_amounts(W, kw, sw, padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    Ho, Wo = win.shape[1], win.shape[2]
    y = np.zeros((N, Ho, Wo, F))
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(N * Ho * Wo, kh * kw * C)
    y[...] = (cols @ w.reshape(kh * kw * C, F)).reshape(N, Ho, Wo, F)
    return y + b
'''), says=("float32",)),
    Mistake("conv2d_forward", "pytorch-kernel-layout", fwd('''    N, H, W, C = x.shape
    F, _, kh, kw = w.shape
    pt, pb = pad_amounts(H, kh, sh, padding)
    pl, pr = pad_amounts(W, kw, sw, padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    Ho, Wo = win.shape[1], win.shape[2]
    cols = win.reshape(N * Ho * Wo, C * kh * kw)
    return (cols @ w.reshape(F, C * kh * kw).T + b).reshape(N, Ho, Wo, F)
'''), says=("HWIO", "(Kh, Kw, C, F)")),
    Mistake("conv2d_forward", "tensorflow", fwd('''    import tensorflow as tf
    return tf.nn.conv2d(x, w, strides=(sh, sw), padding=padding.upper()).numpy() + b
'''), says=("write it in NumPy",)),

    # ------------------------------------------------------------ exercise 4: conv2d_backward
    Mistake("conv2d_backward", "no-crop", bwd(ret="    return dxp, dw, db\n"), says=("crop",)),
    Mistake("conv2d_backward", "assign-not-add", bwd(col2im=BWD_COL2IM.replace("] += dcols", "] = dcols")),
            says=("add",)),
    Mistake("conv2d_backward", "db-mean", bwd(db="    db = dy_mat.mean(axis=0)\n"), says=("mean", "sum")),
    Mistake("conv2d_backward", "db-scalar", bwd(db="    db = dy.sum()\n"), says=("(F,)",)),
    Mistake("conv2d_backward", "dw-transposed-product",
            bwd(dw="    dw = (dy_mat.T @ cols).reshape(kh, kw, C, F)\n"), says=("cols.T @ dy",)),
    Mistake("conv2d_backward", "dx-kernel-not-transposed",
            bwd(dcols="    dcols = (dy_mat @ w.reshape(kh * kw * C, F)).reshape(N, Ho, Wo, kh, kw, C)\n"),
            says=("transpose",)),
    Mistake("conv2d_backward", "col2im-ignores-stride", bwd(col2im='''    dxp = np.zeros_like(xp)
    for u in range(kh):
        for v in range(kw):
            dxp[:, u:u + Ho, v:v + Wo, :] += dcols[:, :, :, u, v, :]
'''), says=("stride",)),

    # ------------------------------------------------------------ exercise 5: max_pool2d
    Mistake("max_pool2d", "zero-padding", MAXP + MAXP_PAD + '''    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    return sliding_window_view(xp, (ph, pw), axis=(1, 2))[:, ::sh, ::sw].max(axis=(4, 5))
''', says=("-inf",)),
    Mistake("max_pool2d", "stride-is-pool-size", MAXP + MAXP_PAD + '''    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=-np.inf)
    return sliding_window_view(xp, (ph, pw), axis=(1, 2))[:, ::ph, ::pw].max(axis=(4, 5))
''', says=("stride",)),
    Mistake("max_pool2d", "wrong-axes", MAXP + MAXP_PAD + '''    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=-np.inf)
    return sliding_window_view(xp, (ph, pw), axis=(1, 2))[:, ::sh, ::sw].max(axis=(1, 2))
''', says=("axes (4, 5)",)),
    Mistake("max_pool2d", "pools-channels-too", MAXP + MAXP_PAD + '''    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=-np.inf)
    return sliding_window_view(xp, (ph, pw), axis=(1, 2))[:, ::sh, ::sw].max(axis=(3, 4, 5))
''', says=("channel",)),
    Mistake("max_pool2d", "symmetric-same-padding", MAXP + '''    pt = pb = ph // 2 if padding == "same" else 0
    pl = pr = pw // 2 if padding == "same" else 0
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=-np.inf)
    return sliding_window_view(xp, (ph, pw), axis=(1, 2))[:, ::sh, ::sw].max(axis=(4, 5))
''', says=("pad_amounts", "smaller half")),
    Mistake("max_pool2d", "keras", MAXP + '''    import keras
    return keras.layers.MaxPooling2D((ph, pw), (sh, sw), padding)(x).numpy()
''', says=("write it in NumPy",)),
    Mistake("max_pool2d", "broken-pad-amounts", MAXP + MAXP_PAD + '''    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=-np.inf)
    return sliding_window_view(xp, (ph, pw), axis=(1, 2))[:, ::sh, ::sw].max(axis=(4, 5))
''', says=("pad_amounts", "fix that first"), alone=True, also={"conv2d_forward": fwd_with_pad('''    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total - total // 2, total // 2
''')}),

    # ------------------------------------------------------------ exercise 6: avg_pool2d
    Mistake("avg_pool2d", "counts-padding", AVGP + AVGP_PAD + '''    sums = sliding_window_view(np.pad(x, pads), (ph, pw), axis=(1, 2))[:, ::sh, ::sw].sum(axis=(4, 5))
    return sums / (ph * pw)
''', says=("not counted",)),
    Mistake("avg_pool2d", "mean-of-zero-padded", AVGP + AVGP_PAD + '''    return sliding_window_view(np.pad(x, pads), (ph, pw), axis=(1, 2))[:, ::sh, ::sw].mean(axis=(4, 5))
''', says=("not counted",)),
    Mistake("avg_pool2d", "counts-nonzero-inputs", AVGP + AVGP_PAD + '''    xp = np.pad(x, pads)
    sums = sliding_window_view(xp, (ph, pw), axis=(1, 2))[:, ::sh, ::sw].sum(axis=(4, 5))
    counts = sliding_window_view(xp != 0, (ph, pw), axis=(1, 2))[:, ::sh, ::sw].sum(axis=(4, 5))
    return sums / counts
''', says=("zeros", "real cells")),
    Mistake("avg_pool2d", "wrong-axes", AVGP + AVGP_PAD + '''    sums = sliding_window_view(np.pad(x, pads), (ph, pw), axis=(1, 2))[:, ::sh, ::sw].sum(axis=(1, 2))
    ones = np.pad(np.ones((1, H, W, 1), x.dtype), pads)
    counts = sliding_window_view(ones, (ph, pw), axis=(1, 2))[:, ::sh, ::sw].sum(axis=(1, 2))
    return sums / counts
''', says=("axes (4, 5)",)),
    Mistake("avg_pool2d", "float64-counts", AVGP + AVGP_PAD + '''    sums = sliding_window_view(np.pad(x, pads), (ph, pw), axis=(1, 2))[:, ::sh, ::sw].sum(axis=(4, 5))
    ones = np.pad(np.ones((1, H, W, 1)), pads)
    counts = sliding_window_view(ones, (ph, pw), axis=(1, 2))[:, ::sh, ::sw].sum(axis=(4, 5))
    return sums / counts
''', says=("float32",)),
    Mistake("avg_pool2d", "ignores-same", AVGP + '''    N, H, W, C = x.shape
    return sliding_window_view(x, (ph, pw), axis=(1, 2))[:, ::sh, ::sw].mean(axis=(4, 5))
''', says=("'same'",)),

    # ------------------------------------------------------------ exercise 7: max_pool2d_backward
    Mistake("max_pool2d_backward", "ties-all-get-dy", maxb(arg='''    mx = win.max(axis=(4, 5), keepdims=True)
''', loop='''    dxp = np.zeros_like(xp)
    for u in range(ph):
        for v in range(pw):
            dxp[:, u:u + sh * (Ho - 1) + 1:sh, v:v + sw * (Wo - 1) + 1:sw, :] += dy * (win[..., u, v] == mx[..., 0, 0])
'''), says=("first", "every tied cell")),
    Mistake("max_pool2d_backward", "ties-split", maxb(arg='''    mx = win.max(axis=(4, 5), keepdims=True)
    ties = (win == mx).sum(axis=(4, 5))
''', loop='''    dxp = np.zeros_like(xp)
    for u in range(ph):
        for v in range(pw):
            dxp[:, u:u + sh * (Ho - 1) + 1:sh, v:v + sw * (Wo - 1) + 1:sw, :] += dy * (win[..., u, v] == mx[..., 0, 0]) / ties
'''), says=("first", "split")),
    Mistake("max_pool2d_backward", "assign-not-add", maxb(loop=MAXB_LOOP.replace("] += dy", "] = dy")),
            says=("sum", "+=")),
    Mistake("max_pool2d_backward", "no-crop", maxb(ret="    return dxp\n"), says=("crop",)),
    Mistake("max_pool2d_backward", "zero-padding", maxb(win=MAXB_WIN.replace(", constant_values=-np.inf", "")),
            says=("-inf",)),
    Mistake("max_pool2d_backward", "flat-index-with-ph", maxb(loop=MAXB_LOOP.replace("u * pw + v", "u * ph + v")),
            says=("u * pw + v",)),
    Mistake("max_pool2d_backward", "zeroes-its-input", maxb(loop='''    dxp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    dx = x
    dx[...] = 0.0
    dxp[...] = 0.0
    for u in range(ph):
        for v in range(pw):
            dxp[:, u:u + sh * (Ho - 1) + 1:sh, v:v + sw * (Wo - 1) + 1:sw, :] += dy * (arg == u * pw + v)
'''), says=("in place",)),
]
