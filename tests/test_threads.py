"""Threads: results are bit-identical for any thread count, the count follows
cydrop.set_num_threads / threadpoolctl, and the GIL is released."""
import math
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


def pause_fractions(call, tries=5):
    """While ``call`` runs, another Python thread takes timestamps in a loop;
    its longest pause within the call, as a fraction of the call's duration
    (the shorter of this call and the best of 3 calls alone), for each of up
    to ``tries`` calls, stopping at the first fraction under 1/2.

    A call that holds the GIL stops that thread for all of its run but the
    few milliseconds around it where the GIL changes hands: every fraction is
    near 1, on any machine.  A call that releases it pauses the thread only
    as long as the OS takes the thread's core away, which a loaded machine
    may do for a while now and then, so one clean try of several is enough."""
    solo = math.inf
    for _ in range(3):                      # the first one warms up
        t = time.perf_counter()
        call()
        solo = min(solo, time.perf_counter() - t)
    fractions = []
    for _ in range(tries):
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
            call()
            t_end = time.perf_counter()
            time.sleep(0.02)
        finally:
            stop.set()
            counter.join()
        during = [t for t in ticks if t_start <= t <= t_end]
        pause = np.diff([t_start, *during, t_end]).max()
        fractions.append(float(pause / min(solo, t_end - t_start)))
        if fractions[-1] < 0.5:
            break
    return fractions


def test_gil_is_released(restore_threads):
    # One thread runs a long dropout call (2**26 float32 in place: ~30 ms on
    # AVX-512, ~100 ms scalar) while another Python thread keeps taking
    # timestamps.  Were the GIL held for the call, that thread would stop for
    # the whole kernel; released, its longest pause is a small part of it.
    cydrop.set_num_threads(1)               # leave the other core to the counter
    x = np.ones(1 << 26, np.float32)
    fractions = pause_fractions(lambda: cydrop.dropout(x, 0.5, seed=1, inplace=True), tries=8)
    assert min(fractions) < 0.5, fractions


def test_gil_check_sees_a_call_holding_the_gil():
    """The check above fails a call that holds the GIL: a C function called
    through ctypes.PyDLL (which keeps the GIL) sleeping 40 ms."""
    ctypes = pytest.importorskip("ctypes")
    try:
        usleep = ctypes.PyDLL(None).usleep
    except (OSError, AttributeError):
        pytest.skip("no usleep in this process")
    usleep.argtypes = [ctypes.c_uint]
    fractions = pause_fractions(lambda: usleep(40_000), tries=3)
    assert len(fractions) == 3 and min(fractions) >= 0.5, fractions


@pytest.mark.skipif(not _kernels.HAVE_OPENMP, reason="built without OpenMP: always 1 thread")
def test_set_num_threads_is_process_wide(restore_threads):
    cydrop.set_num_threads(1)
    seen = []
    worker = threading.Thread(target=lambda: seen.append(cydrop.get_num_threads()))
    worker.start()
    worker.join()
    assert seen == [1]
