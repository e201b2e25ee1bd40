"""The keep rule's equality case, directed: element i is kept iff its stream
word is >= floor(p * 2**32) (docs/design.md, "The random stream").

For each call, p is chosen so that floor(p * 2**32) is *exactly* the word of
one element: that element must be kept (and scaled), which a compare written
``>`` instead of ``>=`` anywhere (a SIMD lane, the scalar head or tail, the
keep-flag, packed-bit or fused loop) would get wrong.  The equal word is
moved across the array by the offset: its stream position j stays put and
the call starts at ``offset = j - i``, so it lands at index i, for every i of
the first 80 elements (every lane of 8 and 16, head and first groups), around
work-item boundaries (CHUNK_ELEMENTS) and in the ragged tail, with stream
positions of every residue mod 4 (where the fused loop's first block
starts) and one that wraps past 2**64 inside the array.  p is taken at both
ends of the interval of p with that threshold (w / 2**32, exact, and the
largest double below (w + 1) / 2**32).

Runs on the active Philox path: CI runs it under CYDROP_SIMD=scalar, avx2
and avx512 (.ci/run, MATRIX_TESTS).
"""
import numpy as np
import pytest

import cydrop
from cydrop import _kernels

CHUNK = _kernels.CHUNK_ELEMENTS
N = 2 * CHUNK + 37          # two work items and a ragged tail (4133 with 2048)
INDICES = sorted({*range(80), 127, 128, 129, 255, 256, 1000,
                  CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK - 1, 2 * CHUNK, 2 * CHUNK + 1,
                  N - 17, N - 16, N - 9, N - 8, N - 3, N - 2, N - 1})
SEED = 0x0DDB_A11_5EED_0001
# stream positions of the equal word: every residue mod 4, and one near the
# end of the stream (calls that put it late in the array wrap past 2**64)
POSITIONS = [1_000_000, 1_000_001, 1_000_002, 1_000_003, 2**64 - 2]


def ps_with_threshold(w):
    """The smallest and the largest double p with floor(p * 2**32) == w."""
    low = w / 2**32                                     # exact
    high = float(np.nextafter((w + 1) / 2**32, 0.0))
    for p in (low, high):
        assert int(np.floor(p * 2**32)) == w and _kernels.threshold(p) == w, (w, p)
    return low, high


def expected(v, words, thr, p):
    """The contract as a NumPy expression: kept x * fl(1 / (1 - p)), dropped 0."""
    scale = v.dtype.type(1.0 / (1.0 - p))
    return np.where(words >= thr, v * scale, v.dtype.type(0))


def same(got, want):
    """Bit for bit, signed zeros included."""
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{want.itemsize}"))


@pytest.mark.parametrize("j", POSITIONS)
def test_a_word_equal_to_the_threshold_is_kept(dtype, j):
    x = (1.0 + np.arange(N) / N).astype(dtype)       # no zeros: kept != dropped
    g = -(2.0 + np.arange(N) % 7).astype(dtype)
    w = int(cydrop.stream_words(SEED, j, 1)[0])
    assert 0 < w                                      # p == 0 would draw nothing
    for p in ps_with_threshold(w):
        thr = _kernels.threshold(p)
        for i in INDICES:
            offset = (j - i) % 2**64
            words = cydrop.stream_words(SEED, offset, N)
            assert words[i] == thr and np.count_nonzero(words == thr) == 1
            want = expected(x, words, thr, p)
            assert want[i] != 0                       # the equal word's element is kept
            ctx = dict(i=i, offset=offset, p=p)

            same(cydrop.dropout(x, p, seed=SEED, offset=offset), want)

            y, m = cydrop.dropout(x, p, seed=SEED, offset=offset, return_mask=True)
            same(y, want)
            assert m[i], ctx
            np.testing.assert_array_equal(m, words >= thr)

            y, bits = cydrop.dropout(x, p, seed=SEED, offset=offset, return_mask="bits")
            same(y, want)
            assert bits[i // 8] >> (i % 8) & 1, ctx
            np.testing.assert_array_equal(bits, np.packbits(words >= thr, bitorder="little"))

            out = np.full_like(x, np.nan)
            res = cydrop.dropout(x, p, seed=SEED, offset=offset, out=out)
            assert res is out
            same(out, want)

            buf = x.copy()
            cydrop.dropout(buf, p, seed=SEED, offset=offset, inplace=True)
            same(buf, want)

            dg = cydrop.dropout_backward(g, p=p, seed=SEED, offset=offset)
            same(dg, expected(g, words, thr, p))
            assert dg[i] != 0, ctx


def test_one_above_the_word_drops_it(dtype):
    """The other side: with floor(p * 2**32) == w + 1 the element of word w
    is dropped (a threshold off by one the other way)."""
    x = (1.0 + np.arange(N) / N).astype(dtype)
    j = POSITIONS[0]
    w = int(cydrop.stream_words(SEED, j, 1)[0])
    p = (w + 1) / 2**32
    assert _kernels.threshold(p) == w + 1
    for i in (0, 5, 37, CHUNK + 3, N - 1):
        offset = j - i
        words = cydrop.stream_words(SEED, offset, N)
        y, m = cydrop.dropout(x, p, seed=SEED, offset=offset, return_mask=True)
        assert y[i] == 0 and not m[i]
        same(y, expected(x, words, w + 1, p))
