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


# -- the worker threads (pyx/pool.h): blocks, concurrent callers, exit -------

def _run_py(code, timeout=120):
    """``code`` in a fresh interpreter (threads that could hang stay out of
    the test process), without the thread limits earlier tests' libraries
    may have put in this process's environment (dask's distributed sets
    ``OMP_NUM_THREADS=1``); its stdout."""
    import os
    import subprocess
    import sys
    import textwrap
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.parametrize("shape", [(1, 1), (8, 16), (3, 2), (1000, 1)])
def test_bit_identical_for_any_blocks(restore_threads, shape, dtype):
    """The blocks a parallel call is cut into (about ``per_thread`` per
    thread, at most ``max_chunks`` work items each) never change a bit:
    sizes around block and item boundaries, streaming stores forced on, in
    place and out of place, with the packed bits, 1-5 threads."""
    chunk = _kernels.CHUNK_ELEMENTS
    old_shape = _kernels.set_block_shape(*shape)
    old_stream = _kernels.set_streaming_min_bytes(0)
    try:
        for n in (8 * chunk, 8 * chunk + 1, 33 * chunk - 3, 65 * chunk + 7):
            x = np.random.default_rng(n).standard_normal(n).astype(dtype)
            results = []
            for threads in (1, 2, 3, 5):
                cydrop.set_num_threads(threads)
                y, bits = cydrop.dropout(x, 0.3, seed=9, offset=3, return_mask="bits")
                out = np.empty_like(x)
                cydrop.dropout(x, 0.3, seed=9, offset=3, out=out)
                z = x.copy()
                cydrop.dropout(z, 0.3, seed=9, offset=3, inplace=True)
                results.append((y, bits, out, z))
            for other in results[1:]:
                for a, b in zip(results[0], other):
                    np.testing.assert_array_equal(a, b)
    finally:
        _kernels.set_block_shape(*old_shape)
        _kernels.set_streaming_min_bytes(old_stream)


def test_concurrent_callers_share_the_workers(restore_threads):
    """Python threads calling at once with 2 kernel threads each: one call
    at a time has the worker threads, the others run on their own thread;
    every result is the one-thread result."""
    from concurrent.futures import ThreadPoolExecutor
    n = 100 * _kernels.CHUNK_ELEMENTS + 11
    xs = [np.random.default_rng(i).standard_normal(n).astype(np.float32) for i in range(4)]
    cydrop.set_num_threads(1)
    expected = [cydrop.dropout(x, 0.5, seed=i) for i, x in enumerate(xs)]
    cydrop.set_num_threads(2)

    def calls(i):
        return [cydrop.dropout(xs[i], 0.5, seed=i) for _ in range(30)]

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(calls, range(4)))
    for i in range(4):
        for y in got[i]:
            np.testing.assert_array_equal(y, expected[i])


@pytest.mark.skipif(not _kernels.HAVE_OPENMP, reason="built without OpenMP: no worker threads")
def test_workers_follow_the_thread_count():
    """Worker threads start when a call first uses them, one fewer than its
    thread count (the caller is one); a call limited to one thread
    (set_num_threads, threadpoolctl) starts none."""
    out = _run_py("""
        import json, numpy as np, cydrop
        from cydrop import _kernels
        x = np.ones(64 * _kernels.CHUNK_ELEMENTS, np.float32)
        seen = [_kernels.pool_stats()["helpers"]]
        cydrop.set_num_threads(1)
        cydrop.dropout(x, 0.5)
        seen.append(_kernels.pool_stats()["helpers"])
        cydrop.set_num_threads(2)
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            seen.append(0)
        else:
            with threadpool_limits(1):
                inside = cydrop.get_num_threads()
                cydrop.dropout(x, 0.5)
            seen.append(_kernels.pool_stats()["helpers"] if inside == 1 else
                        f"threadpoolctl left {inside} threads")
        cydrop.dropout(x, 0.5)
        seen.append(_kernels.pool_stats()["helpers"])
        cydrop.set_num_threads(3)
        cydrop.dropout(x, 0.5)
        seen.append(_kernels.pool_stats()["helpers"])
        print(json.dumps(seen))
    """)
    assert out.split() == ["[0,", "0,", "0,", "1,", "2]"]


@pytest.mark.skipif(not _kernels.HAVE_OPENMP, reason="built without OpenMP: no worker threads")
@pytest.mark.parametrize("how", ["return", "daemon thread mid-call", "exit while a thread calls"])
def test_interpreter_exits_with_workers(how):
    """The worker threads never hold the interpreter's exit: after parallel
    calls, with a daemon thread still making them, or with sys.exit while
    a thread makes them."""
    body = {
        "return": "for _ in range(20): cydrop.dropout(x, 0.5)",
        "daemon thread mid-call": """
            def loop():
                while True:
                    cydrop.dropout(x, 0.5)
            threading.Thread(target=loop, daemon=True).start()
            time.sleep(0.2)""",
        "exit while a thread calls": """
            def loop():
                for _ in range(50):
                    cydrop.dropout(x, 0.5)
            t = threading.Thread(target=loop, daemon=True)
            t.start()
            t.join(0.05)
            sys.exit(0)""",
    }[how]
    _run_py(f"""
        import sys, threading, time, numpy as np, cydrop
        cydrop.set_num_threads(2)
        x = np.ones(1 << 22, np.float32)
        {textwrap_indent(body)}
    """, timeout=60)


def textwrap_indent(body):
    import textwrap
    return textwrap.indent(textwrap.dedent(body).strip(), " " * 8).lstrip()
