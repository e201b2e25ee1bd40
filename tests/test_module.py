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
    with pytest.raises(RuntimeError, match="before a forward"):
        layer.backward(np.ones(3))
    assert layer.mask is None
    layer.eval()
    with pytest.raises(RuntimeError, match="before a forward"):
        layer.backward(np.ones(3))


def test_backward_follows_the_last_forward_not_the_mode():
    # The case: the forward dropped elements in train mode; switching
    # to eval before backward must not turn the gradient into the identity.
    m = cydrop.Dropout(0.5, rng=3)
    y = m(np.ones(8))
    m.eval()
    g = m.backward(np.ones(8))
    np.testing.assert_array_equal(g, y)
    assert (g == 0).any()
    np.testing.assert_array_equal(m.mask, y != 0)
    # an eval-mode forward is the identity, and so is its backward, even
    # after switching back to train mode
    x = np.arange(1.0, 9.0)
    assert m(x) is x
    m.train()
    g = np.full(8, 3.0)
    assert m.backward(g) is g
    assert m.mask.all()


def test_train_mode_must_be_boolean():
    layer = cydrop.Dropout(0.5)
    for bad in ("no", 1, None, 0.0):
        with pytest.raises(ValueError, match="training mode is expected to be boolean"):
            layer.train(bad)
        assert layer.training is True
    assert layer.train(np.bool_(False)).training is False


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


def test_set_state_is_checked_whole_and_names_state():
    layer = cydrop.Dropout(0.5, rng=1)
    layer(np.ones(6))
    before = layer.get_state()
    bad_states = [((1,), TypeError), (None, TypeError), ((1, 2, 3), TypeError), ("ab", TypeError),
                  ((5, -1), ValueError), ((-5, 1), ValueError), ((5, 2**64), ValueError),
                  ((1.5, 0), TypeError), ((5, "0"), TypeError)]
    for state, exc in bad_states:
        with pytest.raises(exc, match="state") as info:
            layer.set_state(state)
        assert "(seed, offset)" in str(info.value)
        assert layer.get_state() == before        # nothing changed, seed included
    layer.set_state((np.uint64(5), np.int64(8)))
    assert layer.get_state() == (5, 8) and type(layer.get_state()[0]) is int


def test_one_module_shared_by_threads_reserves_disjoint_ranges():
    # 8 threads x 50 training forwards of 2**16 elements on one module: every
    # forward takes its own stream range, so the 400 masks are distinct and
    # the position ends exactly where 400 serial calls leave it.
    import threading

    threads, calls, n = 8, 50, 1 << 16
    layer = cydrop.Dropout(0.5, rng=7)
    x = np.ones(n, np.float32)
    outs = [[] for _ in range(threads)]
    start = threading.Barrier(threads)

    def work(k):
        start.wait()
        for _ in range(calls):
            outs[k].append(np.packbits(layer(x) != 0).tobytes())

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    masks = [m for per_thread in outs for m in per_thread]
    assert len(masks) == threads * calls
    assert len(set(masks)) == threads * calls
    assert layer.get_state() == (7, threads * calls * n)     # 26,214,400
    # and they are exactly the masks of the 400 consecutive ranges
    expected = {np.packbits(cydrop.keep_mask(n, 0.5, 7, k * n)).tobytes()
                for k in range(threads * calls)}
    assert set(masks) == expected
