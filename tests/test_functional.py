"""cydrop.dropout / dropout_backward: semantics, parity with the NumPy
reference, in place / out=, masks, and every bad input of docs/design.md "Errors"."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import cydrop

import _reference as ref
from cydrop import _kernels
from cydrop.functional import stream_words

P_VALUES = [0.1, 0.45, 0.5, 0.9]


def _data(shape, dtype, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 3).astype(dtype)


def _mask(shape, seed=1, keep=0.6):
    return np.random.default_rng(seed).random(shape) < keep


# -- parity with the NumPy reference -------------------------------------------

@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("shape", [(1,), (3, 7), (5, 4, 3), (1000,)])
def test_given_mask_matches_numpy(p, shape, dtype):
    x, m = _data(shape, dtype), _mask(shape)
    want = ref.numpy_dropout(x, m, p)
    got = cydrop.dropout(x, p, mask=m)
    assert got.dtype == dtype and got.shape == shape
    np.testing.assert_array_equal(got, want)
    # the plain formula x * mask / (1 - p) agrees to rounding of the scale
    np.testing.assert_allclose(got, x * m / (1 - p), rtol=2 * np.finfo(dtype).eps)
    packed = np.packbits(m.ravel(), bitorder="little")
    np.testing.assert_array_equal(cydrop.dropout(x, p, mask=packed), want)


@pytest.mark.parametrize("p", P_VALUES)
def test_backward_matches_numpy(p, dtype):
    g, m = _data((4, 9), dtype, seed=3), _mask((4, 9))
    want = ref.numpy_dropout(g, m, p)
    np.testing.assert_array_equal(cydrop.dropout_backward(g, m, p), want)
    packed = np.packbits(m.ravel(), bitorder="little")
    np.testing.assert_array_equal(cydrop.dropout_backward(g, packed, p), want)


@pytest.mark.parametrize("p", P_VALUES)
def test_recompute_backward_regenerates_the_forward_mask(p, dtype):
    x, g = _data((17, 5), dtype), _data((17, 5), dtype, seed=4)
    _, m = cydrop.dropout(x, p, seed=123, offset=8, return_mask=True)
    np.testing.assert_array_equal(cydrop.dropout_backward(g, None, p, seed=123, offset=8),
                                  cydrop.dropout_backward(g, m, p))


def test_scale_is_rounded_once_to_the_dtype(dtype):
    x = np.ones(64, dtype)
    y = cydrop.dropout(x, 0.3, seed=0)
    kept = y[y != 0]
    assert np.all(kept == np.asarray(1 / 0.7).astype(dtype))


# -- torch semantics --------------------------------------------------------------

def test_eval_and_p0_return_the_input_object(dtype):
    x = _data((3, 4), dtype)
    assert cydrop.dropout(x, 0.5, training=False) is x
    assert cydrop.dropout(x, 0.0) is x
    assert cydrop.dropout(x, 0.0, inplace=True) is x
    y, m = cydrop.dropout(x, 0.0, return_mask=True)
    assert y is x and m.all() and m.shape == x.shape


def test_p1_is_all_zeros(dtype):
    x = _data((3, 4), dtype)
    x[0, 0] = np.nan
    y, m = cydrop.dropout(x, 1.0, return_mask=True)
    assert np.all(y == 0) and not m.any() and y is not x
    assert np.isnan(x[0, 0])  # input untouched
    assert cydrop.dropout(x, 1, inplace=True) is x and np.all(x == 0)
    assert np.all(cydrop.dropout_backward(np.ones(5, dtype), np.ones(5, bool), 1.0) == 0)


def test_dropped_nan_and_inf_are_exactly_zero(dtype):
    x = np.array([np.nan, np.inf, -np.inf, 1.0] * 16, dtype)
    m = np.zeros(64, bool)
    m[::5] = True
    y = cydrop.dropout(x, 0.5, mask=m)
    assert np.all(y[~m] == 0) and not np.signbit(y[~m]).any()
    np.testing.assert_array_equal(y[m], x[m] * dtype(2))
    y, m = cydrop.dropout(x, 0.5, seed=1, return_mask=True)
    assert np.all(y[~m] == 0)
    g = cydrop.dropout_backward(x, m, 0.5)
    assert np.all(g[~m] == 0)


def test_inplace_and_out(dtype):
    x = _data((6, 7), dtype)
    want = cydrop.dropout(x, 0.3, seed=4)
    out = np.empty_like(x)
    assert cydrop.dropout(x, 0.3, seed=4, out=out) is out
    np.testing.assert_array_equal(out, want)
    strided_out = np.empty((6, 14), dtype)[:, ::2]
    assert cydrop.dropout(x, 0.3, seed=4, out=strided_out) is strided_out
    np.testing.assert_array_equal(strided_out, want)
    xc = x.copy()
    assert cydrop.dropout(xc, 0.3, seed=4, out=xc) is xc
    np.testing.assert_array_equal(xc, want)
    xc = x.copy()
    assert cydrop.dropout(xc, 0.3, True, True, seed=4) is xc
    np.testing.assert_array_equal(xc, want)
    assert cydrop.dropout(x, 0.3, training=False, out=out) is out
    np.testing.assert_array_equal(out, x)


def test_out_overlapping_the_input(dtype):
    base = _data(20, dtype)
    x = base[:19]
    want = cydrop.dropout(x.copy(), 0.5, seed=2)
    out = base[1:]        # overlaps x, shifted by one element
    cydrop.dropout(x, 0.5, seed=2, out=out)
    np.testing.assert_array_equal(out, want)


def test_backward_inplace_and_out(dtype):
    g, m = _data(33, dtype), _mask(33)
    want = cydrop.dropout_backward(g, m, 0.2)
    gc = g.copy()
    assert cydrop.dropout_backward(gc, m, 0.2, inplace=True) is gc
    np.testing.assert_array_equal(gc, want)
    out = np.empty_like(g)
    assert cydrop.dropout_backward(g, m, 0.2, out=out) is out
    np.testing.assert_array_equal(out, want)


def test_accepts_lists_and_scalars():
    y = cydrop.dropout([[1.0, 2.0], [3.0, 4.0]], 0.5, seed=0)
    assert y.shape == (2, 2) and y.dtype == np.float64
    y0 = cydrop.dropout(np.float32(2.0), 0.5, seed=0)
    assert y0.shape == () and y0.dtype == np.float32


def test_seeds_and_generators():
    x = np.ones(1000)
    a = cydrop.dropout(x, 0.5, seed=7)
    np.testing.assert_array_equal(a, cydrop.dropout(x, 0.5, rng=7))
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(cydrop.dropout(x, 0.5, rng=g1), cydrop.dropout(x, 0.5, rng=g2))
    assert not np.array_equal(cydrop.dropout(x, 0.5, rng=g1), cydrop.dropout(x, 0.5, rng=g1))


def test_default_stream_advances_and_reseeds():
    x = np.ones(1001)
    cydrop.manual_seed(42)
    a, b = cydrop.dropout(x, 0.5), cydrop.dropout(x, 0.5)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, cydrop.dropout(x, 0.5, seed=42, offset=0))
    np.testing.assert_array_equal(b, cydrop.dropout(x, 0.5, seed=42, offset=1004))
    cydrop.manual_seed(42)
    np.testing.assert_array_equal(cydrop.dropout(x, 0.5), a)
    assert cydrop.initial_seed() == 42


@given(arrays(st.sampled_from([np.float32, np.float64]), array_shapes(min_dims=0, max_dims=4,
                                                                        min_side=0, max_side=6),
              elements=st.floats(-1e6, 1e6, width=32)),
       st.floats(0.01, 0.99), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1),
       st.sampled_from(["C", "F", "reversed"]))
def test_property_matches_stream_reference(x, p, seed, offset, layout):
    if layout == "F":
        x = np.asfortranarray(x)
    elif layout == "reversed" and x.ndim:
        x = np.flip(x, 0).copy()[::-1]   # same values, negative stride
    out, mask = cydrop.dropout(x, p, seed=seed, offset=offset, return_mask=True)
    expected = ref.keep_mask(x.shape, p, seed, offset)
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(out, ref.numpy_dropout(x, expected, p))


# -- bad input: a clear exception, nothing written -----------------------------------

BAD_P = [-0.1, 1.5, math.nan, math.inf, True, 1j, "0.5", None]


@pytest.mark.parametrize("p", BAD_P, ids=repr)
def test_bad_p(p):
    x = np.ones(4)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got"):
        cydrop.dropout(x, p, inplace=True)
    with pytest.raises(ValueError, match="dropout probability"):
        cydrop.dropout_backward(x, np.ones(4, bool), p)
    with pytest.raises(ValueError, match="dropout probability"):
        cydrop.Dropout(p)
    assert np.all(x == 1)


@pytest.mark.parametrize("bad", [np.int64, np.int32, np.int16, np.longdouble, np.complex128,
                                 bool])
def test_bad_dtype_raises_type_error_naming_it(bad):
    x = np.ones(8, dtype=bad)
    before = x.copy()
    with pytest.raises(TypeError, match=str(np.dtype(bad))):
        cydrop.dropout(x, 0.5, inplace=True)
    with pytest.raises(TypeError, match="dtype"):
        cydrop.dropout_backward(x, np.ones(8, bool), 0.5)
    np.testing.assert_array_equal(x, before)


def _bad_calls(x, g):
    m = np.ones(x.shape, bool)
    yield ValueError, lambda: cydrop.dropout(x, 0.5, mask=np.ones((5, 3), bool), inplace=True)
    yield ValueError, lambda: cydrop.dropout(x, 0.5, mask=np.ones(x.shape, np.float32), inplace=True)
    yield ValueError, lambda: cydrop.dropout(x, 0.5, mask=np.ones(3, np.uint8), inplace=True)
    yield ValueError, lambda: cydrop.dropout(x, 0.5, out=np.empty((4, 4)))
    other = np.float32 if x.dtype == np.float64 else np.float64
    yield ValueError, lambda: cydrop.dropout(x, 0.5, out=np.empty(x.shape, other))
    yield ValueError, lambda: cydrop.dropout(x, 0.5, inplace=True, out=np.empty_like(x))
    yield ValueError, lambda: cydrop.dropout(x, 0.5, return_mask="yes", inplace=True)
    yield ValueError, lambda: cydrop.dropout(x, 0.5, seed=-1, inplace=True)
    yield ValueError, lambda: cydrop.dropout(x, 0.5, seed=2**64, inplace=True)
    yield ValueError, lambda: cydrop.dropout(x, 0.5, seed=1, rng=1, inplace=True)
    yield ValueError, lambda: cydrop.dropout(x, 0.5, offset=4, inplace=True)
    yield TypeError, lambda: cydrop.dropout(x, 0.5, seed=1.5, inplace=True)
    yield TypeError, lambda: cydrop.dropout(x, 0.5, rng="seed", inplace=True)
    yield TypeError, lambda: cydrop.dropout(x.tolist(), 0.5, inplace=True)
    yield TypeError, lambda: cydrop.dropout(x, 0.5, out=[0.0] * 12)
    yield ValueError, lambda: cydrop.dropout_backward(g, None, 0.5, inplace=True)
    yield ValueError, lambda: cydrop.dropout_backward(g, m, 0.5, seed=1, inplace=True)
    yield ValueError, lambda: cydrop.dropout_backward(g, m[:2], 0.5, inplace=True)
    yield ValueError, lambda: cydrop.dropout_backward(g, m, 0.5, out=np.empty(3))


def test_bad_arguments_write_nothing(dtype):
    x, g = _data((3, 4), dtype), _data((3, 4), dtype, seed=9)
    x0, g0 = x.copy(), g.copy()
    for exc, call in _bad_calls(x, g):
        with pytest.raises(exc):
            call()
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(g, g0)


def test_read_only_inplace(dtype):
    x = _data(10, dtype)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        cydrop.dropout(x, 0.5, inplace=True)
    with pytest.raises(ValueError, match="read-only"):
        cydrop.dropout_backward(x, np.ones(10, bool), 0.5, inplace=True)
    with pytest.raises(ValueError, match="read-only"):
        cydrop.dropout(_data(10, dtype), 0.5, out=x)
    # a read-only input is fine out of place
    assert cydrop.dropout(x, 0.5, seed=1).flags.writeable


def test_overlap_classification():
    from cydrop import _kernels
    a = np.zeros(10)
    assert _kernels.overlap(a, a) == 1
    assert _kernels.overlap(a[:5], a[5:]) == 0
    assert _kernels.overlap(a[:6], a[4:]) == 2
    assert _kernels.overlap(a[::2], a[1::2]) == 2      # bounds overlap: treated as may-share
    assert _kernels.overlap(a.reshape(2, 5), a.reshape(2, 5)) == 1
    assert _kernels.overlap(a.reshape(2, 5), a.reshape(5, 2)) == 2
    assert _kernels.overlap(a[:0], a) == 0


def test_given_mask_is_returned_in_the_asked_form(dtype):
    x, m = _data((3, 5), dtype), _mask((3, 5))
    packed = np.packbits(m.ravel(), bitorder="little")
    for given in (m, packed):
        _, as_bool = cydrop.dropout(x, 0.4, mask=given, return_mask=True)
        assert as_bool.shape == x.shape and as_bool.dtype == bool
        np.testing.assert_array_equal(as_bool, m)
        _, as_bits = cydrop.dropout(x, 0.4, mask=given, return_mask="bits")
        np.testing.assert_array_equal(as_bits, packed)


def test_p1_into_an_overlapping_out(dtype):
    base = _data(20, dtype)
    x, out = base[:19], base[1:]
    assert cydrop.dropout(x, 1.0, out=out) is out
    assert np.all(out == 0)


# -- byte order, self-overlapping outputs, long messages, huge shapes ----------

def test_non_native_byte_order(dtype):
    other = np.dtype(dtype).newbyteorder("S")     # the byte order this machine does not use
    x = _data((5, 7), dtype).astype(other)
    # out of place: converted, the result in native order and the same values
    y, m = cydrop.dropout(x, 0.4, seed=3, return_mask=True)
    assert y.dtype == np.dtype(dtype) and y.dtype.isnative
    np.testing.assert_array_equal(y, cydrop.dropout(x.astype(dtype), 0.4, seed=3))
    g = cydrop.dropout_backward(x, m, 0.4)
    assert g.dtype == np.dtype(dtype)
    # in place: a clear error naming the byte order, nothing written
    before = x.tobytes()
    with pytest.raises(TypeError, match="byte order.*" + other.str):
        cydrop.dropout(x, 0.4, inplace=True, seed=3)
    with pytest.raises(TypeError, match="endian"):
        cydrop.dropout_backward(x, m, 0.4, inplace=True)
    assert x.tobytes() == before
    # out= in the other byte order
    with pytest.raises(ValueError, match="byte order"):
        cydrop.dropout(x.astype(dtype), 0.4, seed=3, out=np.empty((5, 7), other))


def _self_overlapping(dtype, kind):
    """(base, view): a writeable view of ``base`` whose elements share memory."""
    base = np.zeros(64, dtype)
    item = base.itemsize
    shape, strides = {
        "zero-stride": ((8,), (0,)),
        "zero-stride-2d": ((4, 3), (item, 0)),
        # rows 2 items apart, 3 items long: row k's last element is row k+1's first
        "interleaved": ((4, 3), (2 * item, item)),
    }[kind]
    return base, np.lib.stride_tricks.as_strided(base, shape, strides, writeable=True)


@pytest.mark.parametrize("kind", ["zero-stride", "zero-stride-2d", "interleaved"])
def test_written_arrays_must_not_overlap_themselves(kind, dtype):
    base, a = _self_overlapping(dtype, kind)
    base[...] = 1.5
    before = base.tobytes()
    src = np.ones(a.shape, dtype)
    for call in (lambda: cydrop.dropout(a, 0.5, inplace=True, seed=1),
                 lambda: cydrop.dropout(a, 1.0, inplace=True),
                 lambda: cydrop.dropout(a, 0.5, inplace=True, mask=np.ones(a.shape, bool)),
                 lambda: cydrop.dropout_backward(a, np.ones(a.shape, bool), 0.5, inplace=True)):
        with pytest.raises(ValueError, match="(x|grad) has elements that share memory"):
            call()
    for call in (lambda: cydrop.dropout(src, 0.5, seed=1, out=a),
                 lambda: cydrop.dropout(src, 0.5, training=False, out=a),
                 lambda: cydrop.dropout_backward(src, None, 0.5, seed=1, out=a)):
        with pytest.raises(ValueError, match="out has elements that share memory"):
            call()
    assert base.tobytes() == before


def test_interleaved_but_disjoint_strides_are_accepted(dtype):
    # strides (2, 3) items on shape (3, 2): offsets 0 3 / 2 5 / 4 7, all
    # distinct, but the fast sorted-stride test cannot tell (stride 3 is
    # inside the 5-item extent of the stride-2 axis): the exact check
    # decides, and accepts it
    from cydrop import _kernels
    base = np.zeros(8, dtype)
    item = base.itemsize
    b = np.lib.stride_tricks.as_strided(base, (3, 2), (2 * item, 3 * item), writeable=True)
    assert _kernels.self_overlap(b) == 2
    x = _data((3, 2), dtype)
    assert cydrop.dropout(x, 0.5, seed=4, out=b) is b
    np.testing.assert_array_equal(b, cydrop.dropout(x, 0.5, seed=4))


def test_read_only_broadcast_input_is_fine(dtype):
    x = np.broadcast_to(np.asarray(2.0, dtype), (5, 6))      # stride 0, read-only
    y, m = cydrop.dropout(x, 0.5, seed=9, return_mask=True)
    np.testing.assert_array_equal(y, ref.numpy_dropout(np.full((5, 6), 2.0, dtype), m, 0.5))


def test_error_messages_stay_short():
    x = np.ones(4)
    huge = [0.5] * 10**6
    for call in (lambda: cydrop.dropout(x, huge), lambda: cydrop.Dropout(huge),
                 lambda: cydrop.dropout(x, 0.5, return_mask=huge),
                 lambda: cydrop.keep_mask([-1] * 10**5, 0.5, 0),
                 lambda: cydrop.dropout(x, 0.5, seed=10**100000)):
        with pytest.raises((ValueError, TypeError)) as info:
            call()
        assert len(str(info.value)) < 300, str(info.value)[:400]


@pytest.mark.parametrize("shape", [(2**32, 2**32), (2**63, 2), (2**64,), (3, -1)])
@pytest.mark.parametrize("packed", [False, True])
def test_sizes_that_overflow_raise(shape, packed):
    with pytest.raises(ValueError, match="shape"):
        cydrop.keep_mask(shape, 0.5, 1, packed=packed)


def test_stream_words_bad_n():
    with pytest.raises(ValueError, match="n must be"):
        cydrop.stream_words(1, 0, 2**62)
    with pytest.raises(ValueError, match="n must be"):
        cydrop.stream_words(1, 0, -1)
    with pytest.raises(TypeError, match="n must be an integer"):
        cydrop.stream_words(1, 0, 2.0)


def test_kernel_entry_points_refuse_wrong_arguments():
    # the boundary between the Python layer and the walker: typed, named
    # entry points; a wrong argument raises instead of reaching a cast
    from cydrop import _kernels
    x, out = np.ones(16, np.float32), np.empty(16, np.float32)
    with pytest.raises(TypeError):
        _kernels.masked_scale([1.0] * 16, out, mask=np.ones(16, bool), scale=2.0)
    with pytest.raises(TypeError, match="one dtype"):
        _kernels.masked_scale(x, np.empty(16), mask=np.ones(16, bool), scale=2.0)
    with pytest.raises(ValueError, match="shape"):
        _kernels.masked_scale(x, np.empty(8, np.float32), mask=np.ones(16, bool), scale=2.0)
    with pytest.raises(ValueError, match="exactly one"):
        _kernels.masked_scale(x, out, scale=2.0)
    with pytest.raises(ValueError, match="bits must be"):
        _kernels.masked_scale(x, out, bits=np.ones(1, np.uint8), scale=2.0)
    with pytest.raises(ValueError, match="mask must be a bool"):
        _kernels.masked_scale(x, out, mask=np.ones(16, np.uint8), scale=2.0)
    with pytest.raises(OverflowError):
        _kernels.fused_forward(x, out, seed=-1, offset=0, thr=0, scale=1.0)
    with pytest.raises(TypeError):
        _kernels.fused_forward(x, out, 1, 0)                  # thr and scale missing
    with pytest.raises(ValueError, match="bits_out"):
        _kernels.draw_mask((16,), seed=1, offset=0, thr=0, bits_out=np.empty(3, np.uint8))
    with pytest.raises(ValueError, match="mask_out= or bits_out="):
        _kernels.draw_mask((16,), seed=1, offset=0, thr=0)


# ---------------------------------------------------------------------------
# The hot path: dropout(x, p) with every other argument at its default runs
# one kernel call (_kernels.default_forward); it must be the general path.

MAKES = [
    lambda: np.arange(16, dtype=np.float32),
    lambda: np.arange(4099, dtype=np.float64),                 # with the GIL released
    lambda: np.arange(60, dtype=np.float16).reshape(6, 10),
    lambda: np.asfortranarray(np.arange(60.0).reshape(6, 10)),
    lambda: np.arange(120.0, dtype=np.float32)[::3],
    lambda: np.arange(40.0)[::-1],
    lambda: np.zeros((0, 3), np.float32),
]


@pytest.mark.parametrize("make", MAKES)
def test_default_call_equals_the_general_path(make):
    x = make()
    cydrop.manual_seed(123)
    seed, offset = cydrop._kernels.default_stream_state()
    fast = cydrop.dropout(x, 0.3)
    after = cydrop._kernels.default_stream_state()
    slow = cydrop.dropout(x, 0.3, seed=seed, offset=offset)
    np.testing.assert_array_equal(fast, slow)
    assert fast.dtype == x.dtype and fast.shape == x.shape
    assert fast.strides == np.empty_like(x).strides          # x's layout, as empty_like
    assert after == (seed, offset + 4 * ((x.size + 3) // 4))
    assert not np.shares_memory(fast, x)
    # into out=, and in place
    out = np.full_like(x, np.nan)
    cydrop.manual_seed(123)
    assert cydrop.dropout(x, 0.3, out=out) is out
    np.testing.assert_array_equal(out, slow)
    buf = x.copy()
    cydrop.manual_seed(123)
    assert cydrop.dropout(buf, 0.3, inplace=True) is buf
    np.testing.assert_array_equal(buf, slow)


@pytest.mark.parametrize("x", [
    [1.0, 2.0, 3.0],                                         # not an ndarray: converted
    np.arange(8, dtype=">f4"),                               # byte-swapped: converted
    np.ma.masked_array(np.arange(8.0)),                      # a subclass
], ids=["list", "byteswapped", "subclass"])
def test_default_call_declines_what_it_does_not_take(x):
    assert cydrop._kernels.default_forward(x, 0.3) is None
    cydrop.manual_seed(5)
    y = cydrop.dropout(x, 0.3)
    cydrop.manual_seed(5)
    seed, offset = cydrop._kernels.default_stream_state()
    np.testing.assert_array_equal(np.asarray(y), np.asarray(cydrop.dropout(x, 0.3, seed=seed)))


def test_default_call_rejects_what_the_general_path_rejects():
    with pytest.raises(TypeError, match="float16, float32 and float64"):
        cydrop.dropout(np.arange(8), 0.3)
    with pytest.raises(ValueError, match="between 0 and 1"):
        cydrop.dropout(np.ones(8), 1.5)
    x = np.ones(8, np.float32)
    ro = np.ones(8, np.float32)
    ro.flags.writeable = False
    for kwargs, err, text in [
            (dict(out=np.ones(8)), ValueError, "dtype"),
            (dict(out=np.ones(9, np.float32)), ValueError, "shape"),
            (dict(out=ro), ValueError, "read-only"),
            (dict(out=np.broadcast_to(np.float32(0), (8,))), ValueError, "read-only"),
            (dict(out=[0.0] * 8), TypeError, "numpy.ndarray"),
            (dict(out=np.ones(8, np.float32), inplace=True), ValueError, "disagree")]:
        before = np.array(kwargs["out"], copy=True)
        with pytest.raises(err, match=text):
            cydrop.dropout(x, 0.3, **kwargs)
        np.testing.assert_array_equal(kwargs["out"], before)      # nothing written
    with pytest.raises(ValueError, match="read-only"):
        cydrop.dropout(ro, 0.3, inplace=True)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        cydrop.dropout([1.0, 2.0], 0.3, inplace=True)


@pytest.mark.parametrize("view", ["same", "reversed", "shifted"])
def test_default_call_into_an_out_that_overlaps_x(view):
    # declined by the one-call path: the general path computes through a
    # temporary (or in place for the very same elements)
    base = np.arange(1.0, 41.0)
    x = base[:32]
    out = {"same": x, "reversed": x[::-1], "shifted": base[8:40]}[view]
    want = cydrop.dropout(x.copy(), 0.3, seed=9, offset=0)
    cydrop.manual_seed(9)
    got = cydrop.dropout(x, 0.3, out=out)
    assert got is out
    np.testing.assert_array_equal(got, want)


# The hot path with a stored mask: dropout(x, p, mask=m) and
# dropout_backward(g, m, p) (out= and inplace= allowed) run one kernel call
# (_kernels.default_masked); it must be the general path's masked_scale.



def _fresh_out_and_inplace(call, x, want):
    """``call(a, **kw)`` gives ``want`` as a fresh array, into ``out=`` and in
    place (into a copy of ``x``)."""
    got = call(x)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == x.dtype and not np.shares_memory(got, x)
    out = np.full_like(x, np.nan)
    assert call(x, out=out) is out
    np.testing.assert_array_equal(out, want)
    buf = x.copy()
    assert call(buf, inplace=True) is buf
    np.testing.assert_array_equal(buf, want)


@pytest.mark.parametrize("make", MAKES)
def test_masked_call_equals_the_general_path(make):
    x = make()
    keep = np.random.default_rng(7).random(x.shape) >= 0.3
    bits = np.packbits(keep.ravel(), bitorder="little")
    for mask in (keep, np.asfortranarray(keep), bits):
        packed = mask.dtype == np.uint8
        want = np.full_like(x, np.nan)
        cydrop._kernels.masked_scale(x, want, None if packed else mask,
                                     mask if packed else None, 1.0 / (1.0 - 0.3))
        if x.dtype != np.float16:
            np.testing.assert_array_equal(
                want, np.where(keep, x * x.dtype.type(1.0 / (1.0 - 0.3)), 0))
        state = cydrop._kernels.default_stream_state()
        _fresh_out_and_inplace(lambda a, **kw: cydrop.dropout(a, 0.3, mask=mask, **kw), x, want)
        _fresh_out_and_inplace(lambda a, **kw: cydrop.dropout_backward(a, mask, 0.3, **kw),
                               x, want)
        assert cydrop._kernels.default_stream_state() == state     # no words taken


def test_masked_call_declines_and_the_general_path_answers():
    x = np.arange(1.0, 17.0)
    keep = np.arange(16) % 3 != 0
    scale = 1.0 / (1.0 - 0.25)
    want = np.where(keep, x * scale, 0.0)
    # declined, then taken by the general path: converted or copied
    strided_bits = np.repeat(np.packbits(keep, bitorder="little"), 2)[::2]
    for mask in (keep.tolist(), strided_bits):               # a list; bits not contiguous
        assert cydrop._kernels.default_masked(x, mask, 0.25) is None
        np.testing.assert_array_equal(cydrop.dropout(x, 0.25, mask=mask), want)
        np.testing.assert_array_equal(cydrop.dropout_backward(x, mask, 0.25), want)
    # an out= whose bytes hold the mask: declined, nothing written
    raw = np.zeros(16 * 8, np.uint8)
    out = raw.view(np.float64)
    m = raw[64:80].view(bool)
    m[:] = keep
    before = raw.copy()
    assert cydrop._kernels.default_masked(x, m, 0.25, out) is None
    np.testing.assert_array_equal(raw, before)
    # declined, then rejected by the general path with its own message,
    # nothing written
    out = np.full(16, np.nan)
    for mask, text in [(keep[:8], "mask has shape"),
                       (np.ones(3, np.uint8), "packed bits"),
                       (np.ones(16, np.int64), "mask must be a bool array")]:
        assert cydrop._kernels.default_masked(x, mask, 0.25, out) is None
        for call in (lambda: cydrop.dropout(x, 0.25, mask=mask, out=out),
                     lambda: cydrop.dropout_backward(x, mask, 0.25, out=out)):
            with pytest.raises(ValueError, match=text):
                call()
            assert np.isnan(out).all()


@pytest.mark.parametrize("make", MAKES)
@pytest.mark.parametrize("seed, offset", [(9, 0), (2**64 - 1, 6), (3, 2**64 - 5)])
def test_seeded_call_equals_the_general_path(make, seed, offset):
    # dropout(x, p, seed=, offset=) and the recomputing dropout_backward take
    # the one-call path (_kernels.default_forward with a seed); the words are
    # the stream's, and the default stream does not move
    x = make()
    keep = stream_words(seed, offset, x.size).reshape(x.shape) >= _kernels.threshold(0.3)
    want = np.full_like(x, np.nan)
    _kernels.masked_scale(x, want, keep, None, 1.0 / (1.0 - 0.3))
    state = _kernels.default_stream_state()
    _fresh_out_and_inplace(
        lambda a, **kw: cydrop.dropout(a, 0.3, seed=seed, offset=offset, **kw), x, want)
    _fresh_out_and_inplace(
        lambda a, **kw: cydrop.dropout_backward(a, p=0.3, seed=seed, offset=offset, **kw),
        x, want)
    assert _kernels.default_stream_state() == state


def test_seeded_call_rejects_what_the_general_path_rejects():
    x = np.ones(8, np.float32)
    out = np.full(8, np.nan, np.float32)
    for kwargs, err, text in [(dict(seed=-1), ValueError, "seed"),
                              (dict(seed=2**64), ValueError, "seed"),
                              (dict(seed=1, offset=-1), ValueError, "offset"),
                              (dict(seed=1, offset=2**64), ValueError, "offset"),
                              (dict(seed=1.5), TypeError, "seed")]:
        for call in (lambda: cydrop.dropout(x, 0.3, out=out, **kwargs),
                     lambda: cydrop.dropout_backward(x, p=0.3, out=out, **kwargs)):
            with pytest.raises(err, match=text):
                call()
            assert np.isnan(out).all()
    with pytest.raises(ValueError, match="offset= needs seed="):
        cydrop.dropout(x, 0.3, offset=4)


@pytest.mark.parametrize("make", MAKES[:4])
def test_one_call_paths_with_vanilla_scaling(make):
    # scaling="vanilla" takes the same one-call entries, kept elements unscaled
    x = make()
    keep = np.random.default_rng(2).random(x.shape) >= 0.4
    bits = np.packbits(keep.ravel(), bitorder="little")
    want = np.where(keep, x, x.dtype.type(0))
    for mask in (keep, bits):
        np.testing.assert_array_equal(cydrop.dropout(x, 0.4, mask=mask, scaling="vanilla"), want)
        np.testing.assert_array_equal(
            cydrop.dropout_backward(x, mask, 0.4, scaling="vanilla"), want)
    words = stream_words(5, 8, x.size).reshape(x.shape) >= _kernels.threshold(0.4)
    want = np.where(words, x, x.dtype.type(0))
    np.testing.assert_array_equal(
        cydrop.dropout(x, 0.4, seed=5, offset=8, scaling="vanilla"), want)
    np.testing.assert_array_equal(
        cydrop.dropout_backward(x, p=0.4, seed=5, offset=8, scaling="vanilla"), want)
    cydrop.manual_seed(77)
    seed, offset = _kernels.default_stream_state()
    fast = cydrop.dropout(x, 0.4, scaling="vanilla")
    np.testing.assert_array_equal(
        fast, cydrop.dropout(x, 0.4, seed=seed, offset=offset, scaling="vanilla"))
    with pytest.raises(ValueError):
        cydrop.dropout(x, 0.4, scaling="Vanilla")


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_arrays_not_aligned_to_their_element_size(dtype):
    # numpy allows them (a view at an odd byte offset); the kernels read and
    # write them through aligned copies, the one-call entries decline them
    n = 4099
    item = np.dtype(dtype).itemsize

    def unaligned(values):
        raw = np.zeros(n * item + 1, np.uint8)
        a = raw[1:].view(dtype)
        a[:] = values
        assert not a.flags.aligned
        return a
    x = np.random.default_rng(4).standard_normal(n).astype(dtype)
    keep = np.random.default_rng(5).random(n) >= 0.3
    want = cydrop.dropout(x, 0.3, seed=8)
    want_m = cydrop.dropout(x, 0.3, mask=keep)
    np.testing.assert_array_equal(cydrop.dropout(unaligned(x), 0.3, seed=8), want)
    out = unaligned(np.nan)
    assert cydrop.dropout(x, 0.3, seed=8, out=out) is out
    np.testing.assert_array_equal(out, want)
    buf = unaligned(x)
    assert cydrop.dropout(buf, 0.3, seed=8, inplace=True) is buf
    np.testing.assert_array_equal(buf, want)
    buf = unaligned(x)
    assert cydrop.dropout_backward(buf, keep, 0.3, inplace=True) is buf
    np.testing.assert_array_equal(buf, want_m)
    out = unaligned(np.nan)
    cydrop.dropout(unaligned(x), 0.3, mask=np.packbits(keep, bitorder="little"), out=out)
    np.testing.assert_array_equal(out, want_m)
    cydrop.manual_seed(3)
    seed, offset = _kernels.default_stream_state()
    np.testing.assert_array_equal(cydrop.dropout(unaligned(x), 0.3),
                                  cydrop.dropout(x, 0.3, seed=seed, offset=offset))
    assert _kernels.default_forward(unaligned(x), 0.3) is None
    assert _kernels.default_masked(x, keep, 0.3, unaligned(x)) is None
