"""Property tests: cydrop against the plain-Python reference (tests/_reference.py)
over shapes (0-d, empty, up to 6 dims), layouts (negative and non-unit steps,
permuted axes, stride-0 read-only broadcasts as input), dtypes, p (with values
on a stream word's threshold), seeds, offsets (near 2**64, so calls wrap),
in place / out of place / ``out=``, and every mask form.

The number of examples follows the hypothesis profile (tests/conftest.py):
``ci`` by default, ``CYDROP_HYPOTHESIS_PROFILE=thorough`` for >= 10**4 per test.
The tests run on the active Philox path; CI runs this file once per path
(``CYDROP_SIMD=scalar|avx2|avx512``).
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, note, settings, strategies as st

import cydrop
from cydrop import _kernels

import _reference as ref

U64 = 2**64

# Examples build arrays and call the (slow) Python reference: fine to be slow.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
_slow_ok = settings(suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.data_too_large])

DTYPES = st.sampled_from([np.float32, np.float64])
SEEDS = st.one_of(st.integers(0, U64 - 1), st.sampled_from([0, 1, 2**32 - 1, 2**32, U64 - 1]))
# offsets: anywhere; a few hundred words before 2**64 (calls wrap to 0);
# around the 2**32 block carry and block/word alignment edges
OFFSETS = st.one_of(
    st.integers(0, U64 - 1),
    st.integers(U64 - 600, U64 - 1),
    st.integers(U64 - 70, U64 - 1),
    st.integers(0, 40),
    st.sampled_from([4 * 2**32 - 5, 4 * 2**32, 2**63 - 1, 2**63, U64 - 4 * 37 - 1]),
)
# largest side per number of dimensions: sizes stay small enough for the
# pure-Python reference; the 1-D branch sometimes crosses work items
# (CHUNK_ELEMENTS = 2048) and the serial/parallel threshold (16384)
MAX_SIDE = {1: 40, 2: 16, 3: 7, 4: 4, 5: 3, 6: 3}


@st.composite
def shapes(draw):
    kind = draw(st.sampled_from(["small"] * 9 + ["long"]))
    if kind == "long":
        return (draw(st.integers(2040, 17000)),)
    ndim = draw(st.integers(0, 6))
    return tuple(draw(st.integers(0, MAX_SIDE[ndim])) for _ in range(ndim)) if ndim else ()


def _values(rng, shape, dtype, specials):
    if dtype is bool:
        return rng.random(shape) < 0.6
    v = (rng.standard_normal(shape) * 4).astype(dtype)
    if specials and v.size:
        flat = v.reshape(-1)
        idx = rng.integers(0, flat.size, size=min(flat.size, 5))
        flat[idx] = rng.choice(np.array([np.nan, np.inf, -np.inf, -0.0, 0.0], dtype), idx.size)
    return v


@st.composite
def layouts(draw, ndim, writeable):
    """How an array of ``ndim`` dims sits in memory: per-axis step and
    direction, an axis order, and (input only) axes broadcast with stride 0."""
    steps = tuple(draw(st.sampled_from([1, 1, 2, 3] if ndim <= 3 else [1, 2]))
                  * draw(st.sampled_from([1, -1])) for _ in range(ndim))
    perm = tuple(draw(st.permutations(range(ndim)))) if ndim else ()
    bcast = () if writeable or not ndim else tuple(
        d for d in range(ndim) if draw(st.integers(0, 3)) == 0)
    swapped = not writeable and draw(st.integers(0, 7)) == 0
    return steps, perm, bcast, swapped


def make_array(shape, dtype, layout, seed, specials=True):
    """An array of ``shape`` with the given layout (the values depend only
    on ``seed`` and the layout's broadcast axes)."""
    steps, perm, bcast, swapped = layout
    rng = np.random.default_rng(seed)
    ndim = len(shape)
    if not ndim:
        a = np.array(_values(rng, (), dtype, specials))
        return a.astype(a.dtype.newbyteorder()) if swapped else a
    core = tuple(1 if d in bcast else s for d, s in enumerate(shape))
    vals = _values(rng, core, dtype, specials)
    # memory laid out in axis order ``perm``, with ``|step|`` spacing
    mem_shape = tuple(core[perm[k]] * abs(steps[perm[k]]) for k in range(ndim))
    mem = np.zeros(mem_shape, dtype)
    view = mem[tuple(slice(None, None, steps[perm[k]]) for k in range(ndim))]
    view = view.transpose(np.argsort(perm))
    assert view.shape == core
    view[...] = vals
    if bcast:
        view = np.broadcast_to(view, shape)
        assert not view.flags.writeable
    if swapped:
        view = view.astype(view.dtype.newbyteorder())   # non-native byte order, same values
    assert view.shape == shape
    return view


@st.composite
def arrays(draw, writeable, shape=None, dtype=None, swap=True):
    shape = draw(shapes()) if shape is None else shape
    dtype = draw(DTYPES) if dtype is None else dtype
    layout = draw(layouts(len(shape), writeable))
    if not swap:
        layout = layout[:3] + (False,)
    return make_array(shape, dtype, layout, draw(st.integers(0, 2**32 - 1)),
                      specials=draw(st.booleans()))


def draw_p(data, seed, offset, n):
    """p: anywhere in [0, 1], the edges, or exactly on (or one above) the
    threshold of a word this call uses: ``floor(p * 2**32) == word``."""
    kind = data.draw(st.sampled_from(["any", "edge", "word", "word+1"]), label="p kind")
    event(f"p: {kind}")
    if offset + n > U64:
        event("call wraps past word 2**64 - 1")
    if n > _kernels.CHUNK_ELEMENTS:
        event("more than one work item")
    if kind == "any":
        return data.draw(st.floats(0, 1), label="p")
    if kind == "edge" or n == 0:
        return data.draw(st.sampled_from([0.0, 1.0, 0.5, 2.0**-32, 1 - 2.0**-32, 1 / 3]),
                         label="p")
    i = data.draw(st.integers(0, min(n, 64) - 1), label="word index")
    w = int(ref.stream_words(seed, offset, i + 1)[i]) + (kind == "word+1")
    p = w / 2**32                                   # exact in a double
    assert int(np.floor(p * 2**32)) == w
    return p


def expected_mask(shape, p, seed, offset):
    return ref.keep_mask(shape, p, seed, offset)


def check_result(res, x_values, mask, p):
    want = ref.numpy_dropout(x_values, mask, p) if p < 1 else np.zeros_like(x_values)
    assert res.shape == x_values.shape and res.dtype == x_values.dtype
    np.testing.assert_array_equal(res, want)
    dropped = np.asarray(res)[~mask]
    assert not np.signbit(dropped).any() and np.all(dropped == 0)


def native(a):
    return a.astype(a.dtype.newbyteorder("=")) if not a.dtype.isnative else a


def out_array(data, shape, dtype):
    """A writeable ``out=`` in any layout, in native byte order (the result's:
    a non-native input is converted)."""
    layout = data.draw(layouts(len(shape), True), label="out layout")
    return make_array(shape, np.dtype(dtype).newbyteorder("="), layout, 0)


# ---------------------------------------------------------------------------


@_slow_ok
@given(st.data(), SEEDS, OFFSETS,
       st.sampled_from(["copy", "inplace", "out", "out=x"]),
       st.sampled_from([False, True, "bool", "bits"]))
def test_forward_drawn_mask(data, seed, offset, where, return_mask):
    writeable = where in ("inplace", "out=x")
    x = data.draw(arrays(writeable), label="x")
    note(f"x: shape={x.shape} strides={x.strides} dtype={x.dtype}")
    p = draw_p(data, seed, offset, x.size)
    note(f"p={p!r}")
    before = x.copy()
    xv = native(before)
    m = expected_mask(x.shape, p, seed, offset)
    kw = dict(seed=seed, offset=offset, return_mask=return_mask)
    if where == "copy":
        got = cydrop.dropout(x, p, **kw)
    elif where == "inplace":
        got = cydrop.dropout(x, p, inplace=True, **kw)
    elif where == "out":
        out = out_array(data, x.shape, x.dtype)
        got = cydrop.dropout(x, p, out=out, **kw)
    else:
        got = cydrop.dropout(x, p, out=x, **kw)
    res, rmask = got if return_mask is not False else (got, None)
    check_result(res, xv, m, p)
    if where == "inplace" or where == "out=x":
        assert res is x
    elif where == "out":
        assert res is out
    else:
        np.testing.assert_array_equal(x, before)          # input untouched
        assert res is x or not np.shares_memory(res, x)
        assert res.dtype.isnative
    if return_mask in (True, "bool"):
        assert rmask.dtype == bool and rmask.shape == x.shape
        np.testing.assert_array_equal(rmask, m)
    elif return_mask == "bits":
        assert rmask.dtype == np.uint8 and rmask.shape == ((x.size + 7) // 8,)
        np.testing.assert_array_equal(rmask, np.packbits(m.ravel(), bitorder="little"))


@st.composite
def given_masks(draw, shape, form=None):
    """``(m, given)``: the keep-mask as a plain bool array, and as passed to
    cydrop: a bool array in any layout (stride-0 broadcasts too) or packed bits."""
    steps, perm, bcast, _ = draw(layouts(len(shape), False))
    given = make_array(shape, bool, (steps, perm, bcast, False), draw(st.integers(0, 2**32 - 1)))
    m = np.array(given)
    form = draw(st.sampled_from(["bool", "bits"])) if form is None else form
    if form == "bits":
        given = np.packbits(m.ravel(), bitorder="little")
    return m, given


@_slow_ok
@given(st.data(), st.sampled_from(["copy", "inplace", "out"]),
       st.sampled_from([False, True, "bool", "bits"]))
def test_forward_given_mask(data, where, return_mask):
    x = data.draw(arrays(where == "inplace"), label="x")
    m, given = data.draw(given_masks(x.shape), label="mask")
    p = data.draw(st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1.0])), label="p")
    xv = native(x.copy())
    before = x.copy()
    kw = dict(mask=given, return_mask=return_mask)
    if where == "copy":
        got = cydrop.dropout(x, p, **kw)
    elif where == "inplace":
        got = cydrop.dropout(x, p, inplace=True, **kw)
    else:
        out = out_array(data, x.shape, x.dtype)
        got = cydrop.dropout(x, p, out=out, **kw)
    res, rmask = got if return_mask is not False else (got, None)
    effective = m if p < 1 else np.zeros(x.shape, bool)
    check_result(res, xv, effective, p)
    if where == "copy":
        np.testing.assert_array_equal(x, before)
    if return_mask in (True, "bool"):
        assert rmask.shape == x.shape
        np.testing.assert_array_equal(rmask, effective)
    elif return_mask == "bits":
        np.testing.assert_array_equal(rmask, np.packbits(effective.ravel(), bitorder="little"))


