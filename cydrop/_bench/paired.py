"""``python -m cydrop bench limit`` and ``python -m cydrop bench family``:
cydrop's kernels as ratios timed in paired rounds.

Each round times every case back to back on one thread (``bench limit
--threads N``: N for cydrop; best of a few calls each, into preallocated
outputs unless the case is an allocating one) and forms the ratios within the
round, so that the machine's slow phases hit a kernel and its reference
alike; the medians of the per-round ratios are printed with their range
(`cydrop._bench.timing.paired_rounds`).  Run it once per Philox path with
``CYDROP_SIMD=scalar|avx2|avx512``.

``bench limit`` (the speed guard; it was ``benchmarks/limit_paired.py``).
The limit of a fused forward on ``n`` elements is ``max(np.copyto, Philox
words alone)``: it must read and write the array, and it must compute ``n``
stream words (docs/design.md, "Performance contract").  Per dtype and size,
each round times

* ``np.copyto(out, x)`` and ``fill_blocks`` of ``n`` words on the active path;
* the fused forward out of place (``out=``) and in place, each over the
  round's limit;
* masked scaling with a bool mask, the backward with a bool mask and with a
  packed bit mask, each over the copy (their limit);
* NumPy's own two-stream ``np.multiply(x, 2.0, out=out)``, the reference
  for what an elementwise loop costs beside the copy;
* the allocating forms users write -- ``y = cydrop.dropout(x, p)``, with
  ``mask=``, and ``dropout_backward(grad, mask, p)`` -- against
  ``np.copy(x)``, which allocates too: the forward over ``max(np.copy,
  Philox words alone)``, the others over ``np.copy``;
* with ``--streaming``, the fused forward out of place and masked scaling
  with non-temporal stores forced off and forced on (at every size; by
  default they are on from 16 MiB of result, and the fused forward in
  float64 never streams);
* at the largest size, the fused forward on 2 threads (its speed-up over 1),
  and, for the memory system's own answer, ``np.copyto`` of the two halves
  on two Python threads (NumPy releases the GIL while it copies) against
  one thread copying the whole.

Last, the median time of a whole ``cydrop.dropout`` call on 16 elements
(fresh result, default stream).

``bench family`` (it was ``benchmarks/family_paired.py``): the rest of the
family against the peer its performance target names: ``dropout2d`` on
(64, 256, 32, 32) and (4, 256, 32, 32) float32 over the copy, the float16
forward over the float32 forward of as many elements, ``alpha_dropout``
over the fused forward (2**20 and 2**24), vanilla evaluation over the copy.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import cydrop
from cydrop import _kernels

from .cli import size_name as _size_name
from .timing import (cpu_model, cydrop_threads, median_range, paired_rounds, ratios,
                     round_max, time_call)


@contextlib.contextmanager
def _streaming(min_bytes: int):
    """Non-temporal stores from ``min_bytes`` of result on, inside the block."""
    old = _kernels.set_streaming_min_bytes(min_bytes)
    try:
        yield
    finally:
        _kernels.set_streaming_min_bytes(old)


def _small_call(repeat: int = 15) -> float:
    """Median seconds of one ``cydrop.dropout(x, 0.45)`` on 16 float32 elements."""
    x = np.random.default_rng(1).standard_normal(16, dtype=np.float32)
    return statistics.median(time_call(lambda: cydrop.dropout(x, 0.45), repeat))


def _limit_one(dtype: str, n: int, args: argparse.Namespace, rng, largest: bool) -> None:
    p = args.p
    calls = 9 if n <= 2**20 else 3
    x = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    out = np.empty_like(x)
    buf = x.copy()
    mask = rng.random(n) >= p
    bits = np.packbits(mask, bitorder="little")
    words = np.empty(4 * ((n + 3) // 4), np.uint32)
    halves = [(out[:n // 2], x[:n // 2]), (out[n // 2:], x[n // 2:])]
    pool = ThreadPoolExecutor(2)

    def copy_2t():
        for f in [pool.submit(np.copyto, o, i) for o, i in halves]:
            f.result()

    def cases(r):
        yield "copy", lambda: np.copyto(out, x), calls
        yield "philox", lambda: _kernels.fill_blocks(words, 0, r), calls
        yield "fused", lambda: cydrop.dropout(x, p, seed=r, out=out), calls
        yield "inplace", lambda: cydrop.dropout(buf, p, seed=r, inplace=True), calls
        yield "masked", lambda: cydrop.dropout(x, p, mask=mask, out=out), calls
        yield "backward", lambda: cydrop.dropout_backward(g, mask, p, out=out), calls
        yield "backward_bits", lambda: cydrop.dropout_backward(g, bits, p, out=out), calls
        yield "multiply", lambda: np.multiply(x, 2.0, out=out), calls
        # the calls most users write: a fresh result each call
        yield "copy_new", lambda: np.copy(x), calls
        yield "fused_new", lambda: cydrop.dropout(x, p, seed=r), calls
        yield "masked_new", lambda: cydrop.dropout(x, p, mask=mask), calls
        yield "backward_new", lambda: cydrop.dropout_backward(g, mask, p), calls
        if args.streaming:
            for state, limit in (("off", 1 << 62), ("on", 0)):
                yield ("fused_" + state, lambda: cydrop.dropout(x, p, seed=r, out=out), calls,
                       functools.partial(_streaming, limit))
                yield ("masked_" + state, lambda: cydrop.dropout(x, p, mask=mask, out=out),
                       calls, functools.partial(_streaming, limit))
        if largest and not args.no_threads and args.threads == 1:
            yield ("fused_2t", lambda: cydrop.dropout(x, p, seed=r, out=out), calls,
                   lambda: cydrop_threads(2))
            yield "copy_2t", copy_2t, calls

    try:
        t = paired_rounds(cases, args.rounds)
    finally:
        pool.shutdown()
    limit = round_max(t, "copy", "philox")
    limit_new = round_max(t, "copy_new", "philox")
    ns = {key: statistics.median(v) / n * 1e9 for key, v in t.items()}
    print(f"{dtype} {_size_name(n)}: copy {ns['copy']:.3f} ns/elem, philox "
          f"{ns['philox']:.3f} ns/word, limit = "
          f"{'philox' if ns['philox'] > ns['copy'] else 'copy'}; np.copy (allocates) "
          f"{ns['copy_new']:.3f} ns/elem, allocating limit = "
          f"{'philox' if ns['philox'] > ns['copy_new'] else 'np.copy'}")

    def show(label, num, den_label, den, timed=None):
        print(f"  {label:30s} {ns[timed or num]:.3f} ns/elem  "
              f"{median_range(ratios(t, num, den))} {den_label}")
    show("fused forward, out=", "fused", "limit", limit)
    show("fused forward, in place", "inplace", "limit", limit)
    show("masked scaling (bool)", "masked", "copy", "copy")
    show("backward (bool mask)", "backward", "copy", "copy")
    show("backward (bit mask)", "backward_bits", "copy", "copy")
    show("np.multiply(x, 2.0, out=out)", "multiply", "copy", "copy")
    show("fused forward, allocating", "fused_new", "allocating limit", limit_new)
    show("masked scaling, allocating", "masked_new", "np.copy", "copy_new")
    show("backward (bool), allocating", "backward_new", "np.copy", "copy_new")
    if "fused_off" in t:
        show("fused out=, streaming off", "fused_off", "streaming on", "fused_on")
        show("masked (bool), streaming off", "masked_off", "streaming on", "masked_on")
    if "fused_2t" in t:
        show("fused, 2 threads", "fused", "speed-up", "fused_2t", "fused_2t")
        show("np.copyto, 2 threads", "copy", "speed-up", "copy_2t", "copy_2t")


def run_limit(args: argparse.Namespace, command: str) -> int:
    """``python -m cydrop bench limit``: see the module docstring."""
    print(f"cydrop bench limit | command: {command}")
    threads = f"{args.threads} thread{'s' if args.threads > 1 else ''}"
    print(f"cpu: {cpu_model()} | philox: {_kernels.get_impl()} | {threads} | p = {args.p} | "
          f"{args.rounds} paired rounds | build: {_kernels.BUILD_FLAGS}", flush=True)
    rng = np.random.default_rng(0)
    sizes = sorted(set(args.sizes))
    with cydrop_threads(args.threads):
        for dtype in args.dtypes:
            for n in sizes:
                _limit_one(dtype, n, args, rng, largest=n == sizes[-1])
        print(f"16-element call cydrop.dropout(x, 0.45): {_small_call() * 1e6:.2f} us "
              f"(median)")
    return 0


# the family's ratios: (label, numerator, denominator)
FAMILY_RATIOS = (
    ("dropout2d (64,256,32,32) / copy", "d2_24", "copy24"),
    ("dropout2d (4,256,32,32) / copy", "d2_20", "copy20"),
    ("float16 / float32 forward, 2**24", "h24", "fwd24"),
    ("float16 / float32 forward, 2**20", "h20", "fwd20"),
    ("alpha_dropout / forward, 2**24", "alpha24", "fwd24"),
    ("alpha_dropout / forward, 2**20", "alpha20", "fwd20"),
    ("vanilla eval / copy, 2**20", "veval20", "copy20"),
    ("forward / copy, 2**20", "fwd20", "copy20"),
    ("forward / copy, 2**24", "fwd24", "copy24"),
)


def run_family(args: argparse.Namespace, command: str) -> int:
    """``python -m cydrop bench family``: see the module docstring."""
    p = args.p
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 256, 32, 32), dtype=np.float32)
    out = np.empty_like(x)
    xh, oh = x.astype(np.float16), np.empty(x.shape, np.float16)
    x20 = x.ravel()[:2**20].copy()
    o20 = np.empty_like(x20)
    h20, oh20 = x20.astype(np.float16), np.empty(2**20, np.float16)
    x4, o4 = x20.reshape(4, 256, 32, 32), o20.reshape(4, 256, 32, 32)

    def cases(r):
        yield "copy24", lambda: np.copyto(out, x), 3
        yield "d2_24", lambda: cydrop.dropout2d(x, p, seed=r, out=out), 3
        yield "fwd24", lambda: cydrop.dropout(x, p, seed=r, out=out), 3
        yield "h24", lambda: cydrop.dropout(xh, p, seed=r, out=oh), 3
        yield "alpha24", lambda: cydrop.alpha_dropout(x, p, True, seed=r, out=out), 3
        yield "copy20", lambda: np.copyto(o20, x20), 9
        yield "d2_20", lambda: cydrop.dropout2d(x4, p, seed=r, out=o4), 9
        yield "fwd20", lambda: cydrop.dropout(x20, p, seed=r, out=o20), 9
        yield "h20", lambda: cydrop.dropout(h20, p, seed=r, out=oh20), 9
        yield "alpha20", lambda: cydrop.alpha_dropout(x20, p, True, seed=r, out=o20), 9
        yield ("veval20", lambda: cydrop.dropout(x20, p, False, out=o20, scaling="vanilla"),
               9)

    with cydrop_threads(1):
        t = paired_rounds(cases, args.rounds)
    print(f"cydrop bench family | command: {command}")
    print(f"cpu: {cpu_model()} | philox: {_kernels.get_impl()} | float16 "
          f"conversions: {_kernels.half_impl()} | 1 thread | p = {p} | "
          f"{args.rounds} paired rounds")
    for label, num, den in FAMILY_RATIOS:
        print(f"  {label:34s} median {median_range(ratios(t, num, den))}")
    return 0
