"""The dropout family: ``noise_shape`` (broadcast masks) against the
pure-Python reference (tests/_reference.py ``noise_dropout``), masks in and
out, backward, the modules, torch's channel-wise shape rules and warnings,
``scaling="vanilla"``, alpha dropout (formula, statistics, finite
differences) and float16 (every path equals the float32 result rounded once;
the F16C and portable conversions against NumPy)."""
import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import cydrop
from cydrop import _kernels

import _reference as ref

U64 = 2**64
ALL_DTYPES = [np.float16, np.float32, np.float64]
MODES = ["inverted", "vanilla", "alpha"]

# float16 inputs near 65504 overflow on purpose; NumPy's casts say so
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _data(shape, dtype=np.float64, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 3).astype(dtype)


def assert_bits_equal(got, want):
    """Same dtype, shape and bits (NaNs: same bits too)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape,
                                                                 want.dtype, want.shape)
    u = {2: np.uint16, 4: np.uint32, 8: np.uint64}[got.dtype.itemsize]
    np.testing.assert_array_equal(np.ascontiguousarray(got).view(u),
                                  np.ascontiguousarray(want).view(u))


def _call(mode, x, p, **kw):
    """cydrop's forward for ``mode`` (alpha: alpha_dropout, training=True)."""
    if mode == "alpha":
        return cydrop.alpha_dropout(x, p, True, **kw)
    return cydrop.dropout(x, p, scaling=mode, **kw)


def _backward(mode, g, mask=None, p=0.5, **kw):
    if mode == "alpha":
        return cydrop.alpha_dropout_backward(g, mask, p, **kw)
    return cydrop.dropout_backward(g, mask, p, scaling=mode, **kw)


def _grad_ref(mode, g, mask, p):
    """grad * broadcast(mask) * scale in the compute dtype, rounded once;
    dropped exactly 0 (the scale: 1/(1-p), 1, or alpha's a)."""
    t = np.float64 if g.dtype == np.float64 else np.float32
    if mode == "inverted":
        s = t(1.0 / (1.0 - p))
    elif mode == "vanilla":
        s = t(1.0)
    else:
        alpha = -ref.ALPHA_PRIME
        s = t(1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p)))
    m = np.broadcast_to(mask, g.shape)
    return np.where(m, g.astype(t) * s, t(0)).astype(g.dtype)


# ---------------------------------------------------------------------------
# noise_shape against the reference

