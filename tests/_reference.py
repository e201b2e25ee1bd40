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
