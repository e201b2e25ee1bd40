"""The element loops of pyx/simd.h on every path this CPU runs: the fused
loops that make the stream in registers (AVX2, AVX-512: float32, float64,
float16 and alpha dropout's) or through buffers (scalar), and the keep-flag,
stream-word and packed-bit loops (every path), against NumPy expressions of
the same contract.  Sizes and offsets are chosen around the loops' edges:
groups of 32/64 elements, groups of four groups, work items of CHUNK
elements, an offset that is not a multiple of 4 (the fused loop starts at the
next block), and a stream that wraps (2**64 words) inside the array.
"""
import numpy as np
import pytest

import cydrop
from cydrop import _kernels
from cydrop._core import alpha_constants
from cydrop.functional import stream_words

from _reference import stream_words as ref_words

CHUNK = _kernels.CHUNK_ELEMENTS
SIZES = [1, 31, 32, 33, 63, 64, 65, 255, 256, 257, 300, CHUNK, CHUNK + 1, 3 * CHUNK + 37]
OFFSETS = [0, 1, 2, 3, 6, 2**64 - 4 * 70 - 2, 2**64 - 1]
SEED = 0x1234_5678_9ABC_DEF0
P = 0.3
IMPLS = _kernels.available_impls()


@pytest.fixture(params=IMPLS)
def impl(request):
    saved = _kernels.get_impl()
    _kernels.set_impl(request.param)
    yield request.param
    _kernels.set_impl(saved)


def _data(n, dtype, seed=0):
    x = np.random.default_rng(seed).standard_normal(n).astype(dtype)
    if n > 40:                       # NaN, infinities and signed zeros, kept or dropped
        x[3:9] = [np.nan, np.inf, -np.inf, -0.0, 0.0, np.nan]
    return x


def _expected(x, keep):
    scale = x.dtype.type(1.0 / (1.0 - P))
    return np.where(keep, x * scale, x.dtype.type(0))


def _same(a, b):
    """Equal bit for bit (NaN payloads aside), signed zeros included."""
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.signbit(a), np.signbit(b))


def test_loops_follow_the_philox_path(impl):
    want = {"avx512": "avx512", "avx2": "avx2"}.get(impl)
    if want is None:     # scalar: SSE2 on x86-64, else (or CYDROP_NO_SIMD) plain C
        assert _kernels.simd_loops() in ("sse2", "c")
    else:
        assert _kernels.simd_loops() == want


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", OFFSETS)
def test_fused_forward_matches_the_stream(impl, dtype, offset):
    thr = _kernels.threshold(P)
    for n in SIZES:
        x = _data(n, dtype)
        keep = stream_words(SEED, offset, n) >= thr
        want = _expected(x, keep)
        _same(cydrop.dropout(x, P, seed=SEED, offset=offset), want)
        buf = x.copy()
        cydrop.dropout(buf, P, seed=SEED, offset=offset, inplace=True)
        _same(buf, want)
        y, bits = cydrop.dropout(x, P, seed=SEED, offset=offset, return_mask="bits")
        _same(y, want)
        np.testing.assert_array_equal(bits, np.packbits(keep, bitorder="little"))
        y, m = cydrop.dropout(x, P, seed=SEED, offset=offset, return_mask=True)
        _same(y, want)
        np.testing.assert_array_equal(m, keep)