@_slow_ok
@given(st.data(), SEEDS, OFFSETS, st.sampled_from(["bool", "bits", "regenerate"]),
       st.sampled_from(["copy", "inplace", "out"]))
def test_backward(data, seed, offset, form, where):
    g = data.draw(arrays(where == "inplace"), label="grad")
    p = draw_p(data, seed, offset, g.size)
    gv = native(g.copy())
    before = g.copy()
    if form == "regenerate":
        m = expected_mask(g.shape, p, seed, offset)
        kw = dict(seed=seed, offset=offset)
        mask = None
    else:
        m, mask = data.draw(given_masks(g.shape, form), label="mask")
        kw = {}
    if where == "copy":
        res = cydrop.dropout_backward(g, mask, p, **kw)
        np.testing.assert_array_equal(g, before)
    elif where == "inplace":
        res = cydrop.dropout_backward(g, mask, p, inplace=True, **kw)
        assert res is g
    else:
        out = out_array(data, g.shape, g.dtype)
        res = cydrop.dropout_backward(g, mask, p, out=out, **kw)
        assert res is out
    check_result(res, gv, m if p < 1 else np.zeros(g.shape, bool), p)


@_slow_ok
@given(shapes(), st.floats(0, 1), SEEDS, OFFSETS, st.booleans())
def test_keep_mask(shape, p, seed, offset, packed):
    got = cydrop.keep_mask(shape, p, seed, offset, packed=packed)
    want = expected_mask(shape, p, seed, offset)
    if packed:
        want = np.packbits(want.ravel(), bitorder="little")
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@_slow_ok
@given(SEEDS, OFFSETS, st.integers(0, 300))
def test_stream_words_on_every_path(seed, offset, n):
    want = ref.stream_words(seed, offset, n)
    before = _kernels.get_impl()
    try:
        for impl in [i for i in _kernels.IMPLS if _kernels.impl_supported(i)]:
            _kernels.set_impl(impl)
            got = cydrop.stream_words(seed, offset, n)
            assert got.dtype == np.uint32
            np.testing.assert_array_equal(got, want, err_msg=impl)
    finally:
        _kernels.set_impl(before)


