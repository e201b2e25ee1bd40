"""``python -m cydrop``: the classic NumPy ``Dropout`` comparison, made with
cydrop; ``python -m cydrop bench``: the speed table and the other measurements
of ``cydrop/_bench/`` (see ``--help``)."""
from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np

import cydrop
from ._bench.timing import time_call
from ._optional import import_torch


class NumpyDropout:
    """The ``Dropout`` class of the NumPy tutorials (forward with an optional
    manual mask, backward, train/test flag): the reference."""

    def __init__(self, p):
        self.p = p
        self.training = True
        self.mask = None

    def forward(self, x, manual_mask=None):
        if not self.training:
            return x
        self.mask = manual_mask if manual_mask is not None else np.random.rand(*x.shape) > self.p
        return x * self.mask / (1 - self.p)

    def backward(self, grad):
        return grad * self.mask / (1 - self.p)


def _show(label, a):
    body = np.array2string(a, precision=4, suppress_small=True, max_line_width=110)
    print(f"{label}:\n{body}")


def _agree(name, a, b):
    ok = a.shape == b.shape and np.allclose(a, b, rtol=1e-12, atol=0)
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    print(f"  {name:<26} {'agree' if ok else 'DIFFER'} (max |diff| {diff:.3g})")
    return ok


def _median_time(fn, repeat=15):
    return statistics.median(time_call(fn, repeat))


def demo(args):
    p = args.p
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((3, 7))
    grad = rng.standard_normal((3, 7))
    torch = None if args.no_torch else import_torch()

    layer = cydrop.Dropout(p=p)
    ref = NumpyDropout(p)
    print(f"cydrop {cydrop.__version__}: {layer!r} on a 3x7 float64 array, "
          f"torch {'%s' % torch.__version__ if torch else 'not installed'}\n")
    _show("x", x)

    # the keep-mask: torch draws it when installed, else NumPy does
    if torch is not None:
        torch.manual_seed(args.seed)
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        t_out, t_mask = torch.native_dropout(tx, p, True)
        t_out.backward(torch.from_numpy(grad))
        mask = t_mask.numpy().copy()
        source = "torch.native_dropout"
    else:
        mask = np.random.default_rng(args.seed + 1).random((3, 7)) > p
        source = "numpy"
    _show(f"\nkeep-mask (drawn by {source})", mask.astype(int))

    ok = True
    print("\n1. training forward with that mask")
    y = layer(x, mask=mask)
    _show("cydrop", y)
    ok &= _agree("cydrop vs numpy", y, ref.forward(x, manual_mask=mask))
    if torch is not None:
        ok &= _agree("cydrop vs torch", y, t_out.detach().numpy())

    print("\n2. backward of a random upstream gradient")
    _show("grad", grad)
    g = layer.backward(grad)
    _show("cydrop", g)
    ok &= _agree("cydrop vs numpy", g, ref.backward(grad))
    if torch is not None:
        ok &= _agree("cydrop vs torch autograd", g, tx.grad.numpy())

    print("\n3. eval forward")
    layer.eval()
    ref.training = False
    y_eval = layer(x)
    print(f"  cydrop returns its input unchanged: {y_eval is x}")
    ok &= _agree("cydrop vs numpy", y_eval, ref.forward(x))
    if torch is not None:
        tx2 = torch.from_numpy(x)
        ok &= _agree("cydrop vs torch", y_eval, torch.nn.Dropout(p).eval()(tx2).numpy())

    print("\n4. a mask from cydrop's own Philox stream (seed=0, offset=0)")
    y0, m0 = cydrop.dropout(x, p, seed=0, return_mask=True)
    _show("keep-mask", m0.astype(int))
    ok &= _agree("cydrop vs numpy", y0, NumpyDropout(p).forward(x, manual_mask=m0))

    n = 1 << 20
    xb = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    out = np.empty_like(xb)
    t_cy = _median_time(lambda: cydrop.dropout(xb, p, out=out))
    t_np = _median_time(lambda: xb * (np.random.rand(*xb.shape) > p) / (1 - p))
    t_copy = _median_time(lambda: np.copyto(out, xb))
    print(f"\n2^20 float32 forward, {cydrop.get_num_threads()} thread(s): cydrop "
          f"{t_cy * 1e3:.3f} ms, NumPy reference {t_np * 1e3:.3f} ms "
          f"({t_np / t_cy:.1f}x faster); np.copyto {t_copy * 1e3:.3f} ms "
          f"(cydrop = {t_cy / t_copy:.1f}x a copy)")
    print("\nall agree" if ok else "\nSOME RESULTS DIFFER")
    return 0 if ok else 1


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m cydrop",
        description="cydrop's Dropout side by side with the NumPy tutorial class "
                    "(and torch when installed); 'bench' for the speed table.")
    parser.add_argument("--p", type=float, default=0.45, help="drop probability (0.45)")
    parser.add_argument("--seed", type=int, default=0, help="data and mask seed (0)")
    parser.add_argument("--no-torch", action="store_true", help="leave torch out")
    sub = parser.add_subparsers(dest="command")
    bench = sub.add_parser("bench", help="time cydrop against np.copyto, NumPy and torch "
                                         "(subcommands: limit, family, training)",
                           description="Median times of cydrop's kernels beside np.copyto "
                                       "(the memory floor), the NumPy reference and torch.")
    from . import _bench
    _bench.add_arguments(bench)
    args = parser.parse_args(argv)
    if args.command == "bench":
        return _bench.run(args)
    return demo(args)


if __name__ == "__main__":
    sys.exit(main())
