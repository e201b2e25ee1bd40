"""Threads: results are bit-identical for any thread count, the count follows
cydrop.set_num_threads / threadpoolctl, and the GIL is released."""
import threading
import time

import numpy as np
import pytest

import cydrop
from cydrop import _kernels


@pytest.fixture
def restore_threads():
    before = cydrop.get_num_threads()
    yield
    cydrop.set_num_threads(before)


@pytest.mark.parametrize("layout", ["C", "transposed"])
def test_bit_identical_for_1_2_3_threads(restore_threads, layout, dtype):
    n = 300 * _kernels.CHUNK_ELEMENTS + 5          # well past the serial threshold
    x = np.random.default_rng(0).standard_normal(n).astype(dtype)
    if layout == "transposed":
        x = x[:-5].reshape(-1, 1024).T
    results = []
    for threads in (1, 2, 3):
        cydrop.set_num_threads(threads)
        # a build without OpenMP runs serially and says so
        assert cydrop.get_num_threads() == (threads if _kernels.HAVE_OPENMP else 1)
        y, m = cydrop.dropout(x, 0.37, seed=5, offset=6, return_mask=True)
        _, bits = cydrop.dropout(x, 0.37, seed=5, offset=6, return_mask="bits")
        g = cydrop.dropout_backward(x, None, 0.37, seed=5, offset=6)
        results.append((y, m, bits, g))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_set_num_threads_rejects_zero():
    with pytest.raises(ValueError):
        cydrop.set_num_threads(0)


@pytest.mark.skipif(not _kernels.HAVE_OPENMP, reason="built without OpenMP")
def test_threadpoolctl_sees_and_limits_the_openmp_runtime(restore_threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    cydrop.set_num_threads(2)
    info = threadpoolctl.threadpool_info()
    assert any(i["user_api"] == "openmp" for i in info), info
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert cydrop.get_num_threads() == 1
    assert cydrop.get_num_threads() == 2


def test_gil_is_released(restore_threads):
    # One thread runs a long dropout call while another Python thread keeps
    # counting.  Were the GIL held for the call, the counter would stall for
    # the whole call; released, its longest pause is a small part of it.
    cydrop.set_num_threads(1)               # leave the other core to the counter
    x = np.ones(1 << 25, np.float32)
    out = np.empty_like(x)
    cydrop.dropout(x, 0.5, seed=1, out=out)  # warm up (page faults)
    stop = threading.Event()
    ticks = []

    def count():
        while not stop.is_set():
            ticks.append(time.perf_counter())

    counter = threading.Thread(target=count)
    counter.start()
    try:
        time.sleep(0.02)
        t_start = time.perf_counter()
        cydrop.dropout(x, 0.5, seed=1, out=out)
        t_end = time.perf_counter()
        time.sleep(0.02)
    finally:
        stop.set()
        counter.join()
    call = t_end - t_start
    during = np.array([t for t in ticks if t_start <= t <= t_end])
    assert during.size > 100, (during.size, call)
    gaps = np.diff(np.concatenate([[t_start], during, [t_end]]))
    assert gaps.max() < 0.5 * call, (gaps.max(), call)


@pytest.mark.skipif(not _kernels.HAVE_OPENMP, reason="built without OpenMP: always 1 thread")
def test_set_num_threads_is_process_wide(restore_threads):
    cydrop.set_num_threads(1)
    seen = []
    worker = threading.Thread(target=lambda: seen.append(cydrop.get_num_threads()))
    worker.start()
    worker.join()
    assert seen == [1]
