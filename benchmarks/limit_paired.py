"""cydrop's kernels against the machine's limit, timed in paired rounds.

The limit of a fused forward on ``n`` elements is ``max(np.copyto, Philox
words alone)``: it must read and write the array, and it must compute ``n``
stream words.  Each round times, back to back on one thread (best of a few
calls each, into preallocated outputs):

* ``np.copyto(out, x)`` and ``fill_blocks`` of ``n`` words on the active path;
* the fused forward out of place (``out=``) and in place;
* masked scaling with a bool mask, the backward with a bool mask and with a
  packed bit mask;
* NumPy's own two-stream ``np.multiply(x, 2.0, out=out)``, the reference
  for what an elementwise loop costs beside the copy;
* with ``--streaming``, the fused forward out of place and masked scaling
  with non-temporal stores forced off and forced on (at every size; by
  default they are on from 16 MiB of result, and the fused forward in
  float64 never streams);
* at the largest size, the fused forward on 2 threads (its speed-up over 1),
  and, for the memory system's own answer, ``np.copyto`` of the two halves
  on two Python threads (NumPy releases the GIL while it copies) against
  one thread copying the whole;

and forms the ratios within the round; the medians of the per-round ratios
are printed with their range.  Last, the median time of a whole
``cydrop.dropout`` call on 16 elements (fresh result, default stream).

    python benchmarks/limit_paired.py [--rounds 9] [--dtypes float32 float64] [--streaming]
    CYDROP_SIMD=avx2 python benchmarks/limit_paired.py      # another path
"""
import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import cydrop
from cydrop import _kernels
from cydrop._bench import _cpu_model

from _paired import best as _best, spread


def _small_call(repeat=15, number=20000):
    x = np.random.default_rng(1).standard_normal(16, dtype=np.float32)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            cydrop.dropout(x, 0.45)
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--p", type=float, default=0.45)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[20, 24],
                        help="log2 of the element counts (default: 20 24)")
    parser.add_argument("--no-threads", action="store_true",
                        help="skip the 2-thread row")
    parser.add_argument("--streaming", action="store_true",
                        help="also time non-temporal stores forced off against forced on")
    args = parser.parse_args(argv)
    p = args.p
    saved = cydrop.get_num_threads()
    cydrop.set_num_threads(1)
    print(f"cpu: {_cpu_model()} | philox: {_kernels.get_impl()} | 1 thread | p = {p} | "
          f"{args.rounds} paired rounds | build: {_kernels.BUILD_FLAGS}")
    rng = np.random.default_rng(0)
    for dtype in args.dtypes:
        for e in args.sizes:
            n = 2**e
            k = 9 if e <= 20 else 3
            x = rng.standard_normal(n).astype(dtype)
            g = rng.standard_normal(n).astype(dtype)
            out = np.empty_like(x)
            buf = x.copy()
            mask = rng.random(n) >= p
            bits = np.packbits(mask, bitorder="little")
            words = np.empty(n, np.uint32)
            t = {"copy": [], "philox": [], "fused": [], "inplace": [], "masked": [],
                 "backward": [], "backward_bits": [], "multiply": [], "fused_2t": [],
                 "copy_2t": [], "fused_off": [], "fused_on": [], "masked_off": [],
                 "masked_on": []}
            halves = [(out[:n // 2], x[:n // 2]), (out[n // 2:], x[n // 2:])]
            pool = ThreadPoolExecutor(2)

            def copy_2t():
                for f in [pool.submit(np.copyto, o, i) for o, i in halves]:
                    f.result()
            for r in range(args.rounds):
                t["copy"].append(_best(lambda: np.copyto(out, x), k))
                t["philox"].append(_best(lambda: _kernels.fill_blocks(words, 0, r), k))
                t["fused"].append(_best(lambda: cydrop.dropout(x, p, seed=r, out=out), k))
                t["inplace"].append(_best(lambda: cydrop.dropout(buf, p, seed=r, inplace=True), k))
                t["masked"].append(_best(lambda: cydrop.dropout(x, p, mask=mask, out=out), k))
                t["backward"].append(_best(lambda: cydrop.dropout_backward(g, mask, p, out=out), k))
                t["backward_bits"].append(
                    _best(lambda: cydrop.dropout_backward(g, bits, p, out=out), k))
                t["multiply"].append(_best(lambda: np.multiply(x, 2.0, out=out), k))
                if args.streaming:
                    for state, limit in (("off", 1 << 62), ("on", 0)):
                        old = _kernels.set_streaming_min_bytes(limit)
                        t["fused_" + state].append(
                            _best(lambda: cydrop.dropout(x, p, seed=r, out=out), k))
                        t["masked_" + state].append(
                            _best(lambda: cydrop.dropout(x, p, mask=mask, out=out), k))
                        _kernels.set_streaming_min_bytes(old)
                if e == max(args.sizes) and not args.no_threads:
                    cydrop.set_num_threads(2)
                    t["fused_2t"].append(_best(lambda: cydrop.dropout(x, p, seed=r, out=out), k))
                    cydrop.set_num_threads(1)
                    t["copy_2t"].append(_best(copy_2t, k))
            lim = [max(c, w) for c, w in zip(t["copy"], t["philox"])]
            ns = {key: statistics.median(v) / n * 1e9 for key, v in t.items() if v}
            print(f"{dtype} 2**{e}: copy {ns['copy']:.3f} ns/elem, philox {ns['philox']:.3f} "
                  f"ns/word, limit = {'philox' if ns['philox'] > ns['copy'] else 'copy'}")

            def show(name, num, den, dens, timed=None):
                v = [a / b for a, b in zip(t[num], dens)]
                print(f"  {name:30s} {ns[timed or num]:.3f} ns/elem  {spread(v)} {den}")
            show("fused forward, out=", "fused", "limit", lim)
            show("fused forward, in place", "inplace", "limit", lim)
            show("masked scaling (bool)", "masked", "copy", t["copy"])
            show("backward (bool mask)", "backward", "copy", t["copy"])
            show("backward (bit mask)", "backward_bits", "copy", t["copy"])
            show("np.multiply(x, 2.0, out=out)", "multiply", "copy", t["copy"])
            if t["fused_off"]:
                show("fused out=, streaming off", "fused_off", "streaming on", t["fused_on"])
                show("masked (bool), streaming off", "masked_off", "streaming on",
                     t["masked_on"])
            if t["fused_2t"]:
                show("fused, 2 threads", "fused", "speed-up", t["fused_2t"], "fused_2t")
                show("np.copyto, 2 threads", "copy", "speed-up", t["copy_2t"], "copy_2t")
            pool.shutdown()
    print(f"16-element call cydrop.dropout(x, 0.45): {_small_call() * 1e6:.2f} us (median)")
    cydrop.set_num_threads(saved)


if __name__ == "__main__":
    main()
