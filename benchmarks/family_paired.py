"""The dropout family's performance targets, timed in paired rounds.

Each round times every kernel back to back (best of a few calls each) on one
thread, into preallocated outputs, and forms the ratios within the round; the
medians of the per-round ratios are printed, with their range.  Ratios to
``np.copyto`` of the same array, or to the float32 fused forward:

* ``dropout2d`` on (64, 256, 32, 32) and (4, 256, 32, 32) float32 / copy
  (target <= 1.3x at (64, 256, 32, 32));
* the float16 forward / the float32 forward of as many elements (target <= 2x);
* ``alpha_dropout`` / the fused forward; vanilla evaluation / copy.

    python benchmarks/family_paired.py [--rounds 11]
    CYDROP_SIMD=avx2 python benchmarks/family_paired.py      # another path
"""
import argparse

import numpy as np

import cydrop
from cydrop._bench import _cpu_model

from _paired import best as _best, spread


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--p", type=float, default=0.45)
    args = parser.parse_args(argv)
    p = args.p
    cydrop.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 256, 32, 32), dtype=np.float32)
    out = np.empty_like(x)
    xh, oh = x.astype(np.float16), np.empty(x.shape, np.float16)
    x20 = x.ravel()[:2**20].copy()
    o20 = np.empty_like(x20)
    h20, oh20 = x20.astype(np.float16), np.empty(2**20, np.float16)
    x4, o4 = x20.reshape(4, 256, 32, 32), o20.reshape(4, 256, 32, 32)
    ratios = {}
    for r in range(args.rounds):
        t = {
            "copy24": _best(lambda: np.copyto(out, x), 3),
            "d2_24": _best(lambda: cydrop.dropout2d(x, p, seed=r, out=out), 3),
            "fwd24": _best(lambda: cydrop.dropout(x, p, seed=r, out=out), 3),
            "h24": _best(lambda: cydrop.dropout(xh, p, seed=r, out=oh), 3),
            "copy20": _best(lambda: np.copyto(o20, x20), 9),
            "d2_20": _best(lambda: cydrop.dropout2d(x4, p, seed=r, out=o4), 9),
            "fwd20": _best(lambda: cydrop.dropout(x20, p, seed=r, out=o20), 9),
            "h20": _best(lambda: cydrop.dropout(h20, p, seed=r, out=oh20), 9),
            "alpha20": _best(lambda: cydrop.alpha_dropout(x20, p, True, seed=r, out=o20), 9),
            "veval20": _best(lambda: cydrop.dropout(x20, p, False, out=o20, scaling="vanilla"), 9),
        }
        for name, num, den in (
                ("dropout2d (64,256,32,32) / copy", "d2_24", "copy24"),
                ("dropout2d (4,256,32,32) / copy", "d2_20", "copy20"),
                ("float16 / float32 forward, 2**24", "h24", "fwd24"),
                ("float16 / float32 forward, 2**20", "h20", "fwd20"),
                ("alpha_dropout / forward, 2**20", "alpha20", "fwd20"),
                ("vanilla eval / copy, 2**20", "veval20", "copy20"),
                ("forward / copy, 2**20", "fwd20", "copy20"),
                ("forward / copy, 2**24", "fwd24", "copy24")):
            ratios.setdefault(name, []).append(t[num] / t[den])
    print(f"cpu: {_cpu_model()} | philox: {cydrop._kernels.get_impl()} | float16 "
          f"conversions: {cydrop._kernels.half_impl()} | 1 thread | p = {p} | "
          f"{args.rounds} paired rounds")
    for name, v in ratios.items():
        print(f"  {name:34s} median {spread(v)}")


if __name__ == "__main__":
    main()