@_slow_ok
@given(st.data(), SEEDS, st.integers(1, 3000), st.floats(0.01, 0.99))
def test_wrap_at_2_64_splits_like_two_calls(data, seed, n, p):
    """A call that runs past word 2**64 - 1 continues at word 0: the same as
    one call up to the end of the stream and one from its start (checked
    without the reference)."""
    d = data.draw(st.integers(1, n), label="words before 2**64")
    offset = U64 - d
    whole = cydrop.keep_mask(n, p, seed, offset)
    np.testing.assert_array_equal(whole[:d], cydrop.keep_mask(d, p, seed, offset))
    np.testing.assert_array_equal(whole[d:], cydrop.keep_mask(n - d, p, seed, 0))
    words = cydrop.stream_words(seed, offset, n)
    np.testing.assert_array_equal(words, np.concatenate(
        [cydrop.stream_words(seed, offset, d), cydrop.stream_words(seed, 0, n - d)]))
    x = np.arange(1, n + 1, dtype=np.float32)
    y, bits = cydrop.dropout(x, p, seed=seed, offset=offset, return_mask="bits")
    np.testing.assert_array_equal(bits, np.packbits(whole, bitorder="little"))
    np.testing.assert_array_equal(y != 0, whole)
    np.testing.assert_array_equal(
        cydrop.dropout_backward(x, None, p, seed=seed, offset=offset), y)