NOISE_CASES = [
    ((), ()),                        # 0-d: the plain path
    ((7,), (1,)),                    # one word for the whole vector
    ((7,), (None,)),                 # None entries: x's size -> plain path
    ((4, 5, 6), (None, 1, 6)),
    ((4, 5, 6), (4, 1, 1)),
    ((4, 5, 6), (1, 5, None)),
    ((4, 5, 6), (1, 1, 1)),          # all ones: one flag for everything
    ((2, 3, 4, 5), (2, 3, 1, 1)),    # channel-wise
    ((2, 3, 4, 5), (1, None, 4, 1)),
    ((0, 3), (1, 3)),                # empty x, non-empty noise: 3 words
    ((3, 0), (3, 1)),
    ((0, 3), (None, 1)),             # empty noise
    ((3, 1, 2), (1, 1, 2)),          # a size-1 axis: 1 is also x's size
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,noise", NOISE_CASES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
def test_noise_shape_matches_the_reference(shape, noise, mode, dtype):
    x = _data(shape, dtype)
    for p, seed, offset in ((0.3, 7, 0), (0.5, 2**64 - 1, 2**64 - 3), (0.8, 11, 4 * 2**32 - 2)):
        want, wm = ref.noise_dropout(x, p, seed, offset, noise, mode)
        got, gm = _call(mode, x, p, seed=seed, offset=offset, noise_shape=noise,
                        return_mask=True)
        assert_bits_equal(got, want)
        assert gm.dtype == bool
        np.testing.assert_array_equal(gm, wm)
        assert gm.shape == ref.resolve_noise_shape(noise, shape)


def test_the_reference_mask_is_not_trivially_all_kept_or_dropped():
    # the shapes above must exercise both flags and the broadcast
    _, m = ref.noise_dropout(np.ones((4, 5, 6)), 0.5, 7, 0, (4, 1, 6))
    assert m.any() and not m.all()
    y = cydrop.dropout(np.ones((4, 5, 6)), 0.5, seed=7, noise_shape=(4, 1, 6))
    assert (y == y[:, :1, :]).all() and (y == 0).any() and (y != 0).any()


@pytest.mark.parametrize("offset", [0, 5, 2**64 - 5, 2**64 - 1])
def test_noise_stream_indexing_wraps(offset):
    # mask element j takes word (offset + j) mod 2**64: the stream wraps
    x = _data((3, 4, 5))
    noise = (3, 1, 5)
    _, m = cydrop.dropout(x, 0.5, seed=99, offset=offset, noise_shape=noise, return_mask=True)
    words = ref.stream_words(99, offset, 15)
    np.testing.assert_array_equal(m.ravel(), words >= 2**31)
    np.testing.assert_array_equal(m, cydrop.keep_mask(noise, 0.5, 99, offset))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
def test_noise_equal_to_x_shape_is_the_plain_call(mode, dtype):
    x = _data((5, 6, 7), dtype)
    plain, pm = _call(mode, x, 0.4, seed=3, offset=2**64 - 9, return_mask=True)
    for noise in ((5, 6, 7), (None, None, None), (5, None, 7), [5, 6, 7],
                  np.array([5, 6, 7])):
        got, gm = _call(mode, x, 0.4, seed=3, offset=2**64 - 9, noise_shape=noise,
                        return_mask=True)
        assert_bits_equal(got, plain)
        np.testing.assert_array_equal(gm, pm)
        assert gm.shape == x.shape


def _layouts(base):
    """Views of ``base``'s values in other memory layouts (same logical array)."""
    yield "fortran", np.asfortranarray(base)
    big = np.repeat(np.repeat(base, 2, axis=-1), 3, axis=0)
    yield "strided", big[::3, ..., ::2]
    flipped = np.ascontiguousarray(base[::-1, ..., ::-1])
    yield "negative", flipped[::-1, ..., ::-1]
    yield "transposed", np.ascontiguousarray(base.T).T


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
def test_noise_shape_any_layout(mode, dtype):
    base = _data((4, 5, 6), dtype)
    noise = (4, 1, 6)
    want, wm = ref.noise_dropout(base, 0.45, 21, 2**64 - 7, noise, mode)
    for name, x in _layouts(base):
        np.testing.assert_array_equal(x, base)
        got, gm = _call(mode, x, 0.45, seed=21, offset=2**64 - 7, noise_shape=noise,
                        return_mask=True)
        assert_bits_equal(got, want)
        np.testing.assert_array_equal(gm, wm)
        # in place into the view, and out= a view of another layout
        y = x.copy(order="K") if name != "strided" else x
        y_before = y.copy()
        r = _call(mode, y, 0.45, seed=21, offset=2**64 - 7, noise_shape=noise, inplace=True)
        assert r is y
        assert_bits_equal(np.array(y), want)
        y[...] = y_before
        for _, out in _layouts(np.zeros_like(base)):
            r = _call(mode, x, 0.45, seed=21, offset=2**64 - 7, noise_shape=noise, out=out)
            assert r is out
            assert_bits_equal(np.array(out), want)


@pytest.mark.parametrize("mode", MODES)
def test_noise_shape_out_overlapping_the_input(mode):
    # out= a view that overlaps x other than element for element
    buf = _data(40)
    x, out = buf[:30], buf[10:]
    want, _ = ref.noise_dropout(x.copy(), 0.5, 4, 0, (1,), mode)
    want2, _ = ref.noise_dropout(x.reshape(5, 6).copy(), 0.5, 4, 0, (5, 1), mode)
    r = _call(mode, x, 0.5, seed=4, noise_shape=(1,), out=out)
    assert r is out
    assert_bits_equal(out, want)
    buf = _data(40)
    x, out = buf[:30].reshape(5, 6), buf[10:].reshape(5, 6)
    _call(mode, x, 0.5, seed=4, noise_shape=(5, 1), out=out)
    assert_bits_equal(out, want2)


NOISE_CHOICE = st.sampled_from(["one", "none", "size"])


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(shape=st.lists(st.integers(0, 5), min_size=0, max_size=4).map(tuple),
       choices=st.lists(NOISE_CHOICE, min_size=4, max_size=4),
       p=st.sampled_from([0.0, 0.1, 0.5, 0.75, 1.0, 2**-32, 1 - 2**-32]),
       seed=st.integers(0, U64 - 1),
       offset=st.one_of(st.integers(0, U64 - 1), st.integers(U64 - 200, U64 - 1)),
       dtype=st.sampled_from(ALL_DTYPES), mode=st.sampled_from(MODES))
def test_noise_shape_property(shape, choices, p, seed, offset, dtype, mode):
    noise = tuple({"one": 1, "none": None, "size": s}[c] for s, c in zip(shape, choices))
    x = _data(shape, dtype, seed=seed % 1000)
    want, wm = ref.noise_dropout(x, p, seed, offset, noise, mode)
    got, gm = _call(mode, x, p, seed=seed, offset=offset, noise_shape=noise, return_mask=True)
    assert_bits_equal(got, want)
    np.testing.assert_array_equal(gm, wm)
    bits = _call(mode, x, p, seed=seed, offset=offset, noise_shape=noise,
                 return_mask="bits")[1]
    np.testing.assert_array_equal(bits, np.packbits(wm.ravel(), bitorder="little"))
    if 0 < p < 1:
        g = _data(shape, dtype, seed=seed % 1000 + 1)
        assert_bits_equal(_backward(mode, g, None, p, seed=seed, offset=offset,
                                    noise_shape=noise), _grad_ref(mode, g, wm, p))


# ---------------------------------------------------------------------------
# masks in and out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
def test_given_noise_mask_bool_and_bits(mode, dtype):
    x = _data((3, 4, 5), dtype)
    noise = (3, 1, 5)
    drawn, m = _call(mode, x, 0.3, seed=5, offset=1, noise_shape=noise, return_mask=True)
    drawn_b, bits = _call(mode, x, 0.3, seed=5, offset=1, noise_shape=noise,
                          return_mask="bits")
    assert_bits_equal(drawn_b, drawn)
    assert bits.dtype == np.uint8 and bits.shape == (math.ceil(15 / 8),)
    np.testing.assert_array_equal(bits, np.packbits(m.ravel(), bitorder="little"))
    for given_mask in (m, bits, m.copy(order="F"), m[::-1][::-1]):
        for kind in (True, "bool", "bits"):
            got, back = _call(mode, x, 0.3, mask=given_mask, noise_shape=noise,
                              return_mask=kind)
            assert_bits_equal(got, drawn)
            np.testing.assert_array_equal(back, bits if kind == "bits" else m)
    # a mask is applied with p == 0 too (scale 1; alpha: a = 1, b_keep = 0,
    # dropped elements alpha')
    got = _call(mode, x, 0.0, mask=m, noise_shape=noise)
    mb = np.broadcast_to(m, x.shape)
    if mode == "alpha":
        want = np.where(mb, x + dtype(0), np.asarray(ref.ALPHA_PRIME).astype(dtype))
    else:
        want = np.where(mb, x, dtype(0))
    assert_bits_equal(got, want)


@pytest.mark.parametrize("mode", MODES)
def test_mask_kinds_without_a_draw_have_the_noise_shape(mode):
    x = _data((3, 4, 5))
    noise = (None, 1, 5)
    for p, training, keep in ((0.0, True, True), (1.0, True, False), (0.5, False, True)):
        for kind in (True, "bits"):
            if mode == "alpha":
                _, m = cydrop.alpha_dropout(x, p, training, noise_shape=noise, seed=1,
                                            return_mask=kind)
            else:
                _, m = cydrop.dropout(x, p, training, noise_shape=noise, seed=1,
                                      return_mask=kind, scaling=mode)
            full = np.full((3, 1, 5), keep)
            np.testing.assert_array_equal(
                m, full if kind is True else np.packbits(full.ravel(), bitorder="little"))


def test_noise_mask_of_the_wrong_shape_is_refused():
    x = _data((3, 4))
    with pytest.raises(ValueError, match="expected the noise shape"):
        cydrop.dropout(x, 0.5, mask=np.ones((3, 4), bool), noise_shape=(3, 1))
    with pytest.raises(ValueError, match="expected the noise shape"):
        cydrop.dropout(x, 0.5, mask=np.ones((1, 3), bool), noise_shape=(3, 1))
    with pytest.raises(ValueError, match="needs noise_shape"):
        cydrop.dropout(x, 0.5, mask=np.ones((3, 1), bool))
    with pytest.raises(ValueError, match="packed bits"):
        cydrop.dropout(x, 0.5, mask=np.ones(2, np.uint8), noise_shape=(3, 1))


# ---------------------------------------------------------------------------
# backward


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
def test_backward_with_noise_mask_bits_and_regenerated(mode, dtype):
    g = _data((4, 3, 5), dtype, seed=8)
    noise = (4, 3, 1)
    for p in (0.2, 0.5, 0.9):
        _, m = _call(mode, _data((4, 3, 5), dtype), p, seed=6, offset=2**64 - 6,
                     noise_shape=noise, return_mask=True)
        want = _grad_ref(mode, g, m, p)
        assert (want == 0).any() and (want != 0).any()
        bits = np.packbits(m.ravel(), bitorder="little")
        assert_bits_equal(_backward(mode, g, m, p, noise_shape=noise), want)
        assert_bits_equal(_backward(mode, g, bits, p, noise_shape=noise), want)
        assert_bits_equal(_backward(mode, g, None, p, seed=6, offset=2**64 - 6,
                                    noise_shape=noise), want)
        for _, view in _layouts(g):
            assert_bits_equal(_backward(mode, view, m, p, noise_shape=noise), want)
        gi = g.copy()
        assert _backward(mode, gi, m, p, noise_shape=noise, inplace=True) is gi
        assert_bits_equal(gi, want)
        out = np.empty_like(g)
        assert _backward(mode, g, m, p, noise_shape=noise, out=out) is out
        assert_bits_equal(out, want)
        assert_bits_equal(_backward(mode, g, None, 1.0, seed=6, noise_shape=noise),
                          np.zeros_like(g))


# ---------------------------------------------------------------------------
# modules


def _module(kind, p=0.4, **kw):
    return {"Dropout": lambda: cydrop.Dropout(p, **kw),
            "vanilla": lambda: cydrop.Dropout(p, scaling="vanilla", **kw),
            "Alpha": lambda: cydrop.AlphaDropout(p, **kw)}[kind]()


@pytest.mark.parametrize("storage", ["bits", "bool", "recompute"])
@pytest.mark.parametrize("kind", ["Dropout", "vanilla", "Alpha"])
def test_module_noise_shape_stream_mask_backward(kind, storage):
    mode = {"Dropout": "inverted", "vanilla": "vanilla", "Alpha": "alpha"}[kind]
    noise = (None, 1, 3)
    layer = _module(kind, rng=17, mask_storage=storage, noise_shape=noise)
    layer.set_state((17, 2**64 - 5))
    x, g = _data((5, 4, 3)), _data((5, 4, 3), seed=2)
    offset = 2**64 - 5
    for step in range(3):
        assert layer.get_state() == (17, offset)
        want, wm = ref.noise_dropout(x, 0.4, 17, offset, noise, mode)
        assert_bits_equal(layer(x), want)
        assert layer.mask.shape == (5, 1, 3)
        np.testing.assert_array_equal(layer.mask, wm)
        assert_bits_equal(layer.backward(g), _grad_ref(mode, g, wm, 0.4))
        # prod(noise) = 15 words, rounded up to 16, modulo 2**64
        offset = (offset + 16) % U64
        assert layer.get_state() == (17, offset)
        assert offset == _kernels.stream_advance((offset - 16) % U64, 15)
    # replay: set_state back gives the same mask
    layer.set_state((17, 2**64 - 5))
    want, wm = ref.noise_dropout(x, 0.4, 17, 2**64 - 5, noise, mode)
    assert_bits_equal(layer(x), want)
    # the noise shape follows each input (None entries)
    layer(_data((2, 7, 3)))
    assert layer.mask.shape == (2, 1, 3)
    assert layer.get_state() == (17, (2**64 - 5 + 16 + 8) % U64)


@pytest.mark.parametrize("kind", ["Dropout", "vanilla", "Alpha"])
def test_module_eval_and_manual_mask(kind):
    noise = (1, 4)
    layer = _module(kind, rng=1, noise_shape=noise)
    x, g = _data((3, 4)), _data((3, 4), seed=1)
    layer.eval()
    y = layer(x)
    if kind == "vanilla":
        assert_bits_equal(y, x * np.float64(1 - 0.4))
        assert_bits_equal(layer.backward(g), g * np.float64(1 - 0.4))
    else:
        assert y is x
        assert layer.backward(g) is g
    assert layer.mask.shape == (1, 4) and layer.mask.all()
    assert layer.get_state() == (1, 0)
    layer.train()
    m = np.array([[True, False, True, False]])
    mode = {"Dropout": "inverted", "vanilla": "vanilla", "Alpha": "alpha"}[kind]
    want = _call(mode, x, 0.4, mask=m, noise_shape=noise)
    assert_bits_equal(layer(x, mask=m), want)
    np.testing.assert_array_equal(layer.mask, m)
    assert_bits_equal(layer.backward(g), _grad_ref(mode, g, m, 0.4))
    assert layer.get_state() == (1, 0)      # a manual mask takes no words


@pytest.mark.parametrize("cls,shape,mshape", [
    (cydrop.Dropout1d, (2, 3, 5), (2, 3, 1)),
    (cydrop.Dropout1d, (3, 5), (3, 1)),
    (cydrop.Dropout2d, (2, 3, 4, 5), (2, 3, 1, 1)),
    (cydrop.Dropout3d, (2, 3, 2, 2, 2), (2, 3, 1, 1, 1)),
    (cydrop.Dropout3d, (3, 2, 2, 2), (3, 1, 1, 1)),
    (cydrop.FeatureAlphaDropout, (2, 3, 4), (2, 3, 1)),
    (cydrop.FeatureAlphaDropout, (2, 3), (2, 3)),
])
@pytest.mark.parametrize("storage", ["bits", "bool", "recompute"])
def test_channel_modules(cls, shape, mshape, storage):
    mode = "alpha" if cls is cydrop.FeatureAlphaDropout else "inverted"
    layer = cls(0.5, rng=2**64 - 1, mask_storage=storage)
    x, g = _data(shape), _data(shape, seed=1)
    n = math.prod(mshape)
    offset = 0
    for _ in range(2):
        want, wm = ref.noise_dropout(x, 0.5, 2**64 - 1, offset, mshape, mode)
        assert_bits_equal(layer(x), want)
        np.testing.assert_array_equal(layer.mask, wm)
        assert_bits_equal(layer.backward(g), _grad_ref(mode, g, wm, 0.5))
        offset = _kernels.stream_advance(offset, n)
        assert layer.get_state() == (2**64 - 1, offset)
    layer.eval()
    assert layer(x) is x and layer.backward(g) is g


def test_module_inplace_noise_shape():
    x = _data((4, 6))
    want, _ = ref.noise_dropout(x, 0.5, 3, 0, (4, 1), "inverted")
    layer = cydrop.Dropout(0.5, True, rng=3, noise_shape=(4, 1))
    y = x.copy()
    assert layer(y) is y
    assert_bits_equal(y, want)
    layer2 = cydrop.Dropout2d(0.5, True, rng=3)
    z = _data((2, 2, 3, 3))
    w = z.copy()
    assert layer2(w) is w
    assert_bits_equal(w, ref.noise_dropout(z, 0.5, 3, 0, (2, 2, 1, 1), "inverted")[0])


def test_module_reprs():
    assert repr(cydrop.Dropout1d()) == "Dropout1d(p=0.5, inplace=False)"
    assert repr(cydrop.Dropout2d(0.2, True)) == "Dropout2d(p=0.2, inplace=True)"
    assert repr(cydrop.Dropout3d(0.1)) == "Dropout3d(p=0.1, inplace=False)"
    assert repr(cydrop.AlphaDropout(0.3)) == "AlphaDropout(p=0.3, inplace=False)"
    assert repr(cydrop.FeatureAlphaDropout()) == "FeatureAlphaDropout(p=0.5, inplace=False)"
    assert "noise_shape=(None, 1)" in repr(cydrop.Dropout(noise_shape=(None, 1)))
    assert "scaling='vanilla'" in repr(cydrop.Dropout(scaling="vanilla"))


# ---------------------------------------------------------------------------
# channel-wise shape rules (torch's), as a table

WARN_DEPRECATED = "{f}: Received a {nd}-D input to {f}, which is deprecated"
WARN_2D_3D = "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise"
RANK_ERR = "Feature dropout requires at least 2 dimensions in the input"
D1_ERR = "dropout1d: Expected 2D or 3D input, but received a {nd}D input."

SHAPES = {0: (), 1: (5,), 2: (3, 5), 3: (2, 3, 5), 4: (2, 3, 4, 5), 5: (2, 3, 2, 3, 2),
          6: (2, 3, 2, 1, 2, 2)}

# (function, rank) -> expected noise shape ("x": one flag per element), or
# "error", and which warnings torch gives
CHANNEL_TABLE = {
    ("dropout1d", 0): ("d1error", []), ("dropout1d", 1): ("d1error", []),
    ("dropout1d", 2): ((3, 1), []), ("dropout1d", 3): ((2, 3, 1), []),
    ("dropout1d", 4): ("d1error", []), ("dropout1d", 5): ("d1error", []),
    ("dropout1d", 6): ("d1error", []),
    ("dropout2d", 0): ("error", ["dep"]), ("dropout2d", 1): ("error", ["dep"]),
    ("dropout2d", 2): ("x", ["dep"]), ("dropout2d", 3): ((2, 3, 1), ["3d"]),
    ("dropout2d", 4): ((2, 3, 1, 1), []), ("dropout2d", 5): ((2, 3, 1, 1, 1), ["dep"]),
    ("dropout2d", 6): ((2, 3, 1, 1, 1, 1), ["dep"]),
    ("dropout3d", 0): ("error", ["dep"]), ("dropout3d", 1): ("x", ["dep"]),
    ("dropout3d", 2): ((3, 1), ["dep"]), ("dropout3d", 3): ((2, 1, 1), ["dep"]),
    ("dropout3d", 4): ((2, 1, 1, 1), []), ("dropout3d", 5): ((2, 3, 1, 1, 1), []),
    # 6-D is "unbatched" too: unsqueezed, so its first axis is the channel
    ("dropout3d", 6): ((2, 1, 1, 1, 1, 1), ["dep"]),
    ("feature_alpha_dropout", 0): ("error", []), ("feature_alpha_dropout", 1): ("error", []),
    ("feature_alpha_dropout", 2): ("x", []),
    ("feature_alpha_dropout", 3): ((2, 3, 1), []),
    ("feature_alpha_dropout", 4): ((2, 3, 1, 1), []),
    ("feature_alpha_dropout", 5): ((2, 3, 1, 1, 1), []),
    ("feature_alpha_dropout", 6): ((2, 3, 1, 1, 1, 1), []),
}


def _channel_fn(name):
    if name == "feature_alpha_dropout":
        return lambda x, p, training=True, **kw: cydrop.feature_alpha_dropout(x, p, training, **kw)
    return getattr(cydrop, name)


def _expected_warnings(name, nd, which):
    texts = []
    for w in which:
        texts.append(WARN_DEPRECATED.format(f=name, nd=nd) if w == "dep" else WARN_2D_3D)
    return texts


@pytest.mark.parametrize("name,nd", sorted(CHANNEL_TABLE), ids=lambda v: str(v))
def test_channel_shape_rules(name, nd):
    expect, which = CHANNEL_TABLE[(name, nd)]
    shape = SHAPES[nd]
    mode = "alpha" if name == "feature_alpha_dropout" else "inverted"
    fn = _channel_fn(name)
    x = _data(shape)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        if expect in ("error", "d1error"):
            text = RANK_ERR if expect == "error" else D1_ERR.format(nd=nd)
            with pytest.raises(cydrop.RankError, match=re.escape(text)) as err:
                fn(x, 0.5, seed=1, return_mask=True)
            assert isinstance(err.value, ValueError) and isinstance(err.value, RuntimeError)
        else:
            noise = shape if expect == "x" else expect
            got, m = fn(x, 0.5, seed=1, offset=2**64 - 2, return_mask=True)
            assert m.shape == noise
            want, wm = ref.noise_dropout(x, 0.5, 1, 2**64 - 2, noise, mode)
            assert_bits_equal(got, want)
            np.testing.assert_array_equal(m, wm)
            # the module agrees, and takes prod(noise) words
            cls = {"dropout1d": cydrop.Dropout1d, "dropout2d": cydrop.Dropout2d,
                   "dropout3d": cydrop.Dropout3d,
                   "feature_alpha_dropout": cydrop.FeatureAlphaDropout}[name]
            layer = cls(0.5, rng=1)
            layer.set_state((1, 2**64 - 2))
            assert_bits_equal(layer(x), want)
            np.testing.assert_array_equal(layer.mask, wm)
            assert layer.get_state() == (1, _kernels.stream_advance(2**64 - 2,
                                                                    math.prod(noise)))
    texts = [str(w.message) for w in rec]
    want_texts = _expected_warnings(name, nd, which)
    assert len(texts) == len(want_texts) * (1 if expect in ("error", "d1error") else 2)
    for t, w in zip(texts, want_texts * 2):
        assert t.startswith(w), (t, w)
        assert all(issubclass(r.category, UserWarning) for r in rec)


@pytest.mark.parametrize("name", ["dropout2d", "dropout3d", "feature_alpha_dropout"])
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_rank_error_only_when_a_mask_is_drawn(name):
    # as torch: eval, p == 0, p == 1 and empty inputs draw no mask and pass
    fn = _channel_fn(name)
    x1 = _data((5,))
    x0 = np.full((), 2.5)
    for x in (x0, x1):
        assert fn(x, 0.5, False) is x
        assert fn(x, 0.0, True) is x
        assert_bits_equal(fn(x, 1.0, True), np.zeros_like(x))
        if name == "dropout3d" and x.ndim == 1:
            continue        # unsqueezed to (1, L): one flag per element
        with pytest.raises(cydrop.RankError):
            fn(x, 0.5, True, seed=1)
    e = np.ones((0,))
    assert fn(e, 0.5, True, seed=1).shape == (0,)


def test_dropout1d_errors_whatever_the_mode():
    for x in (np.ones(()), np.ones(4), np.ones((2, 2, 2, 2))):
        for p, training in ((0.5, True), (0.5, False), (0.0, True), (1.0, True)):
            with pytest.raises(cydrop.RankError, match=re.escape(
                    f"dropout1d: Expected 2D or 3D input, but received a {x.ndim}D input. "
                    "Note that dropout1d exists to provide channel-wise dropout on inputs "
                    "with 1 spatial dimension, a channel dimension, and an optional batch "
                    "dimension (i.e. 2D or 3D inputs).")):
                cydrop.dropout1d(x, p, training)


def test_channel_warning_texts_in_full():
    with pytest.warns(UserWarning, match=re.escape(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
            "1D dropout behavior is desired - input is interpreted as shape (N, C, L), where "
            "C is the channel dim. This behavior will change in a future release to interpret "
            "the input as one without a batch dimension, i.e. shape (C, H, W). To maintain "
            "the 1D channel-wise dropout behavior, please switch to using dropout1d instead.")):
        cydrop.dropout2d(np.ones((2, 3, 4)), 0.5, seed=0)
    with pytest.warns(UserWarning, match=re.escape(
            "dropout3d: Received a 3-D input to dropout3d, which is deprecated and will "
            "result in an error in a future release. To retain the behavior and silence this "
            "warning, please use dropout instead. Note that dropout3d exists to provide "
            "channel-wise dropout on inputs with 3 spatial dimensions, a channel dimension, "
            "and an optional batch dimension (i.e. 4D or 5D inputs).")):
        cydrop.dropout3d(np.ones((2, 3, 4)), 0.5, seed=0)
    with pytest.warns(UserWarning, match=re.escape(
            "dropout2d: Received a 5-D input to dropout2d, which is deprecated")):
        cydrop.Dropout2d(0.5, rng=0)(np.ones((2, 2, 2, 2, 2)))
    # the warning points at the caller (this file), not into cydrop
    with pytest.warns(UserWarning) as rec:
        cydrop.dropout2d(np.ones((2, 3, 4)), 0.5, seed=0)
    assert rec[0].filename == __file__
    with pytest.warns(UserWarning) as rec:
        cydrop.Dropout3d(0.5, rng=0)(np.ones((2, 3)))
    assert rec[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cydrop.dropout2d(np.ones((2, 3, 4, 5)), 0.5, seed=0)
        cydrop.dropout3d(np.ones((2, 3, 4, 5)), 0.5, seed=0)
        cydrop.dropout1d(np.ones((2, 3)), 0.5, seed=0)


@pytest.mark.parametrize("name", ["dropout1d", "dropout2d", "dropout3d"])
def test_channelwise_is_dropout_with_the_channel_noise(name):
    shape = {"dropout1d": (3, 4, 6), "dropout2d": (3, 4, 2, 3),
             "dropout3d": (3, 4, 2, 1, 3)}[name]
    noise = shape[:2] + (1,) * (len(shape) - 2)
    x, g = _data(shape, np.float32), _data(shape, np.float32, seed=3)
    fn = getattr(cydrop, name)
    for scaling in ("inverted", "vanilla"):
        got, m = fn(x, 0.3, seed=9, offset=17, return_mask=True, scaling=scaling)
        want, wm = cydrop.dropout(x, 0.3, seed=9, offset=17, noise_shape=noise,
                                  return_mask=True, scaling=scaling)
        assert_bits_equal(got, want)
        np.testing.assert_array_equal(m, wm)
        # channel (n, c) takes word offset + n * C + c
        np.testing.assert_array_equal(m.ravel(), ref.stream_words(9, 17, 12) >= int(0.3 * 2**32))
        # each channel's span is one flag
        assert (got.reshape(12, -1) != 0).all(axis=1).tolist() == m.ravel().tolist()
        assert_bits_equal(cydrop.dropout_backward(g, m, 0.3, noise_shape=m.shape,
                                                  scaling=scaling),
                          _grad_ref(scaling, g, m, 0.3))
        # a manual channel mask
        assert_bits_equal(fn(x, 0.3, mask=m, scaling=scaling), want)
        assert_bits_equal(fn(x, 0.3, mask=np.packbits(m.ravel(), bitorder="little"),
                             scaling=scaling), want)
        assert_bits_equal(fn(x, 0.3, False, scaling=scaling),
                          x if scaling == "inverted" else x * np.float32(0.7))


# ---------------------------------------------------------------------------
# scaling="vanilla"


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
def test_vanilla_train_eval_backward(dtype):
    x, g = _data((6, 7), dtype), _data((6, 7), dtype, seed=1)
    p = 0.3
    y, m = cydrop.dropout(x, p, seed=4, offset=3, return_mask=True, scaling="vanilla")
    _, m_inv = cydrop.dropout(x, p, seed=4, offset=3, return_mask=True)
    np.testing.assert_array_equal(m, m_inv)              # the same mask as inverted
    assert_bits_equal(y, np.where(m, x, 0).astype(dtype))
    t = np.float64 if dtype == np.float64 else np.float32
    ev = cydrop.dropout(x, p, False, scaling="vanilla")
    assert_bits_equal(ev, (x.astype(t) * t(1 - p)).astype(dtype))
    assert not np.array_equal(ev, x)
    # eval in place and out=
    xi = x.copy()
    assert cydrop.dropout(xi, p, False, True, scaling="vanilla") is xi
    assert_bits_equal(xi, ev)
    out = np.empty_like(x)
    assert cydrop.dropout(x, p, False, out=out, scaling="vanilla") is out
    assert_bits_equal(out, ev)
    # p == 0: the input itself, train or eval
    assert cydrop.dropout(x, 0.0, False, scaling="vanilla") is x
    assert cydrop.dropout(x, 0.0, True, scaling="vanilla") is x
    # p == 1 in eval: zeros (x * 0)
    assert_bits_equal(cydrop.dropout(np.abs(x), 1.0, False, scaling="vanilla"),
                      np.zeros_like(x))
    assert_bits_equal(cydrop.dropout_backward(g, m, p, scaling="vanilla"),
                      np.where(m, g, 0).astype(dtype))
    assert_bits_equal(cydrop.dropout_backward(g, None, p, seed=4, offset=3, scaling="vanilla"),
                      np.where(m, g, 0).astype(dtype))
    # the module: eval forward and its backward scale by 1 - p
    layer = cydrop.Dropout(p, rng=4, scaling="vanilla")
    layer.set_state((4, 3))
    assert_bits_equal(layer(x), y)
    assert_bits_equal(layer.backward(g), np.where(m, g, 0).astype(dtype))
    layer.eval()
    assert_bits_equal(layer(x), ev)
    assert_bits_equal(layer.backward(g), (g.astype(t) * t(1 - p)).astype(dtype))
    layer.train()       # backward follows the last forward (eval), not the mode
    assert_bits_equal(layer.backward(g), (g.astype(t) * t(1 - p)).astype(dtype))


def test_vanilla_training_mean_is_the_eval_output():
    # E[x * mask] = x * (1 - p): the mean over n seeds, per element, within
    # 6 sigma (sigma = |x| sqrt(p (1 - p) / n))
    p, n = 0.35, 4000
    x = np.linspace(-3, 3, 64).reshape(8, 8)
    acc = np.zeros_like(x)
    for s in range(n):
        acc += cydrop.dropout(x, p, seed=s, scaling="vanilla")
    mean = acc / n
    ev = cydrop.dropout(x, p, False, scaling="vanilla")
    sigma = np.abs(x) * math.sqrt(p * (1 - p) / n)
    assert (np.abs(mean - ev) <= 6 * sigma + 1e-12).all()
    # ...and it is not the inverted expectation (x itself)
    assert (np.abs(mean - x)[np.abs(x) > 1] > 6 * sigma[np.abs(x) > 1]).all()
    # with channel noise too
    acc = np.zeros_like(x)
    for s in range(n):
        acc += cydrop.dropout(x, p, seed=s, noise_shape=(8, 1), scaling="vanilla")
    assert (np.abs(acc / n - ev) <= 6 * sigma + 1e-12).all()


# ---------------------------------------------------------------------------
# alpha dropout


def test_alpha_constants_formula():
    alpha = 1.7580993408473766
    assert ref.ALPHA_PRIME == -alpha == cydrop.functional.ALPHA_PRIME
    for p in (0.05, 0.2, 0.5, 0.8, 0.99):
        a_exact = ((1 - p) * (1 + p * alpha**2)) ** -0.5
        b_exact = a_exact * alpha * p
        a, b_keep, b_drop = cydrop.functional._alpha_constants(p, np.float64)
        assert a == pytest.approx(a_exact, rel=1e-15)
        assert b_keep == pytest.approx(b_exact, rel=1e-15)
        # b_drop = alpha' a + b cancels: an absolute bound (ulps of alpha a)
        assert abs(b_drop - (a_exact * -alpha + b_exact)) <= 2 * np.spacing(alpha * a_exact)
        a32, bk32, bd32 = cydrop.functional._alpha_constants(p, np.float32)
        assert a32 == np.float32(a_exact) and bk32 == np.float32(b_exact)
        assert abs(bd32 - (a_exact * -alpha + b_exact)) <= 2 * np.spacing(
            np.float32(alpha * a_exact))
        # the forward: kept a x + b, dropped a alpha' + b
        x = _data(1000)
        y, m = cydrop.alpha_dropout(x, p, True, seed=2, return_mask=True)
        np.testing.assert_allclose(y[m], a_exact * x[m] + b_exact, rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(y[~m], a_exact * ref.ALPHA_PRIME + b_exact, rtol=1e-14)
        assert len(set(y[~m].tolist())) == 1


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_alpha_dropout_keeps_mean_and_variance(p):
    # 2**20 standard-normal float64: the output's mean within 6 sigma of 0
    # and its variance within 6 sigma of 1, sigma from the output's own moments
    n = 1 << 20
    x = np.random.default_rng(12).standard_normal(n)
    y = cydrop.alpha_dropout(x, p, True, seed=12)
    mean, var = y.mean(), y.var()
    m4 = np.mean((y - mean) ** 4)
    sigma_mean = math.sqrt(var / n)
    sigma_var = math.sqrt((m4 - var**2) / n)
    assert abs(mean) <= 6 * sigma_mean, (mean, sigma_mean)
    assert abs(var - 1) <= 6 * sigma_var, (var, sigma_var)
    # plain dropout does not keep the variance (the test can tell)
    yd = cydrop.dropout(x, p, seed=12)
    assert abs(yd.var() - 1) > 6 * sigma_var


def test_alpha_backward_by_finite_differences():
    # f(x) = sum(w * alpha_dropout(x, mask=m)); df/dx = alpha_dropout_backward(w, m)
    p = 0.3
    x, w = _data((5, 6)), _data((5, 6), seed=1)
    for noise in (None, (5, 1)):
        _, m = cydrop.alpha_dropout(x, p, True, seed=3, return_mask=True, noise_shape=noise)
        grad = cydrop.alpha_dropout_backward(w, m, p, noise_shape=noise)

        def f(v):
            return float(np.sum(w * cydrop.alpha_dropout(v, p, True, mask=m,
                                                          noise_shape=noise)))
        h = 1e-4
        fd = np.empty_like(x)
        for i in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[i] = h
            fd[i] = (f(x + e) - f(x - e)) / (2 * h)
        np.testing.assert_allclose(grad, fd, rtol=1e-7, atol=1e-9)
        assert (grad == 0).any() and (grad != 0).any()
        np.testing.assert_array_equal(grad, cydrop.alpha_dropout_backward(
            w, None, p, seed=3, noise_shape=noise))


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
def test_alpha_edge_cases(dtype):
    x = _data((3, 4), dtype)
    assert cydrop.alpha_dropout(x, 0.5) is x                   # training=False by default
    assert cydrop.feature_alpha_dropout(x, 0.5) is x
    assert cydrop.alpha_dropout(x, 0.0, True) is x
    assert cydrop.feature_alpha_dropout(x, 0.0, True) is x
    assert_bits_equal(cydrop.alpha_dropout(x, 1.0, True), np.zeros_like(x))
    assert_bits_equal(cydrop.feature_alpha_dropout(x, 1.0, True), np.zeros_like(x))
    assert_bits_equal(cydrop.alpha_dropout_backward(x, None, 1.0, seed=1), np.zeros_like(x))
    layer = cydrop.AlphaDropout(0.5, rng=0)
    assert_bits_equal(layer(x), ref.noise_dropout(x, 0.5, 0, 0, None, "alpha")[0])
    layer.eval()
    assert layer(x) is x
    # NaN and inf: dropped elements are b_drop exactly, kept ones propagate
    s = np.array([np.nan, np.inf, -np.inf, -0.0] * 8, dtype)
    y, m = cydrop.alpha_dropout(s, 0.5, True, seed=3, return_mask=True)
    b_drop = np.asarray(cydrop.functional._alpha_constants(0.5, dtype)[2]).astype(dtype)
    assert (y[~m] == b_drop).all()
    assert m.any() and (~m).any()


def test_feature_alpha_is_alpha_with_channel_noise():
    x = _data((3, 4, 5), np.float32)
    got, m = cydrop.feature_alpha_dropout(x, 0.4, True, seed=8, offset=2**64 - 1,
                                          return_mask=True)
    want, wm = cydrop.alpha_dropout(x, 0.4, True, seed=8, offset=2**64 - 1,
                                    noise_shape=(3, 4, 1), return_mask=True)
    assert_bits_equal(got, want)
    np.testing.assert_array_equal(m, wm)
    assert m.shape == (3, 4, 1)


# ---------------------------------------------------------------------------
# float16: exactly the float32 result rounded once


def _half_data(shape, seed=0):
    """float16 values incl. subnormals, the largest finite, zeros, inf."""
    v = _data(shape, np.float16, seed)
    flat = v.reshape(-1)
    specials = np.array([6e-8, -6e-8, 1e-5, 65504, -65504, 0.0, -0.0, np.inf, -np.inf,
                         2049, 0.1], np.float16)
    k = min(flat.size, specials.size)
    flat[:k] = specials[:k]
    return v


def _as32_rounded(fn, x16, *args, **kw):
    """fn on x16.astype(float32), its float results rounded to float16."""
    r = fn(x16.astype(np.float32), *args, **kw)
    if isinstance(r, tuple):
        return (r[0].astype(np.float16),) + r[1:]
    return r.astype(np.float16)


@pytest.mark.parametrize("mode", MODES)
def test_float16_equals_float32_rounded(mode):
    x = _half_data((9, 10, 11))
    g = _half_data((9, 10, 11), seed=5)
    for p in (0.1, 0.5, 0.9):
        for noise in (None, (9, 1, 11), (1, 1, 1)):
            kw = dict(seed=3, offset=2**64 - 50, noise_shape=noise)
            got, m = _call(mode, x, p, return_mask=True, **kw)
            want, wm = _as32_rounded(lambda v: _call(mode, v, p, return_mask=True, **kw), x)
            assert_bits_equal(got, want)
            np.testing.assert_array_equal(m, wm)
            # a given mask (bool, bits)
            assert_bits_equal(_call(mode, x, p, mask=m, noise_shape=noise), want)
            bits = np.packbits(m.ravel(), bitorder="little")
            assert_bits_equal(_call(mode, x, p, mask=bits, noise_shape=noise), want)
            # layouts, in place, out=
            for _, view in _layouts(x):
                assert_bits_equal(_call(mode, view, p, **kw), want)
            xi = x.copy()
            assert _call(mode, xi, p, inplace=True, **kw) is xi
            assert_bits_equal(xi, want)
            out = np.empty_like(x)[:, ::-1]
            assert _call(mode, x, p, out=out, **kw) is out
            assert_bits_equal(np.array(out), want)
            # backward: mask, bits, regenerated
            gwant = _as32_rounded(lambda v: _backward(mode, v, m, p, noise_shape=noise), g)
            assert_bits_equal(_backward(mode, g, m, p, noise_shape=noise), gwant)
            assert_bits_equal(_backward(mode, g, bits, p, noise_shape=noise), gwant)
            assert_bits_equal(_backward(mode, g, None, p, **kw), gwant)
            assert_bits_equal(_backward(mode, g[::-1], m[::-1] if noise is None else m, p,
                                        noise_shape=noise), gwant[::-1] if noise is None
                              else _as32_rounded(lambda v: _backward(
                                  mode, v, m, p, noise_shape=noise), g[::-1]))
        # against the pure-Python reference too
        assert_bits_equal(_call(mode, x, p, seed=1, noise_shape=(9, 1, 1)),
                          ref.noise_dropout(x, p, 1, 0, (9, 1, 1), mode)[0])
    if mode == "vanilla":
        ev = cydrop.dropout(x, 0.3, False, scaling="vanilla")
        assert_bits_equal(ev, (x.astype(np.float32) * np.float32(0.7)).astype(np.float16))
    # scaling overflows to inf exactly where the float32 result rounds to inf
    big = np.full(64, 65504, np.float16)
    yb = cydrop.dropout(big, 0.5, seed=1)
    assert np.isinf(yb).any() and set(np.unique(yb).tolist()) <= {0.0, np.inf}


def test_float16_nan_input_stays_nan_or_zero():
    x = np.full(40, np.nan, np.float16)
    x.view(np.uint16)[::2] = 0x7d00      # signalling NaN payloads
    y, m = cydrop.dropout(x, 0.5, seed=2, return_mask=True)
    assert np.isnan(y[m]).all() and (y[~m] == 0).all()
    assert (y.view(np.uint16)[m] & 0x0200 != 0).all()   # quiet


@pytest.mark.parametrize("kind", ["Dropout", "vanilla", "Alpha", "Dropout2d", "Feature"])
@pytest.mark.parametrize("storage", ["bits", "recompute"])
def test_float16_modules(kind, storage):
    make = {"Dropout": lambda: cydrop.Dropout(0.4, rng=5, mask_storage=storage,
                                              noise_shape=(None, 1, None, None)),
            "vanilla": lambda: cydrop.Dropout(0.4, rng=5, mask_storage=storage,
                                              scaling="vanilla"),
            "Alpha": lambda: cydrop.AlphaDropout(0.4, rng=5, mask_storage=storage),
            "Dropout2d": lambda: cydrop.Dropout2d(0.4, rng=5, mask_storage=storage),
            "Feature": lambda: cydrop.FeatureAlphaDropout(0.4, rng=5, mask_storage=storage)}
    x, g = _half_data((3, 4, 5, 6)), _half_data((3, 4, 5, 6), seed=1)
    l16, l32 = make[kind](), make[kind]()
    for _ in range(2):
        assert_bits_equal(l16(x), l32(x.astype(np.float32)).astype(np.float16))
        np.testing.assert_array_equal(l16.mask, l32.mask)
        assert_bits_equal(l16.backward(g),
                          l32.backward(g.astype(np.float32)).astype(np.float16))
    l16.eval(), l32.eval()
    assert_bits_equal(l16(x), l32(x.astype(np.float32)).astype(np.float16))
    assert_bits_equal(l16.backward(g), l32.backward(g.astype(np.float32)).astype(np.float16))


def test_float16_dask():
    da = pytest.importorskip("dask.array")
    import cydrop.dask as cdask
    a = _half_data((20, 30))
    got = cdask.dropout(da.from_array(a, chunks=(7, 8)), 0.3, seed=9, offset=2**64 - 100)
    want = _as32_rounded(lambda v: cydrop.dropout(v, 0.3, seed=9, offset=2**64 - 100), a)
    assert_bits_equal(got.compute(scheduler="sync"), want)
    gb = cdask.dropout_backward(da.from_array(a, chunks=(7, 8)), 0.3, seed=9,
                                offset=2**64 - 100)
    assert_bits_equal(gb.compute(scheduler="sync"), want)


HALF_PATHS = ["portable"] + (["f16c"] if _kernels.f16c_supported() else [])


@pytest.mark.parametrize("impl", HALF_PATHS)
def test_half_to_float_exhaustive(impl):
    h = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
    got = np.empty(65536, np.float32)
    _kernels.half_convert(h, got, impl=impl)
    want = h.astype(np.float32)
    nan = np.isnan(want)
    assert nan.sum() == 2 * 1023
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got.view(np.uint32)[~nan], want.view(np.uint32)[~nan])
    # NaNs come out quiet, sign and payload kept
    gb = got.view(np.uint32)[nan]
    assert (gb & 0x00400000 != 0).all()
    np.testing.assert_array_equal(gb >> 31, h.view(np.uint16)[nan] >> 15)
    np.testing.assert_array_equal((gb >> 13) & 0x1ff, h.view(np.uint16)[nan] & 0x1ff)
    # strided and odd lengths (the 8-lane loop's tail) through the kernels
    for n in (1, 7, 8, 9, 17):
        out = np.empty(n, np.float32)
        _kernels.half_convert(h[40000:40000 + n].copy(), out, impl=impl)
        np.testing.assert_array_equal(out, want[40000:40000 + n])


def _float_sample():
    """float32 bit patterns: every exponent with edge and random mantissas,
    the exact halfway points between float16 neighbours (ties) and their
    neighbours, around the subnormal and overflow thresholds."""
    rng = np.random.default_rng(0)
    exps = np.arange(256, dtype=np.uint32) << 23
    mants = np.concatenate([np.array([0, 1, 0xfff, 0x1000, 0x1001, 0x2000, 0x3fff, 0x6000,
                                      0x7fffff, 0x7ff000, 0x400000], np.uint32),
                            rng.integers(0, 1 << 23, 60, dtype=np.uint32)])
    pats = (exps[:, None] | mants[None, :]).ravel()
    # ties: float16 values (all finite ones) plus half an ulp, and +/- 1 float32 ulp
    h = np.arange(0, 0x7c00, dtype=np.uint16).view(np.float16).astype(np.float32)
    nxt = np.arange(1, 0x7c01, dtype=np.uint16).view(np.float16).astype(np.float32)
    mid = ((h.astype(np.float64) + nxt.astype(np.float64)) / 2).astype(np.float32)
    mb = mid.view(np.uint32)
    pats = np.concatenate([pats, mb, mb - 1, mb + 1, h.view(np.uint32)])
    pats = np.concatenate([pats, pats | np.uint32(0x80000000)])
    return pats.view(np.float32)


@pytest.mark.parametrize("impl", HALF_PATHS)
def test_float_to_half_dense_sample(impl):
    f = _float_sample()
    assert np.isnan(f).any() and np.isinf(f).any()
    want = f.astype(np.float16)
    # the sample reaches ties, subnormals and overflow to inf
    assert np.isinf(want[np.isfinite(f)]).any()
    sub = want.view(np.uint16) & 0x7c00 == 0
    assert (sub & (want != 0)).sum() > 1000
    # exact ties (float16 value + half its ulp, representable in float32)
    # round to even: both up and down occur in the sample
    lo = np.arange(0x0400, 0x7bff, dtype=np.uint16)
    lo32 = lo.view(np.float16).astype(np.float64)
    hi32 = (lo + 1).view(np.float16).astype(np.float64)
    ties = ((lo32 + hi32) / 2).astype(np.float32)
    assert np.isin(ties.view(np.uint32), f.view(np.uint32)).all()
    t16 = ties.astype(np.float16).view(np.uint16)
    assert (t16 == lo).any() and (t16 == lo + 1).any() and (t16 % 2 == 0).all()
    got = np.empty(f.size, np.float16)
    _kernels.half_convert(np.ascontiguousarray(f), got, impl=impl)
    nan = np.isnan(f)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got.view(np.uint16)[~nan], want.view(np.uint16)[~nan])
    assert (got.view(np.uint16)[nan] & 0x0200 != 0).all()      # quiet


def test_half_paths_give_identical_bits():
    if not _kernels.f16c_supported():
        pytest.skip("no F16C on this CPU/build")
    f = _float_sample()
    a, b = np.empty(f.size, np.float16), np.empty(f.size, np.float16)
    _kernels.half_convert(np.ascontiguousarray(f), a, impl="f16c")
    _kernels.half_convert(np.ascontiguousarray(f), b, impl="portable")
    np.testing.assert_array_equal(a.view(np.uint16), b.view(np.uint16))     # NaNs too
    h = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
    c, d = np.empty(65536, np.float32), np.empty(65536, np.float32)
    _kernels.half_convert(h, c, impl="f16c")
    _kernels.half_convert(h, d, impl="portable")
    np.testing.assert_array_equal(c.view(np.uint32), d.view(np.uint32))


@pytest.fixture
def restore_impl():
    saved = _kernels.get_impl()
    yield
    _kernels.set_impl(saved)


def test_philox_path_settings_give_identical_float16_bits(restore_impl):
    impls = _kernels.available_impls()
    x = _half_data((33, 70))
    x[0, :5] = np.array([np.nan, np.inf, -np.inf, 6e-8, 65504], np.float16)
    g = _half_data((33, 70), seed=2)
    results = {}
    for impl in impls:
        _kernels.set_impl(impl)
        want_half = "portable" if impl == "scalar" or not _kernels.f16c_supported() else "f16c"
        assert _kernels.half_impl() == want_half
        results[impl] = [
            cydrop.dropout(x, 0.4, seed=1, offset=2**64 - 3),
            cydrop.dropout(x, 0.4, seed=1, noise_shape=(33, 1)),
            cydrop.dropout(x, 0.4, False, scaling="vanilla"),
            cydrop.alpha_dropout(x, 0.4, True, seed=1),
            cydrop.dropout_backward(g, None, 0.4, seed=1, offset=5),
            cydrop.dropout(x[::-1, ::3], 0.4, seed=1),
        ]
    base = results[impls[0]]
    for impl in impls[1:]:
        for a, b in zip(base, results[impl]):
            assert_bits_equal(b, a)
    if "avx2" in impls and _kernels.f16c_supported():
        assert "scalar" in impls   # both conversions were exercised


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: np.dtype(d).name)
def test_noise_shape_large_arrays(mode, dtype):
    # past the kernels' work-item size (2048) and serial/parallel threshold
    # (16384 elements): spans of one flag cross work items
    rng = np.random.default_rng(1)
    for shape, noise in (((64, 1024), (64, 1)), ((3, 40000), (3, 1)), ((100003,), (1,)),
                         ((7, 3, 2049), (7, 3, 1)), ((64, 600), (1, 600))):
        x = rng.standard_normal(shape).astype(dtype)
        want, wm = ref.noise_dropout(x, 0.4, 3, 2**64 - 10, noise, mode)
        negative = np.ascontiguousarray(x[..., ::-1])[..., ::-1]     # x's values
        for view in (x, negative, np.asfortranarray(x)):
            got = _call(mode, view, 0.4, seed=3, offset=2**64 - 10, noise_shape=noise)
            assert_bits_equal(got, want)
        g = rng.standard_normal(shape).astype(dtype)
        assert_bits_equal(_backward(mode, g, None, 0.4, seed=3, offset=2**64 - 10,
                                    noise_shape=noise), _grad_ref(mode, g, wm, 0.4))


