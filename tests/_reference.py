"""Plain-Python references the tests compare cydrop against.

``philox4x32_10`` is written from the published algorithm (Salmon et al.,
SC'11; Random123), independently of the C header, and ``stream_words``
follows docs/design.md "The random stream" to the letter.
"""
import numpy as np

M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK32 = 0xFFFFFFFF


def philox4x32(ctr, key, rounds=10):
    x0, x1, x2, x3 = ctr
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0 = (k0 + W0) & MASK32
            k1 = (k1 + W1) & MASK32
        p0 = M0 * x0
        p1 = M1 * x2
        x0, x1, x2, x3 = ((p1 >> 32) ^ x1 ^ k0, p1 & MASK32,
                          (p0 >> 32) ^ x3 ^ k1, p0 & MASK32)
    return (x0, x1, x2, x3)


def stream_words(seed, offset, n):
    key = (seed & MASK32, seed >> 32)
    out = []
    cache = {}
    for i in range(n):
        j = (offset + i) % 2**64        # the stream wraps after 2**64 words
        b = j // 4
        if b not in cache:
            cache = {b: philox4x32((b & MASK32, (b >> 32) & MASK32, 0, 0), key)}
        out.append(cache[b][j % 4])
    return np.array(out, dtype=np.uint64)


def keep_mask(shape, p, seed, offset):
    n = int(np.prod(shape, dtype=np.int64))
    if p == 1:
        return np.zeros(shape, bool)
    thr = int(np.floor(p * 2**32))
    return (stream_words(seed, offset, n) >= thr).reshape(shape)


def numpy_dropout(x, mask, p):
    """The NumPy reference with a given mask: ``x * mask / (1 - p)``, except
    that dropped elements are exactly 0 (as cydrop specifies)."""
    scale = np.asarray(1.0 / (1.0 - p)).astype(x.dtype)
    return np.where(mask, x * scale, np.zeros((), x.dtype))


# SELU's negative saturation value (torch's constant): alpha dropout gives it
# to the dropped elements before the affine map
ALPHA_PRIME = -1.7580993408473766


def resolve_noise_shape(noise_shape, shape):
    """Keras's rule: one entry per axis; None takes x's size."""
    assert len(noise_shape) == len(shape)
    return tuple(s if n is None else int(n) for n, s in zip(noise_shape, shape))


def noise_dropout(x, p, seed, offset, noise_shape, mode="inverted"):
    """Dropout of ``x`` with a mask of ``noise_shape`` broadcast against it,
    built from `keep_mask` (mask element j, C order in the noise shape, takes
    stream word ``offset + j``) and NumPy broadcasting.  Returns ``(y, mask)``
    with the noise-shaped bool mask.

    mode "inverted": kept ``x * fl(1 / (1 - p))``, dropped exactly 0;
    "vanilla": kept ``x``, dropped 0; "alpha": torch's alpha dropout written
    as torch's ATen code computes it (``b = (noise - 1) * alpha*a + alpha*a*p``,
    ``noise *= a``, ``x * noise + b``, in the compute dtype), with dropped
    elements exactly ``b`` (torch computes ``x * 0 + b``: NaN for non-finite x).
    float16 is computed in float32 on ``x.astype(float32)`` and rounded once.
    """
    x = np.asarray(x)
    ns = resolve_noise_shape(noise_shape, x.shape) if noise_shape is not None else x.shape
    m = keep_mask(ns, p, seed, offset) if 0 < p < 1 else np.full(ns, p == 0)
    t = np.float64 if x.dtype == np.float64 else np.float32
    xc = x.astype(t)
    mb = np.broadcast_to(m, x.shape)
    if p == 0:
        return x.copy(), m
    if p == 1:
        y = np.zeros(x.shape, t)
    elif mode == "inverted":
        y = np.where(mb, xc * t(1.0 / (1.0 - p)), t(0))
    elif mode == "vanilla":
        y = np.where(mb, xc, t(0))
    elif mode == "alpha":
        alpha = -ALPHA_PRIME
        a = 1.0 / np.sqrt((alpha * alpha * p + 1) * (1 - p))      # double, as ATen
        noise = mb.astype(t)
        b = (noise - t(1)) * t(alpha * a) + t(alpha * a * p)
        noise = noise * t(a)
        y = np.where(mb, xc * noise + b, b)
    else:
        raise ValueError(mode)
    return y.astype(x.dtype), m
