"""cydrop.Dropout: train/eval, forward with a manual mask, backward, the three
mask storages, state, repr."""
import numpy as np
import pytest

import cydrop

import _reference as ref

STORAGES = ["bits", "bool", "recompute"]


def _data(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_repr_like_torch():
    assert repr(cydrop.Dropout()) == "Dropout(p=0.5, inplace=False)"
    assert repr(cydrop.Dropout(0.2, True)) == "Dropout(p=0.2, inplace=True)"


def test_train_eval_flags():
    layer = cydrop.Dropout(0.3)
    assert layer.training
    assert layer.eval() is layer and not layer.training
    assert layer.train() is layer and layer.training
    layer.train(False)
    assert not layer.training


def test_backward_before_forward_raises():
    layer = cydrop.Dropout(0.5)
    with pytest.raises(RuntimeError, match="before a training forward"):
        layer.backward(np.ones(3))
    assert layer.mask is None


def test_eval_forward_and_backward_are_identity(dtype):
    layer = cydrop.Dropout(0.5, rng=0).eval()
    x = _data((3, 7), dtype)
    assert layer(x) is x
    g = _data((3, 7), dtype, seed=1)
    assert layer.backward(g) is g


@pytest.mark.parametrize("storage", STORAGES)
def test_forward_backward_consistent(storage, dtype):
    layer = cydrop.Dropout(0.45, rng=3, mask_storage=storage)
    x, g = _data((3, 7), dtype), _data((3, 7), dtype, seed=1)
    y = layer(x)
    m = layer.mask
    assert m.dtype == bool and m.shape == x.shape
    np.testing.assert_array_equal(y, ref.numpy_dropout(x, m, 0.45))
    np.testing.assert_array_equal(layer.backward(g), ref.numpy_dropout(g, m, 0.45))
    # the first call draws what the functional form draws with seed=3, offset=0
    np.testing.assert_array_equal(m, cydrop.keep_mask((3, 7), 0.45, 3, 0))


def test_all_storages_give_the_same_gradient(dtype):
    x, g = _data((5, 11), dtype), _data((5, 11), dtype, seed=2)
    results = []
    for storage in STORAGES:
        layer = cydrop.Dropout(0.3, rng=99, mask_storage=storage)
        for _ in range(3):          # a few steps: the stream position advances
            y = layer(x)
        results.append((y, layer.backward(g), layer.mask))
    for y, grad, mask in results[1:]:
        np.testing.assert_array_equal(y, results[0][0])
        np.testing.assert_array_equal(grad, results[0][1])
        np.testing.assert_array_equal(mask, results[0][2])


def test_mask_storage_sizes():
    x = np.ones((64, 64))
    bits = cydrop.Dropout(0.5, rng=0, mask_storage="bits")
    boolean = cydrop.Dropout(0.5, rng=0, mask_storage="bool")
    recompute = cydrop.Dropout(0.5, rng=0, mask_storage="recompute")
    for layer in (bits, boolean, recompute):
        layer(x)
    assert bits._saved[1].nbytes == 64 * 64 // 8
    assert boolean._saved[1].nbytes == 64 * 64
    assert recompute._saved[1] == (0, 0)        # (seed, offset): no mask bytes


def test_offset_advances_by_whole_blocks():
    layer = cydrop.Dropout(0.5, rng=1)
    layer(np.ones(5))
    assert layer.get_state() == (1, 8)
    layer(np.ones((2, 2)))
    assert layer.get_state() == (1, 12)
    layer.eval()(np.ones(5))
    assert layer.get_state() == (1, 12)


def test_consecutive_forwards_draw_fresh_masks():
    layer = cydrop.Dropout(0.5, rng=5)
    x = np.ones(1000)
    a, b = layer(x).copy(), layer(x).copy()
    assert not np.array_equal(a, b)


def test_get_set_state_reproduces_a_mask():
    layer = cydrop.Dropout(0.4, rng=np.random.default_rng(7))
    x = _data(100)
    layer(x)
    state = layer.get_state()
    y1, m1 = layer(x), layer.mask
    layer(x)
    layer.set_state(state)
    y2, m2 = layer(x), layer.mask
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(y1, y2)
    other = cydrop.Dropout(0.4)
    other.set_state(state)
    np.testing.assert_array_equal(other(x), y1)


def test_manual_mask_like_the_numpy_tutorials(dtype):
    x, g = _data((3, 7), dtype), _data((3, 7), dtype, seed=5)
    manual = np.random.default_rng(8).random((3, 7)) > 0.45
    for storage in STORAGES:
        layer = cydrop.Dropout(0.45, mask_storage=storage)
        y = layer(x, mask=manual)
        np.testing.assert_array_equal(y, ref.numpy_dropout(x, manual, 0.45))
        np.testing.assert_array_equal(layer.mask, manual)
        np.testing.assert_array_equal(layer.backward(g), ref.numpy_dropout(g, manual, 0.45))
        assert layer.get_state()[1] == 0          # a manual mask uses no stream


def test_inplace_module(dtype):
    x = _data(50, dtype)
    want = cydrop.Dropout(0.5, rng=2)(x)
    layer = cydrop.Dropout(0.5, inplace=True, rng=2)
    assert layer(x) is x
    np.testing.assert_array_equal(x, want)


def test_p_zero_and_one(dtype):
    x, g = _data(9, dtype), _data(9, dtype, seed=1)
    zero = cydrop.Dropout(0.0)
    assert zero(x) is x and zero.backward(g) is g and zero.mask.all()
    one = cydrop.Dropout(1.0)
    assert np.all(one(x) == 0) and np.all(one.backward(g) == 0) and not one.mask.any()


def test_backward_shape_mismatch():
    layer = cydrop.Dropout(0.5, rng=0)
    layer(np.ones((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        layer.backward(np.ones((3, 2)))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="mask_storage"):
        cydrop.Dropout(0.5, mask_storage="bytes")
    with pytest.raises(TypeError, match="rng"):
        cydrop.Dropout(0.5, rng="x")
    with pytest.raises(ValueError, match="rng"):
        cydrop.Dropout(0.5, rng=-3)


def test_failed_forward_changes_no_state():
    layer = cydrop.Dropout(0.5, rng=0)
    layer(np.ones(4))
    state, saved = layer.get_state(), layer._saved
    with pytest.raises(TypeError):
        layer(np.ones(4, np.int32))
    assert layer.get_state() == state and layer._saved is saved
