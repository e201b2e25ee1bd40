"""Parity with torch's dropout family on the CPU, for the same mask: torch's
mask is recovered from its own output (a channel is kept iff its output is
nonzero; alpha dropout: an element is dropped iff it equals b_drop), then
cydrop with that mask must give torch's output.

Tolerance: channel-wise dropout exact in float64 and within 2 ulp in
float32 (torch's feature noise is ``bernoulli(1 - p) / (1 - p)`` in the
tensor's dtype, so its float32 scale can be 1 ulp off the correctly rounded
``1 / (1 - p)`` cydrop uses, as tests/test_torch_parity.py measures for
F.dropout; measured over 99 values of p: 2 ulp at most); dropped elements
are +0.0 in cydrop where torch's ``x * 0`` gives -0.0 for negative x (the
documented difference; equal under ==).  Alpha dropout bit for bit (cydrop
rounds torch's constants as torch does).  Error and warning texts are compared with torch's own.
Skips cleanly where torch is not installed."""
import math
import warnings

import numpy as np
import pytest

import cydrop

torch = pytest.importorskip("torch")
F = torch.nn.functional

DTYPES = [np.float32, np.float64]
ULPS = {np.float32: 2, np.float64: 0}


def _nonzero_data(shape, dtype, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    x[x == 0] = 1          # so that "output != 0" recovers torch's mask
    return x


def _channel_mask(y, noise):
    """torch's per-channel keep mask of shape ``noise`` from its output: kept
    iff the channel's outputs are nonzero (all of them, checked)."""
    nz = np.broadcast_to(y != 0, y.shape)
    axes = tuple(i for i, n in enumerate(noise) if n == 1 and y.shape[i] != 1)
    kept = nz.all(axis=axes, keepdims=True) if axes else nz
    dropped = (~nz).all(axis=axes, keepdims=True) if axes else ~nz
    assert (kept | dropped).all(), "torch's output is not constant per channel"
    return kept.reshape(noise)


CHANNEL_CASES = [
    ("dropout1d", (4, 5, 7), (4, 5, 1)),
    ("dropout1d", (5, 7), (5, 1)),
    ("dropout2d", (3, 4, 5, 6), (3, 4, 1, 1)),
    ("dropout2d", (3, 4, 5), (3, 4, 1)),            # read as (N, C, L), with a warning
    ("dropout3d", (2, 4, 3, 2, 3), (2, 4, 1, 1, 1)),
    ("dropout3d", (4, 3, 2, 3), (4, 1, 1, 1)),
]


@pytest.mark.parametrize("p", [0.2, 0.45, 0.7])
@pytest.mark.parametrize("name,shape,noise", CHANNEL_CASES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.filterwarnings("ignore:dropout2d. Received a 3D input")
def test_channelwise_same_mask_same_output(name, shape, noise, p, dtype):
    x = _nonzero_data(shape, dtype)
    g = _nonzero_data(shape, dtype, seed=1)
    for tseed in range(100):     # the first torch seed whose mask has both flags
        torch.manual_seed(tseed)
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        ty = getattr(F, name)(tx, p, training=True)
        t_out = ty.detach().numpy()
        m = _channel_mask(t_out, noise)
        if m.any() and not m.all():
            break
    ty.backward(torch.from_numpy(g))
    got = getattr(cydrop, name)(x, p, mask=m)
    np.testing.assert_array_max_ulp(got, t_out, maxulp=ULPS[dtype])
    np.testing.assert_array_equal(got == 0, t_out == 0)
    # the gradient: autograd's against dropout_backward with the channel mask
    np.testing.assert_array_max_ulp(cydrop.dropout_backward(g, m, p, noise_shape=noise),
                                    tx.grad.numpy(), maxulp=ULPS[dtype])
    # the module with the same manual mask
    cls = getattr(cydrop, {"dropout1d": "Dropout1d", "dropout2d": "Dropout2d",
                           "dropout3d": "Dropout3d"}[name])
    layer = cls(p)
    np.testing.assert_array_max_ulp(layer(x, mask=m), t_out, maxulp=ULPS[dtype])
    np.testing.assert_array_max_ulp(layer.backward(g), tx.grad.numpy(), maxulp=ULPS[dtype])
    # torch's nn module with the same generator state draws the same mask
    torch.manual_seed(tseed)
    tmod = getattr(torch.nn, cls.__name__)(p)
    np.testing.assert_array_equal(tmod(torch.from_numpy(x)).numpy(), t_out)


def test_channelwise_ulp_figures():
    # over 99 values of p: float64 kept values equal torch's, float32 within
    # 2 ulp (and 2 is reached: the tolerance is not loose); dropped: torch's
    # -0.0 for negative x, cydrop's +0.0
    worst = {np.float32: 0, np.float64: 0}
    shape = (8, 16, 40)
    for dtype in DTYPES:
        ints = np.int32 if dtype == np.float32 else np.int64
        x = _nonzero_data(shape, dtype, seed=5)
        for p in np.linspace(0.01, 0.99, 99).tolist():
            torch.manual_seed(0)
            y = F.dropout1d(torch.from_numpy(x), p, True).numpy()
            m = _channel_mask(y, (8, 16, 1))
            got = cydrop.dropout1d(x, p, mask=m)
            k = np.broadcast_to(m, shape)
            d = np.abs(got[k].view(ints).astype(np.int64) - y[k].view(ints).astype(np.int64))
            worst[dtype] = max(worst[dtype], int(d.max(initial=0)))
            assert (got[~k] == 0).all() and not np.signbit(got[~k]).any()
            assert (np.signbit(y[~k]) == (x[~k] < 0)).all()
    assert worst == {np.float32: 2, np.float64: 0}, worst


@pytest.mark.parametrize("name", ["dropout1d", "dropout2d", "dropout3d"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_channelwise_edge_values_like_torch(name, dtype):
    shape = {"dropout1d": (2, 3, 4), "dropout2d": (2, 3, 4, 4),
             "dropout3d": (2, 3, 2, 2, 2)}[name]
    x = _nonzero_data(shape, dtype)
    tx = torch.from_numpy(x)
    tf, cf = getattr(F, name), getattr(cydrop, name)
    assert tf(tx, 0.5, training=False) is tx and cf(x, 0.5, False) is x
    np.testing.assert_array_equal(cf(x, 1.0), tf(tx, 1.0).numpy())
    np.testing.assert_array_equal(cf(x, 0.0), tf(tx, 0.0).numpy())
    tmod = {"dropout1d": torch.nn.Dropout1d, "dropout2d": torch.nn.Dropout2d,
            "dropout3d": torch.nn.Dropout3d}[name](0.5).eval()
    cmod = {"dropout1d": cydrop.Dropout1d, "dropout2d": cydrop.Dropout2d,
            "dropout3d": cydrop.Dropout3d}[name](0.5).eval()
    assert tmod(tx) is tx and cmod(x) is x


def _torch_outcome(fn):
    """(error type name or None, error text or None, warning texts)."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            fn()
            err = (None, None)
        except (RuntimeError, ValueError) as e:
            err = ("RuntimeError" if isinstance(e, RuntimeError) else "ValueError", str(e))
    return err + ([str(w.message) for w in rec],)


@pytest.mark.parametrize("nd", range(7))
@pytest.mark.parametrize("name", ["dropout1d", "dropout2d", "dropout3d",
                                  "feature_alpha_dropout"])
@pytest.mark.parametrize("p,training", [(0.5, True), (0.5, False), (0.0, True), (1.0, True)])
def test_rank_errors_and_warnings_are_torchs(name, nd, p, training):
    shape = (2, 3, 2, 1, 2, 2)[:nd]
    x = np.ones(shape)
    t = _torch_outcome(lambda: getattr(F, name)(torch.from_numpy(x), p, training=training))
    c = _torch_outcome(lambda: getattr(cydrop, name)(x, p, training, seed=0))
    assert c == t
    if t[0] is not None:
        with pytest.raises(cydrop.RankError):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                getattr(cydrop, name)(x, p, training, seed=0)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("nd", range(7))
@pytest.mark.parametrize("cls", ["Dropout1d", "Dropout2d", "Dropout3d", "FeatureAlphaDropout"])
def test_module_rank_errors_and_warnings_are_torchs(cls, nd, training):
    shape = (2, 3, 2, 1, 2, 2)[:nd]
    x = np.ones(shape)
    t = _torch_outcome(lambda: getattr(torch.nn, cls)(0.5).train(training)(torch.from_numpy(x)))
    layer = getattr(cydrop, cls)(0.5, rng=0).train(training)
    c = _torch_outcome(lambda: layer(x))
    assert c == t
    if t[0] is not None:
        assert layer.get_state() == (0, 0)      # a failed call takes no words


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_channel_noise_shapes_like_torch():
    # torch's channel structure for each rank, read from its output on ones
    # (p = 0.5, large enough that a channel of both kinds appears): cydrop's
    # returned mask has the channel shape torch's output is constant over
    for name, ranks in (("dropout2d", (2, 3, 4, 5, 6)), ("dropout3d", (1, 2, 3, 4, 5, 6)),
                        ("feature_alpha_dropout", (2, 3, 4, 5)), ("dropout1d", (2, 3))):
        for nd in ranks:
            shape = (6, 5, 4, 3, 2, 2)[:nd]
            _, m = getattr(cydrop, name)(np.ones(shape), 0.5, True, seed=1, return_mask=True)
            torch.manual_seed(0)
            ty = getattr(F, name)(torch.ones(shape, dtype=torch.float64), 0.5,
                                  training=True).numpy()
            if name == "feature_alpha_dropout":     # dropped: b_drop, not 0
                ty = ty != cydrop.functional._alpha_constants(0.5, np.float64)[2]
            t_mask = _channel_mask(ty, m.shape)     # asserts constancy
            # and torch's output is not constant over a coarser structure:
            # every axis of m longer than 1 varies somewhere in torch's mask
            for ax in range(nd):
                if m.shape[ax] > 1:
                    assert not (t_mask == t_mask.take([0], axis=ax)).all(), (name, nd, ax)


ALPHA_P = [0.1, 0.3, 0.5, 0.8]


def _alpha_mask(t_out, b_drop, noise=None):
    dropped = t_out == b_drop
    if noise is None:
        return ~dropped
    return _channel_mask(np.where(dropped, 0.0, 1.0), noise)


@pytest.mark.parametrize("p", ALPHA_P)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_alpha_dropout_same_mask_same_output_and_gradient(p, dtype):
    torch.manual_seed(int(p * 10))
    x = _nonzero_data((40, 50), dtype)
    g = _nonzero_data((40, 50), dtype, seed=2)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = F.alpha_dropout(tx, p, training=True)
    ty.backward(torch.from_numpy(g))
    t_out = ty.detach().numpy()
    b_drop = np.asarray(cydrop.functional._alpha_constants(p, dtype)[2]).astype(dtype)
    m = _alpha_mask(t_out, b_drop)
    # the recovered mask is plausible: keep rate within 6 sigma of 1 - p
    assert abs(m.mean() - (1 - p)) <= 6 * math.sqrt(p * (1 - p) / m.size)
    got = cydrop.alpha_dropout(x, p, True, mask=m)
    np.testing.assert_array_equal(got, t_out)                      # bit for bit
    np.testing.assert_array_equal(cydrop.alpha_dropout_backward(g, m, p), tx.grad.numpy())
    layer = cydrop.AlphaDropout(p)
    np.testing.assert_array_equal(layer(x, mask=m), t_out)
    np.testing.assert_array_equal(layer.backward(g), tx.grad.numpy())


@pytest.mark.parametrize("p", ALPHA_P)
@pytest.mark.parametrize("shape,noise", [((4, 6, 5), (4, 6, 1)), ((3, 5, 2, 3), (3, 5, 1, 1)),
                                         ((6, 7), (6, 7))])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_feature_alpha_dropout_same_mask(p, shape, noise, dtype):
    torch.manual_seed(int(p * 10) + 7)
    x = _nonzero_data(shape, dtype)
    g = _nonzero_data(shape, dtype, seed=3)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = F.feature_alpha_dropout(tx, p, training=True)
    ty.backward(torch.from_numpy(g))
    t_out = ty.detach().numpy()
    b_drop = np.asarray(cydrop.functional._alpha_constants(p, dtype)[2]).astype(dtype)
    m = _alpha_mask(t_out, b_drop, noise)
    got = cydrop.feature_alpha_dropout(x, p, True, mask=m)
    np.testing.assert_array_equal(got, t_out)
    np.testing.assert_array_equal(cydrop.alpha_dropout_backward(g, m, p, noise_shape=noise),
                                  tx.grad.numpy())
    layer = cydrop.FeatureAlphaDropout(p)
    np.testing.assert_array_equal(layer(x, mask=m), t_out)
    np.testing.assert_array_equal(layer.backward(g), tx.grad.numpy())


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_alpha_edge_cases_like_torch(dtype):
    x = _nonzero_data((3, 4, 5), dtype)
    tx = torch.from_numpy(x)
    for tf, cf in ((F.alpha_dropout, cydrop.alpha_dropout),
                   (F.feature_alpha_dropout, cydrop.feature_alpha_dropout)):
        assert tf(tx, 0.5) is tx and cf(x, 0.5) is x              # training=False default
        assert tf(tx, 0.5, training=False) is tx and cf(x, 0.5, False) is x
        np.testing.assert_array_equal(cf(x, 0.0, True), tf(tx, 0.0, training=True).numpy())
        np.testing.assert_array_equal(cf(x, 1.0, True), tf(tx, 1.0, training=True).numpy())
    for tcls, ccls in ((torch.nn.AlphaDropout, cydrop.AlphaDropout),
                       (torch.nn.FeatureAlphaDropout, cydrop.FeatureAlphaDropout)):
        assert tcls(0.5).eval()(tx) is tx and ccls(0.5).eval()(x) is x
        np.testing.assert_array_equal(ccls(1.0)(x), tcls(1.0)(tx).numpy())


def test_bad_p_messages_are_torchs():
    for tf, cf in ((F.dropout2d, cydrop.dropout2d), (F.dropout1d, cydrop.dropout1d),
                   (F.dropout3d, cydrop.dropout3d), (F.alpha_dropout, cydrop.alpha_dropout),
                   (F.feature_alpha_dropout, cydrop.feature_alpha_dropout)):
        for p in (1.5, -0.1):
            with pytest.raises(ValueError) as t_err:
                tf(torch.ones(2, 3, 4, 4, 4), p)
            with pytest.raises(ValueError) as c_err:
                cf(np.ones((2, 3, 4, 4, 4)), p)
            assert str(c_err.value) == str(t_err.value)


@pytest.mark.parametrize("args", [(), (0.2,), (0.3, True), (0.0, False), (1.0, True)])
def test_module_reprs_are_torchs(args):
    for name in ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
                 "FeatureAlphaDropout"):
        assert repr(getattr(cydrop, name)(*args)) == repr(getattr(torch.nn, name)(*args))