@_slow_ok
@given(st.data(), SEEDS, OFFSETS, st.sampled_from(["bits", "bool", "recompute"]),
       st.booleans(), st.lists(shapes(), min_size=1, max_size=3))
def test_module_position_and_backward(data, seed, offset, storage, inplace, call_shapes):
    p = data.draw(st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1.0, 0.5])), label="p")
    layer = cydrop.Dropout(p, inplace=inplace, rng=seed, mask_storage=storage)
    layer.set_state((seed, offset))
    pos = offset
    for shape in call_shapes:
        x = data.draw(arrays(inplace, shape=shape, swap=False), label="x")
        xv = native(x.copy())
        y = layer(x)
        m = expected_mask(shape, p, seed, pos)
        check_result(y, xv, m, p)
        if inplace:
            assert y is x
        np.testing.assert_array_equal(layer.mask, m if p < 1 else np.zeros(shape, bool))
        g = data.draw(arrays(False, shape=shape, dtype=xv.dtype, swap=False), label="grad")
        check_result(layer.backward(g), native(g.copy()), m, p)
        if 0 < p < 1:                 # only a drawn mask moves the position
            pos = (pos + ((x.size + 3) & ~3)) % U64
        assert layer.get_state() == (seed, pos)
    layer.eval()
    x = data.draw(arrays(inplace, shape=call_shapes[0], swap=False), label="x (eval)")
    assert layer(x) is x


# -- arrays that are written must not overlap themselves ----------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_written_arrays_must_not_overlap_themselves(dtype):
    base = np.ones(3, dtype)
    selfoverlap = np.lib.stride_tricks.as_strided(base, shape=(4, 3), strides=(0, base.itemsize))
    assert selfoverlap.flags.writeable
    before = base.copy()
    with pytest.raises(ValueError, match=r"\bx\b"):
        cydrop.dropout(selfoverlap, 0.5, inplace=True, seed=1)
    with pytest.raises(ValueError, match=r"\bout\b"):
        cydrop.dropout(np.ones((4, 3), dtype), 0.5, seed=1, out=selfoverlap)
    with pytest.raises(ValueError, match=r"\bgrad\b"):
        cydrop.dropout_backward(selfoverlap, np.ones((4, 3), bool), 0.5, inplace=True)
    with pytest.raises(ValueError, match=r"\bout\b"):
        cydrop.dropout_backward(np.ones((4, 3), dtype), None, 0.5, seed=1, out=selfoverlap)
    np.testing.assert_array_equal(base, before)
    # the same stride-0 view read-only, as an input out of place: fine
    ro = np.broadcast_to(base, (4, 3))
    y, m = cydrop.dropout(ro, 0.5, seed=1, return_mask=True)
    np.testing.assert_array_equal(y, ref.numpy_dropout(np.ones((4, 3), dtype), m, 0.5))
    np.testing.assert_array_equal(m, ref.keep_mask((4, 3), 0.5, 1, 0))


def test_non_native_byte_order():
    x = np.arange(1, 40, dtype=">f4")
    y, m = cydrop.dropout(x, 0.3, seed=2, offset=5, return_mask=True)
    assert y.dtype == np.dtype("float32") and y.dtype.isnative
    np.testing.assert_array_equal(y, ref.numpy_dropout(x.astype(np.float32), m, 0.3))
    np.testing.assert_array_equal(m, ref.keep_mask(x.shape, 0.3, 2, 5))
    out = np.empty(x.shape, np.float32)
    assert cydrop.dropout(x, 0.3, seed=2, offset=5, out=out) is out
    np.testing.assert_array_equal(out, y)
    g = cydrop.dropout_backward(x, None, 0.3, seed=2, offset=5)
    assert g.dtype.isnative
    np.testing.assert_array_equal(g, y)
    np.testing.assert_array_equal(cydrop.dropout_backward(x, m, 0.3), y)
    before = x.copy()
    with pytest.raises((ValueError, TypeError), match="byte order"):
        cydrop.dropout(x, 0.3, inplace=True, seed=2)
    with pytest.raises((ValueError, TypeError), match="byte order"):
        cydrop.dropout_backward(x, m, 0.3, inplace=True)
    np.testing.assert_array_equal(x, before)