def test_stream_words_used_are_the_reference_words():
    # the words the fused loops are checked against, against the pure-Python
    # stream (docs/design.md), across a wrap of the stream
    n = 700
    np.testing.assert_array_equal(stream_words(SEED, 2**64 - 4 * 70 - 2, n),
                                  ref_words(SEED, 2**64 - 4 * 70 - 2, n))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_forward_identical_on_every_path_and_thread_count(dtype):
    saved, threads = _kernels.get_impl(), cydrop.get_num_threads()
    x = _data(20 * CHUNK + 77, dtype)
    try:
        results = []
        for name in IMPLS:
            _kernels.set_impl(name)
            for t in (1, 2):
                cydrop.set_num_threads(t)
                results.append(cydrop.dropout(x, P, seed=SEED, offset=5, return_mask="bits"))
    finally:
        _kernels.set_impl(saved)
        cydrop.set_num_threads(threads)
    for y, bits in results[1:]:
        _same(y, results[0][0])
        np.testing.assert_array_equal(bits, results[0][1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mask_and_bits_loops(impl, dtype):
    rng = np.random.default_rng(3)
    for n in SIZES:
        x = _data(n, dtype, seed=1)
        keep = rng.random(n) >= P
        bits = np.packbits(keep, bitorder="little")
        want = _expected(x, keep)
        _same(cydrop.dropout(x, P, mask=keep), want)
        _same(cydrop.dropout(x, P, mask=bits), want)
        _same(cydrop.dropout_backward(x, keep, P), want)
        _same(cydrop.dropout_backward(x, bits, P), want)
        buf = x.copy()
        cydrop.dropout_backward(buf, bits, P, inplace=True)
        _same(buf, want)
        # a bool mask given as a view of other bytes: any nonzero byte keeps
        raw = keep.view(np.uint8) * rng.integers(1, 256, n, dtype=np.uint8)
        _same(cydrop.dropout(x, P, mask=raw.view(np.bool_)), want)


def test_strided_and_offset_views_take_the_general_path(impl):
    # not contiguous, or contiguous but not starting on a block: same contract
    x = _data(4 * CHUNK + 10, np.float64)
    thr = _kernels.threshold(P)
    view = x[1::2]
    keep = stream_words(SEED, 3, view.size) >= thr
    _same(cydrop.dropout(view, P, seed=SEED, offset=3), _expected(view, keep))
    sub = x[7:]
    keep = stream_words(SEED, 1, sub.size) >= thr
    _same(cydrop.dropout(sub, P, seed=SEED, offset=1), _expected(sub, keep))


@pytest.fixture
def streaming_always():
    old = _kernels.set_streaming_min_bytes(0)
    yield
    _kernels.set_streaming_min_bytes(old)


@pytest.mark.parametrize("misalign", [0, 1, 3, 4, 12, 15])
@pytest.mark.parametrize("offset", [0, 2, 5])
def test_streaming_stores_at_any_alignment(impl, streaming_always, misalign, offset):
    # float32 out of place with non-temporal stores (every size, with the
    # threshold at 0): the loop starts where out is 64-byte aligned, on a
    # block boundary and, with packed bits, on a bits byte
    thr = _kernels.threshold(P)
    threads = cydrop.get_num_threads()
    try:
        for t in (1, 2):
            cydrop.set_num_threads(t)
            for n in (100, 3 * CHUNK + 37, 20 * CHUNK + 5):
                x = _data(n, np.float32)
                keep = stream_words(SEED, offset, n) >= thr
                room = np.empty(n + 16, np.float32)
                out = room[misalign:misalign + n]
                cydrop.dropout(x, P, seed=SEED, offset=offset, out=out)
                _same(out, _expected(x, keep))
                out[:] = np.nan
                _, bits = cydrop.dropout(x, P, seed=SEED, offset=offset, out=out,
                                         return_mask="bits")
                _same(out, _expected(x, keep))
                np.testing.assert_array_equal(bits, np.packbits(keep, bitorder="little"))
    finally:
        cydrop.set_num_threads(threads)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("misalign", [0, 1, 3, 4, 7, 12, 15])
def test_streaming_stores_of_the_mask_loops(impl, streaming_always, dtype, misalign):
    # masked scaling and the backward with a bool mask or packed bits, out of
    # place with non-temporal stores (threshold 0): the streaming part starts
    # where out is 64-byte aligned (and, with bits, on a byte of them); the
    # head before it and the tail after the last whole vector use ordinary
    # stores
    rng = np.random.default_rng(11)
    threads = cydrop.get_num_threads()
    try:
        for t in (1, 2):
            cydrop.set_num_threads(t)
            for n in (5, 100, 3 * CHUNK + 37, 20 * CHUNK + 5):
                x = _data(n, dtype)
                keep = rng.random(n) >= P
                bits = np.packbits(keep, bitorder="little")
                want = _expected(x, keep)
                room = np.empty(n + 16, dtype)
                out = room[misalign:misalign + n]
                for mask in (keep, bits):
                    out[:] = np.nan
                    cydrop.dropout(x, P, mask=mask, out=out)
                    _same(out, want)
                    out[:] = np.nan
                    cydrop.dropout_backward(x, mask, P, out=out)
                    _same(out, want)
                # a byte-misaligned float array (no position is 64-byte
                # aligned): ordinary stores throughout
                raw = np.empty(n * x.itemsize + 1, np.uint8)
                odd = raw[1:].view(dtype)
                cydrop.dropout(x, P, mask=keep, out=odd)
                _same(odd, want)
    finally:
        cydrop.set_num_threads(threads)


@pytest.mark.parametrize("stream", [False, True], ids=["stores", "streaming"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xoff, ooff", [(0, 0), (1, 1), (3, 3), (4, 4), (15, 15), (0, 5), (7, 2)])
def test_scale_loop(impl, dtype, xoff, ooff, stream):
    # vanilla evaluation's x * (1 - p) (`_kernels.scale_all`, and a mask of
    # one flag broadcast over every element): the scale loop, whose stores
    # start where out is aligned, at any alignment of x and out; a single
    # False flag writes +0.0 everywhere, NaN and infinities included
    old = _kernels.set_streaming_min_bytes(0 if stream else 1 << 62)
    threads = cydrop.get_num_threads()
    c = dtype(1 - P)
    try:
        for t in (1, 2):
            cydrop.set_num_threads(t)
            for n in SIZES:
                x = np.empty(n + 16, dtype)[xoff:xoff + n]
                x[...] = _data(n, dtype)
                out = np.full(n + 16, np.nan, dtype)[ooff:ooff + n]
                _kernels.scale_all(x, out, 1 - P)
                _same(out, x * c)
                _kernels.masked_scale(x, out, np.broadcast_to(np.False_, x.shape), None, 2.0)
                _same(out, np.zeros(n, dtype))
                _kernels.masked_scale(x, out, np.broadcast_to(np.True_, x.shape), None, 1 - P)
                _same(out, x * c)
                _same(cydrop.dropout(x, P, False, scaling="vanilla"), x * c)
                y = x.copy()
                assert cydrop.dropout(y, P, False, True, scaling="vanilla") is y
                _same(y, x * c)
    finally:
        cydrop.set_num_threads(threads)
        _kernels.set_streaming_min_bytes(old)


def test_scale_all_checks_its_arguments():
    x = np.ones(10, np.float32)
    with pytest.raises((TypeError, ValueError)):
        _kernels.scale_all(x, np.ones(10, np.float64), 0.5)
    with pytest.raises((TypeError, ValueError)):
        _kernels.scale_all(x, np.ones(11, np.float32), 0.5)
    with pytest.raises((TypeError, ValueError)):
        _kernels.scale_all(x.astype(np.int32), x, 0.5)


# float16 and alpha dropout: contiguous spans from the stream run their own
# register loops on the SIMD paths (F16C's conversions; the product then the
# sum), everything else the general path's buffers.  Both against NumPy's
# arithmetic of the contract: float16 computed in float32 and rounded once
# (to nearest even, as astype rounds), alpha's two roundings.

def _expected_mode(x, keep, alpha):
    ct = np.float64 if x.dtype == np.float64 else np.float32
    xc = x.astype(ct)
    if alpha:
        a, b_keep, b_drop = alpha_constants(P, x.dtype)
        want = np.where(keep, xc * ct(a) + ct(b_keep), ct(b_drop))
    else:
        want = np.where(keep, xc * ct(1.0 / (1.0 - P)), ct(0))
    with np.errstate(over="ignore"):        # float16's overflow to inf is the contract
        return want.astype(x.dtype)


def _forward(x, alpha, **kw):
    if alpha:
        return cydrop.alpha_dropout(x, P, True, seed=SEED, **kw)
    return cydrop.dropout(x, P, seed=SEED, **kw)


def _half_data(n, dtype, seed=0):
    x = _data(n, dtype, seed)
    if dtype == np.float16 and n > 40:   # subnormal and overflowing results, ties
        x[10:16] = np.array([6e-8, -3e-5, 6.1e-5, 65000, -65504, 2049], np.float16)
    return x


@pytest.mark.parametrize("dtype, alpha", [(np.float16, False), (np.float16, True),
                                          (np.float32, True), (np.float64, True)],
                         ids=["float16", "float16-alpha", "float32-alpha", "float64-alpha"])
@pytest.mark.parametrize("offset", OFFSETS)
def test_float16_and_alpha_fused_loops(impl, dtype, alpha, offset):
    thr = _kernels.threshold(P)
    for n in SIZES:
        x = _half_data(n, dtype)
        keep = stream_words(SEED, offset, n) >= thr
        want = _expected_mode(x, keep, alpha)
        _same(_forward(x, alpha, offset=offset), want)
        buf = x.copy()
        _forward(buf, alpha, offset=offset, inplace=True)
        _same(buf, want)
        y, bits = _forward(x, alpha, offset=offset, return_mask="bits")
        _same(y, want)
        np.testing.assert_array_equal(bits, np.packbits(keep, bitorder="little"))
        y, m = _forward(x, alpha, offset=offset, return_mask=True)
        _same(y, want)
        np.testing.assert_array_equal(m, keep)
        # out of place into an array whose start is not 16- or 64-byte aligned
        room = np.empty(n + 8, dtype)
        out = room[3:3 + n]
        _forward(x, alpha, offset=offset, out=out)
        _same(out, want)
        # not contiguous: the general path, the same result
        wide = np.empty(2 * n, dtype)
        wide[::2] = x
        _same(_forward(wide[::2], alpha, offset=offset), want)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("misalign", [0, 1, 3, 4, 8, 15])
def test_float16_and_alpha_streaming_stores(impl, streaming_always, dtype, misalign):
    # out of place with non-temporal stores at every size (threshold 0), one
    # and two threads: the loop starts where out is 64-byte aligned
    thr = _kernels.threshold(P)
    threads = cydrop.get_num_threads()
    try:
        for t in (1, 2):
            cydrop.set_num_threads(t)
            for n in (100, 3 * CHUNK + 37, 20 * CHUNK + 5):
                x = _half_data(n, dtype)
                keep = stream_words(SEED, 5, n) >= thr
                room = np.empty(n + 16, dtype)
                out = room[misalign:misalign + n]
                for alpha in (False, True):
                    out[:] = np.nan
                    _forward(x, alpha, offset=5, out=out)
                    _same(out, _expected_mode(x, keep, alpha))
    finally:
        cydrop.set_num_threads(threads)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float16_and_alpha_identical_on_every_path_and_thread_count(dtype):
    saved, threads = _kernels.get_impl(), cydrop.get_num_threads()
    x = _half_data(20 * CHUNK + 77, dtype)
    try:
        results = []
        for name in IMPLS:
            _kernels.set_impl(name)
            for t in (1, 2):
                cydrop.set_num_threads(t)
                for alpha in (False, True):
                    results.append(_forward(x, alpha, offset=7))
    finally:
        _kernels.set_impl(saved)
        cydrop.set_num_threads(threads)
    for k, y in enumerate(results[2:]):
        _same(y, results[k % 2])
