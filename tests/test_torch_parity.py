"""Parity with torch.nn.functional.dropout / torch.native_dropout on the CPU:
given the mask torch drew, cydrop gives the same output and the same gradient
(autograd) to 1 ulp.  Skips cleanly where torch is not installed."""
import numpy as np
import pytest

import cydrop

torch = pytest.importorskip("torch")
F = torch.nn.functional

TORCH_DTYPES = {np.float32: torch.float32, np.float64: torch.float64}


def _nonzero_data(shape, dtype, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    x[x == 0] = 1          # so that "output != 0" recovers torch's mask
    return x


@pytest.mark.parametrize("p", [0.1, 0.45, 0.5, 0.9])
@pytest.mark.parametrize("shape", [(3, 7), (1000,), (4, 5, 6)])
def test_native_dropout_same_mask_same_output(p, shape, dtype):
    torch.manual_seed(0)
    x = _nonzero_data(shape, dtype)
    t_out, t_mask = torch.native_dropout(torch.from_numpy(x), p, True)
    mask = t_mask.numpy()
    got = cydrop.dropout(x, p, mask=mask)
    np.testing.assert_array_max_ulp(got, t_out.numpy(), maxulp=1)
    np.testing.assert_array_equal(got == 0, ~mask)


@pytest.mark.parametrize("p", [0.2, 0.45, 0.7])
def test_autograd_gradient_matches_backward(p, dtype):
    torch.manual_seed(1)
    x = _nonzero_data((6, 9), dtype, seed=1)
    g = _nonzero_data((6, 9), dtype, seed=2)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty, t_mask = torch.native_dropout(tx, p, True)
    ty.backward(torch.from_numpy(g))
    mask = t_mask.numpy()
    np.testing.assert_array_max_ulp(cydrop.dropout(x, p, mask=mask), ty.detach().numpy(), maxulp=1)
    np.testing.assert_array_max_ulp(cydrop.dropout_backward(g, mask, p), tx.grad.numpy(), maxulp=1)
    # the module's backward with the same manual mask
    layer = cydrop.Dropout(p)
    layer(x, mask=mask)
    np.testing.assert_array_max_ulp(layer.backward(g), tx.grad.numpy(), maxulp=1)


@pytest.mark.parametrize("p", [0.2, 0.45, 0.7])
def test_functional_dropout_autograd(p, dtype):
    # F.dropout's CPU path builds its noise as bernoulli(1 - p) / (1 - p) in
    # the tensor's dtype: for float32 the scale is rounded twice (1.81818175
    # for p = 0.45 where 1 / 0.55 rounds to 1.81818187), so torch itself is
    # up to 2 ulp from native_dropout there.  cydrop rounds the scale once.
    torch.manual_seed(2)
    x = _nonzero_data((6, 9), dtype, seed=3)
    g = _nonzero_data((6, 9), dtype, seed=4)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = F.dropout(tx, p, training=True)
    ty.backward(torch.from_numpy(g))
    mask = ty.detach().numpy() != 0
    ulps = 1 if dtype == np.float64 else 2
    np.testing.assert_array_max_ulp(cydrop.dropout(x, p, mask=mask), ty.detach().numpy(), maxulp=ulps)
    np.testing.assert_array_max_ulp(cydrop.dropout_backward(g, mask, p), tx.grad.numpy(), maxulp=ulps)


def test_eval_and_p0_return_the_input_like_torch(dtype):
    x = _nonzero_data((3, 4), dtype)
    tx = torch.from_numpy(x)
    assert F.dropout(tx, 0.5, training=False) is tx
    assert cydrop.dropout(x, 0.5, training=False) is x
    assert cydrop.dropout(x, 0.0) is x
    layer, tlayer = cydrop.Dropout(0.5).eval(), torch.nn.Dropout(0.5).eval()
    assert tlayer(tx) is tx and layer(x) is x


def test_p1_zeros_like_torch(dtype):
    x = _nonzero_data((3, 4), dtype)
    np.testing.assert_array_equal(F.dropout(torch.from_numpy(x), 1.0).numpy(),
                                  cydrop.dropout(x, 1.0))


def test_bad_p_message_is_torchs():
    with pytest.raises(ValueError) as t_err:
        F.dropout(torch.ones(3), 1.5)
    with pytest.raises(ValueError) as c_err:
        cydrop.dropout(np.ones(3), 1.5)
    assert str(c_err.value) == str(t_err.value)
    assert repr(cydrop.Dropout(0.25, True)) == repr(torch.nn.Dropout(0.25, True))


def test_documented_difference_nan_is_dropped_to_zero():
    x = np.full(64, np.nan, np.float32)
    mask = np.zeros(64, bool)
    mask[::2] = True
    t_out = torch.from_numpy(x) * torch.from_numpy(mask) * 2.0   # what torch's kernel computes
    assert np.isnan(t_out.numpy()[1])
    assert cydrop.dropout(x, 0.5, mask=mask)[1] == 0.0


def test_keep_rate_close_to_torchs():
    # both keep 1 - p of 2**20 elements within 6 sigma (false positive < 1e-8)
    n, p = 1 << 20, 0.45
    torch.manual_seed(3)
    t_kept = int((F.dropout(torch.ones(n), p) != 0).sum())
    c_kept = int(cydrop.keep_mask(n, p, 3, 0).sum())
    sigma = np.sqrt(n * p * (1 - p))
    assert abs(t_kept - n * (1 - p)) <= 6 * sigma
    assert abs(c_kept - n * (1 - p)) <= 6 * sigma


def _ulp_distance(a, b):
    ints = np.int32 if a.dtype == np.float32 else np.int64
    return int(np.abs(a.view(ints).astype(np.int64) - b.view(ints).astype(np.int64)).max())


def test_scale_figures_in_the_readme():
    # The torch page's figures (docs/guide/torch.md), measured here: over 99
    # values of p in [0.01, 0.99], F.dropout's float32 scale is at most 1 ulp
    # from the correctly rounded 1 / (1 - p) (1 ulp below at p = 0.45), its
    # float64 scale and native_dropout's scales equal it, and kept float32
    # outputs differ from cydrop's by at most 2 ulp.
    worst = {"F32": 0, "F64": 0, "native32": 0, "native64": 0, "out32": 0}
    x32 = _nonzero_data(20000, np.float32, seed=7)
    for p in np.linspace(0.01, 0.99, 99).tolist():
        for dtype, tdtype, tag in ((np.float32, torch.float32, "32"),
                                   (np.float64, torch.float64, "64")):
            ones = torch.ones(4096, dtype=tdtype)
            want = np.asarray(1 / (1 - p)).astype(dtype).reshape(1)
            torch.manual_seed(0)
            y = F.dropout(ones, p, True).numpy()
            worst["F" + tag] = max(worst["F" + tag], _ulp_distance(y[y != 0][:1], want))
            torch.manual_seed(0)
            yn = torch.native_dropout(ones, p, True)[0].numpy()
            worst["native" + tag] = max(worst["native" + tag],
                                        _ulp_distance(yn[yn != 0][:1], want))
        torch.manual_seed(1)
        ty = F.dropout(torch.from_numpy(x32.copy()), p, True).numpy()
        kept = ty != 0
        got = cydrop.dropout(x32, p, mask=kept)
        worst["out32"] = max(worst["out32"], _ulp_distance(got[kept], ty[kept]))
    assert worst == {"F32": 1, "F64": 0, "native32": 0, "native64": 0, "out32": 2}, worst
    torch.manual_seed(0)
    y = F.dropout(torch.ones(64), 0.45, True).numpy()
    assert _ulp_distance(y[y != 0][:1], np.asarray([1 / 0.55], np.float32)) == 1
