"""Recycled results (pyx/result_cache.h, pyx/results.pxi).

From ``RESULT_CACHE_MIN_BYTES`` on, a fresh result of the allocating calls
is allocated through a NumPy memory handler whose free keeps the block
(bounded) and whose malloc hands it back to the next result of exactly that
size.  What must hold: the results are the same bits as into a fresh
``out=`` (a recycled block's old contents never show), an array looks like
``np.empty_like``'s (owns its data, no base), live results never share
memory, the bound is kept, and the lock survives threads and fork.
"""
import gc
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import cydrop
from cydrop import _kernels

MIN = _kernels.RESULT_CACHE_MIN_BYTES
P = 0.45


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts and ends with nothing kept, at the default bound."""
    before = _kernels.set_result_cache(0)
    _kernels.set_result_cache(before)
    yield
    _kernels.set_result_cache(0)
    _kernels.set_result_cache(before)


def _big(dtype=np.float32, factor=1):
    n = factor * MIN // np.dtype(dtype).itemsize
    return np.random.default_rng(5).standard_normal(n).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_a_recycled_result_is_the_same_bits_as_a_fresh_one(dtype):
    x = _big(dtype)
    m = np.random.default_rng(6).random(x.size) >= P
    bits = np.packbits(m, bitorder="little")
    calls = [lambda: cydrop.dropout(x, P, seed=7, offset=3),
             lambda: cydrop.dropout(x, P, mask=m),
             lambda: cydrop.dropout_backward(x, bits, P),
             lambda: cydrop.dropout(x, P, seed=7, return_mask=True)[0],
             lambda: cydrop.alpha_dropout(x, P, True, seed=7)]
    for call in calls:
        want = call().copy()
        gc.collect()
        # a kept block full of garbage: none of it may survive the call
        junk = call()
        junk.fill(np.nan)
        address = junk.ctypes.data
        del junk
        got = call()
        assert got.ctypes.data == address, "the freed result was not reused"
        np.testing.assert_array_equal(got, want)


def test_results_look_like_empty_likes():
    x = _big()
    y = cydrop.dropout(x, P, seed=1)
    assert y.flags.owndata and y.base is None and y.flags.writeable
    assert y.flags.c_contiguous and y.dtype == x.dtype and y.shape == x.shape
    xf = np.asfortranarray(_big(factor=2).reshape(256, -1))
    yf = cydrop.dropout(xf, P, seed=1)
    assert yf.flags.f_contiguous and yf.flags.owndata


def test_live_results_never_share_memory():
    x = _big()
    ys = [cydrop.dropout(x, P, seed=s) for s in range(4)]
    for i, a in enumerate(ys):
        for b in ys[i + 1:]:
            assert not np.shares_memory(a, b)
    addresses = {y.ctypes.data for y in ys}
    del ys, a, b
    ys = [cydrop.dropout(x, P, seed=s) for s in range(4)]
    assert {y.ctypes.data for y in ys} == addresses      # all four kept, all reused
    assert _kernels.result_cache_bytes() == 0


def test_a_view_keeps_the_block_in_use():
    x = _big()
    y = cydrop.dropout(x, P, seed=1)
    view = y[10:]
    address = y.ctypes.data
    del y
    z = cydrop.dropout(x, P, seed=2)
    assert z.ctypes.data != address
    assert not np.shares_memory(z, view)


def test_the_bound_is_kept():
    x = _big(factor=2)
    nbytes = x.nbytes
    _kernels.set_result_cache(3 * nbytes)
    ys = [cydrop.dropout(x, P, seed=s) for s in range(5)]
    del ys
    assert _kernels.result_cache_bytes() == 3 * nbytes
    assert _kernels.set_result_cache(nbytes) == 3 * nbytes
    assert _kernels.result_cache_bytes() == nbytes
    # a result larger than the bound is not kept
    big = cydrop.dropout(_big(factor=4), P, seed=1)
    del big
    assert _kernels.result_cache_bytes() <= nbytes
    _kernels.set_result_cache(0)
    assert _kernels.result_cache_bytes() == 0
    y = cydrop.dropout(x, P, seed=1)
    del y
    assert _kernels.result_cache_bytes() == 0


def test_small_results_are_numpys_own():
    x = np.ones(MIN // 4 - 1, np.float32)
    y = cydrop.dropout(x, P, seed=1)
    del y
    assert _kernels.result_cache_bytes() == 0


def test_other_sizes_and_other_arrays_do_not_take_a_kept_block():
    x = _big()
    y = cydrop.dropout(x, P, seed=1)
    address = y.ctypes.data
    del y
    other = np.empty_like(x)             # numpy's own handler: not from the cache
    assert other.ctypes.data != address
    z = cydrop.dropout(_big(factor=2), P, seed=1)
    assert z.ctypes.data != address
    assert _kernels.result_cache_bytes() == x.nbytes


def test_resize_of_a_recycled_result():
    x = _big()
    y = cydrop.dropout(x, P, seed=1)
    want = y[:100].copy()
    y.resize(2 * y.size, refcheck=False)
    np.testing.assert_array_equal(y[:100], want)
    y.resize(10, refcheck=False)
    del y
    gc.collect()


def test_the_handler_is_named():
    y = cydrop.dropout(_big(), P, seed=1)
    assert np._core.multiarray.get_handler_name(y) == "cydrop_result_cache"
    small = cydrop.dropout(np.ones(16, np.float32), P, seed=1)
    assert np._core.multiarray.get_handler_name(small) == "default_allocator"


def test_threads_share_the_cache_safely():
    x = _big()
    want = cydrop.dropout(x, P, seed=9).copy()
    errors = []

    def work():
        try:
            for _ in range(30):
                y = cydrop.dropout(x, P, seed=9)
                if not np.array_equal(y, want):
                    errors.append("mismatch")
                del y
        except Exception as e:       # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not errors


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_child_allocates_and_frees():
    code = textwrap.dedent("""
        import os, numpy as np, cydrop
        from cydrop import _kernels
        x = np.ones(_kernels.RESULT_CACHE_MIN_BYTES // 4, np.float32)
        y = cydrop.dropout(x, 0.45, seed=1); del y
        pid = os.fork()
        if pid == 0:
            y = cydrop.dropout(x, 0.45, seed=1); del y
            z = cydrop.dropout(x, 0.45, seed=1)
            os._exit(0 if z.sum() > 0 and _kernels.result_cache_bytes() == 0 else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize("value, held", [("0", 0), ("", 4 * 2**20), ("1048576", 0)])
def test_environment_sets_the_bound(value, held):
    # CYDROP_RESULT_CACHE=N at import: the bound (0: nothing kept, a freed
    # 4 MiB result goes back to numpy's allocator)
    code = textwrap.dedent("""
        import numpy as np, cydrop
        from cydrop import _kernels
        y = cydrop.dropout(np.ones(2**20, np.float32), 0.5, seed=1)
        del y
        held = _kernels.result_cache_bytes()
        print(_kernels.set_result_cache(0), held)
    """)
    env = dict(os.environ, CYDROP_RESULT_CACHE=value)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    bound = int(out[0])
    assert int(out[1]) == held           # a 4 MiB result kept only under the default
    if value == "0":
        assert bound == 0
    elif value:
        assert bound == int(value)
    else:
        assert bound == 512 * 2**20


def test_environment_bound_must_be_a_byte_count():
    env = dict(os.environ, CYDROP_RESULT_CACHE="lots")
    proc = subprocess.run([sys.executable, "-c", "import cydrop"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "CYDROP_RESULT_CACHE='lots' is not a byte count" in proc.stderr
