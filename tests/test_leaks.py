"""No memory leaks: 10**5 calls across every entry point leave traced memory
and the resident set size flat.

Bounds (after a warm-up that fills caches and free lists):
  * tracemalloc: traced memory grows by less than 8 KiB over one of two
    windows of half the calls each (a leak grows in both: even one small
    object per call would be >= 5 * 10**3 * 16 bytes = 78 KiB for one
    operation's calls in a window; another thread's one-off allocation
    shows in one window only);
  * RSS: grows by less than 8 MiB (a leaked 64-element float32 result per
    call in one operation alone would be 10**4 * 256 B = 2.4 MiB, a leaked
    16 KiB buffer per call 156 MiB); RSS also catches C-level leaks that
    tracemalloc cannot see (malloc in the kernels, numpy data buffers not
    traced on other builds).

Run time: about 5-10 s on 2 cores (15 s under the sanitizer build)."""
import gc
import os
import resource
import sys
import tracemalloc

import numpy as np
import pytest

import cydrop

CALLS = 10**5
TRACED_BOUND = 8 * 1024            # bytes
RSS_BOUND = 8 * 1024 * 1024        # bytes

# AddressSanitizer keeps freed memory in quarantine (256 MiB by default) and
# adds shadow memory: RSS is not a leak measure under it (tracemalloc still is)
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")


def _rss():
    """Resident set size in bytes (current on Linux; the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _operations():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 8)).astype(np.float32)
    xd = rng.standard_normal(37)                       # float64, odd length
    xt = rng.standard_normal((16, 4)).astype(np.float32).T   # strided
    g = np.ones_like(x)
    bool_mask = rng.random(x.shape) < 0.5
    bits = np.packbits(bool_mask.ravel(), bitorder="little")
    buf = np.empty_like(x)
    work = x.copy()
    layers = {s: cydrop.Dropout(0.3, rng=1, mask_storage=s) for s in ("bits", "bool", "recompute")}

    def module(storage):
        layer = layers[storage]

        def step():
            y = layer(x)
            layer.backward(g)
            layer.mask
            return y
        return step

    return {
        "forward": lambda: cydrop.dropout(x, 0.3, seed=1, offset=5),
        "forward-default-stream": lambda: cydrop.dropout(xd, 0.3),
        "forward-strided": lambda: cydrop.dropout(xt, 0.3, seed=2),
        "forward-bool": lambda: cydrop.dropout(x, 0.3, seed=1, return_mask=True),
        "forward-bits": lambda: cydrop.dropout(x, 0.3, seed=1, return_mask="bits"),
        "forward-inplace-out": lambda: (cydrop.dropout(work, 0.3, inplace=True, seed=3),
                                        cydrop.dropout(x, 0.3, seed=3, out=buf)),
        "forward-given-mask": lambda: (cydrop.dropout(x, 0.3, mask=bool_mask),
                                       cydrop.dropout(x, 0.3, mask=bits, return_mask=True)),
        "backward-bool": lambda: cydrop.dropout_backward(g, bool_mask, 0.3),
        "backward-bits": lambda: cydrop.dropout_backward(g, bits, 0.3),
        "backward-regenerated": lambda: cydrop.dropout_backward(g, None, 0.3, seed=1, offset=5),
        "keep_mask": lambda: (cydrop.keep_mask(x.shape, 0.3, 1, 2),
                              cydrop.keep_mask(x.shape, 0.3, 1, 2, packed=True)),
        "module-bits": module("bits"),
        "module-bool": module("bool"),
        "module-recompute": module("recompute"),
    }


def test_no_leak_over_1e5_calls():
    ops = _operations()
    per_op = CALLS // len(ops)
    warmup = 500

    def run(n):
        for op in ops.values():
            for _ in range(n):
                op()

    # two windows of half the calls each: a leak grows in both; the other
    # threads an earlier test left (executors, dask's offload thread) may
    # allocate a few KiB once, in one of them (8737 bytes, once in CI)
    half = per_op // 2
    tracemalloc.start()
    try:
        run(warmup)
        gc.collect()
        traced = [tracemalloc.get_traced_memory()[0]]
        rss0 = _rss()
        for _ in range(2):
            run(half)
            gc.collect()
            traced.append(tracemalloc.get_traced_memory()[0])
        rss1 = _rss()
    finally:
        tracemalloc.stop()
    assert 2 * half * len(ops) >= CALLS - 2 * len(ops)
    growth = [traced[1] - traced[0], traced[2] - traced[1]]
    assert min(growth) < TRACED_BOUND, (
        f"traced memory grew by {growth[0]} and {growth[1]} bytes over two windows of "
        f"{half * len(ops)} calls")
    if not UNDER_ASAN:
        assert rss1 - rss0 < RSS_BOUND, f"RSS grew by {(rss1 - rss0) / 2**20:.1f} MiB"


@pytest.mark.parametrize("name", ["forward-bits", "module-recompute", "keep_mask"])
def test_leak_check_would_see_a_leak(name):
    """The measure itself works: keeping every result of 10**4 calls shows up
    (the test above cannot pass by measuring nothing)."""
    op = _operations()[name]
    kept = []
    tracemalloc.start()
    try:
        for _ in range(100):
            op()
        gc.collect()
        traced0 = tracemalloc.get_traced_memory()[0]
        for _ in range(10**4):
            kept.append(op())
        gc.collect()
        traced1 = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert traced1 - traced0 > 50 * TRACED_BOUND
