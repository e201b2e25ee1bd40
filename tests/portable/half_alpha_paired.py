"""float16 and alpha dropout's fused forward against the plain fused forward,
per element, in paired rounds (one thread, each case timed in turn within a
round; medians of the per-round ratios, with their range).

    CYDROP_SIMD=scalar|avx2|avx512 python tests/portable/half_alpha_paired.py [ROUNDS]

At 2**20 and 2**24 elements, p = 0.45, out of place:

    float16 / float32 fwd   cydrop.dropout(x16, p, seed=1, out=o16) over the same on float32
    alpha32 / float32 fwd   cydrop.alpha_dropout(x32, p, True, seed=1, out=o32) over dropout
    alpha64 / float64 fwd   the same in float64, over float64's dropout
    alpha16 / float32 fwd   alpha_dropout on float16 over float32's dropout

Not a test (a time is not a contract); the figures of docs/design.md's
"Kernels" on float16 and alpha dropout.  Run it with PYTHONPATH set to
another built tree to time that tree.
"""
import statistics
import sys
import time

import numpy as np

import cydrop
from cydrop import _kernels

P = 0.45
ROWS = (("float16 / float32 fwd", "f16", "f32"), ("alpha32 / float32 fwd", "a32", "f32"),
        ("alpha64 / float64 fwd", "a64", "f64"), ("alpha16 / float32 fwd", "a16", "f32"))


def cases():
    rng = np.random.default_rng(0)
    for lg in (20, 24):
        x32 = rng.standard_normal(2**lg, dtype=np.float32)
        arrays = {"32": x32, "64": x32.astype(np.float64), "16": x32.astype(np.float16)}
        reps = 9 if lg == 20 else 2
        for t, x in arrays.items():
            o = np.empty_like(x)
            yield (f"f{t}_{lg}", reps,
                   lambda x=x, o=o: cydrop.dropout(x, P, seed=1, out=o))
            yield (f"a{t}_{lg}", reps,
                   lambda x=x, o=o: cydrop.alpha_dropout(x, P, True, seed=1, out=o))


def main(rounds):
    todo = list(cases())
    times = {name: [] for name, _, _ in todo}
    cydrop.set_num_threads(1)
    for _ in range(rounds):
        for name, reps, call in todo:
            call()
            t0 = time.perf_counter()
            for _ in range(reps):
                call()
            times[name].append((time.perf_counter() - t0) / reps)
    print(f"philox {_kernels.get_impl()} | loops {_kernels.simd_loops()} | float16 "
          f"conversions {_kernels.half_impl()} | 1 thread | p = {P} | {rounds} paired rounds")
    for lg in (20, 24):
        ns = statistics.median(times[f"f32_{lg}"]) / 2**lg * 1e9
        print(f"2**{lg}: float32 forward {ns:.3f} ns/elem")
        for label, num, den in ROWS:
            rs = [a / b for a, b in zip(times[f"{num}_{lg}"], times[f"{den}_{lg}"])]
            print(f"  {label:24s}  {statistics.median(rs):.3f} [{min(rs):.2f}-{max(rs):.2f}]")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