def test_module_noise_shape_argument_checked_like_the_function():
    # a bare int or a string: cydrop's message, not tuple()'s
    for bad in (5, 2.0, "ab"):
        with pytest.raises(TypeError, match="noise_shape must be a sequence of ints or None"):
            cydrop.Dropout(noise_shape=bad)
    with pytest.raises(TypeError, match="noise_shape entries must be ints or None"):
        cydrop.Dropout(noise_shape=(None, 1.5))
    # NumPy integers are kept as ints (torch-like repr, no np.int64(...))
    layer = cydrop.Dropout(noise_shape=np.array([4, 1]), rng=0)
    assert layer.noise_shape == (4, 1) and all(type(n) is int for n in layer.noise_shape)
    assert repr(layer) == "Dropout(p=0.5, inplace=False, noise_shape=(4, 1))"
    assert layer(np.ones((4, 3))).shape == (4, 3) and layer.mask.shape == (4, 1)


def test_float16_all_bit_patterns_through_the_kernels(restore_impl):
    # every float16 value through a forward (scale 1/(1-p) = 1.25, and the
    # alpha map) on each Philox path: the float32 computation rounded by
    # NumPy (NaNs: NaN-ness only, NumPy keeps signalling payloads)
    h = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
    m = np.arange(65536) % 3 != 0
    x32 = h.astype(np.float32)
    want = np.where(m, x32 * np.float32(1.25), np.float32(0)).astype(np.float16)
    a, bk, bd = (np.float32(c) for c in cydrop.functional._alpha_constants(0.2, np.float32))
    want_alpha = np.where(m, x32 * a + bk, bd).astype(np.float16)
    nan = np.isnan(want)
    assert nan.sum() > 1000 and np.isinf(want).sum() > 100
    for impl in _kernels.available_impls():
        _kernels.set_impl(impl)
        for got, w in ((cydrop.dropout(h, 0.2, mask=m), want),
                       (cydrop.dropout(h[::-1], 0.2, mask=m[::-1])[::-1], want),
                       (cydrop.alpha_dropout(h, 0.2, True, mask=m), want_alpha)):
            n = np.isnan(w)
            np.testing.assert_array_equal(np.isnan(got), n)
            np.testing.assert_array_equal(got.view(np.uint16)[~n], w.view(np.uint16)[~n])


def test_alpha_is_not_a_public_scaling():
    # alpha dropout reaches the cores through a private sentinel: the string
    # "alpha" (or anything else) is refused everywhere scaling= is public
    x = np.ones((2, 3, 4))
    calls = [lambda s: cydrop.dropout(x, 0.5, seed=1, scaling=s),
             lambda s: cydrop.dropout(x, 0.5, False, scaling=s),
             lambda s: cydrop.dropout_backward(x, None, 0.5, seed=1, scaling=s),
             lambda s: cydrop.dropout1d(x, 0.5, seed=1, scaling=s),
             lambda s: cydrop.Dropout(scaling=s),
             lambda s: cydrop.Dropout2d(scaling=s)]
    for call in calls:
        for bad in ("alpha", "Inverted", None):
            with pytest.raises(ValueError, match="scaling must be 'inverted' or 'vanilla'"):
                call(bad)
