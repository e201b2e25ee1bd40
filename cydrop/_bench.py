"""``python -m cydrop bench``: cydrop side by side with what users would use instead.

For each array size, in one process, the median time of repeated calls of

* the cydrop kernels: fused forward (a fresh mask each call, out of place into
  a preallocated ``out=``), the same in place, masked scaling with a given bool
  mask, the backward pass with a given mask and the recompute backward
  (``seed=``/``offset=``, no stored mask);
* the rest of the family on the same data: channel-wise ``dropout2d`` (the
  array viewed as (N, C, 32, 32)), ``alpha_dropout``, vanilla scaling and
  the forward on a float16 copy (its ratio to the float32 forward);
* the references: the NumPy one-liner ``x * (np.random.rand(*x.shape) > p) /
  (1 - p)``, NumPy ``x * mask * scale`` for a given mask, and
  ``torch.nn.functional.dropout`` on the CPU (when torch is installed);
* the floor: ``np.copyto(buf, x)``, the memory traffic of one read and one
  write of the array;
* the torch adapter (when torch is installed): forward and backward through
  autograd, ``y = cydrop.torch.dropout(xg, p); y.backward(g)`` against the
  same with ``torch.nn.functional.dropout`` (``xg`` a leaf that requires
  grad, its ``.grad`` reset before each call).

Results are printed as a table of times and ratios (docs/design.md, "Performance
contract": ratios measured side by side, never absolute figures alone), and
``--plot FILE.png`` draws elements/s against size.

The limit.  Per size, the run also prints the *limit*: ``max(copy, philox)``,
where ``copy`` is the median of the ``np.copyto`` row and ``philox`` that of
the ``philox words (<path>)`` row of the *active* path
(``cydrop._kernels.get_impl()``, ``CYDROP_SIMD`` to force one), both measured
in the same run.  A kernel that reads the array, writes a result and draws one
Philox word per element can go no faster than the slower of the two.  The
``x limit`` column is a row's time over *its* limit, by one rule: a row that
draws one word per element (forward, in place, recompute, alpha, vanilla)
has the limit ``max(copy, philox)``; a row that draws no stream, or one word
per channel (masked scaling, backward with a mask, dropout2d), has the limit
``copy`` (its ``x limit`` equals its ``x copy``).  The float16 row (half the
bytes of the copy), the forward + backward row (two passes) and the stream
rows themselves have no ``x limit``.  The limit is one thread's: the copy and
the stream rows run on one thread whatever ``--threads``, so with more threads
a kernel can go below it.  The ``philox`` rows write their words to a buffer
of ``4 n`` bytes; past the caches that is memory traffic a fused kernel does
not have (its words stay in an L1 buffer), so there the limit can be set
somewhat high.

Only NumPy is required.  torch, threadpoolctl and matplotlib are imported
lazily and used when present (``pip install cydrop[bench]``).

The command-line front end (``cydrop/__main__.py``) calls `add_arguments` on
its ``bench`` subparser and `run` with the parsed arguments; `main` does both
for use from Python.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import math
import os
import platform
import re
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

import cydrop
from ._optional import import_torch as _import_torch

DEFAULT_SIZES = (2**16, 2**20, 2**22, 2**24)
DEFAULT_REPEAT = 15
DEFAULT_P = 0.45
# One timed sample lasts at least this long: small arrays are timed over a
# loop of calls (as timeit does) so that the clock's resolution does not matter.
MIN_SAMPLE_SECONDS = 2e-4
MAX_NUMBER = 100_000


# ---------------------------------------------------------------------------
# Command line


def parse_size(text: str) -> int:
    """An element count: ``1048576``, ``1_048_576``, ``2**20`` or ``2^20``."""
    s = str(text).strip()
    m = re.fullmatch(r"(\d+)\s*(?:\*\*|\^)\s*(\d+)", s)
    try:
        n = int(m.group(1)) ** int(m.group(2)) if m else int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: give an element count such as 1048576 or 2**20") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: it must be at least 1")
    if m and int(m.group(2)) > 40:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: too large")
    return n


def _probability(text: str) -> float:
    try:
        p = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid p {text!r}: not a number") from None
    if not 0.0 < p < 1.0:
        raise argparse.ArgumentTypeError(f"invalid p {text!r}: the bench needs 0 < p < 1")
    return p


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: it must be at least 1")
    return n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``bench`` options to ``parser``."""
    parser.description = (
        "Time cydrop's kernels side by side with torch.nn.functional.dropout, the "
        "NumPy reference x * (np.random.rand(*x.shape) > p) / (1 - p) and "
        "np.copyto (the memory-traffic floor), in one process, and print the "
        "medians as a table of times and ratios.")
    parser.add_argument(
        "--sizes", nargs="+", type=parse_size, default=list(DEFAULT_SIZES), metavar="N",
        help="array sizes in elements, e.g. 2**20 or 1048576 "
             "(default: 2**16 2**20 2**22 2**24)")
    parser.add_argument(
        "--dtype", choices=("float32", "float64"), default="float32",
        help="element type (default: float32)")
    parser.add_argument(
        "--threads", type=_positive_int, default=1,
        help="threads for cydrop (OpenMP), torch and, through threadpoolctl, "
             "every other thread pool in the process (default: 1)")
    parser.add_argument(
        "--p", type=_probability, default=DEFAULT_P,
        help=f"drop probability, 0 < p < 1 (default: {DEFAULT_P})")
    parser.add_argument(
        "--repeat", type=_positive_int, default=DEFAULT_REPEAT,
        help=f"timed samples per row; the table shows their median (default: {DEFAULT_REPEAT})")
    parser.add_argument(
        "--plot", metavar="FILE.png", default=None,
        help="also write a log-log plot of elements/s against size (needs matplotlib)")


def main(argv=None) -> int:
    """``python -m cydrop bench`` without the front end: parse ``argv`` and run."""
    parser = argparse.ArgumentParser(prog="python -m cydrop bench")
    add_arguments(parser)
    return run(parser.parse_args(argv))


# ---------------------------------------------------------------------------
# What is timed


@dataclass
class Workload:
    """The arrays of one size, made once; every row reads from these."""
    x: np.ndarray
    grad: np.ndarray
    mask: np.ndarray          # bool keep-mask, about 1 - p of it True
    out: np.ndarray           # preallocated result
    words: np.ndarray         # uint32 buffer for the Philox-only rows
    inplace_buf: np.ndarray   # the in-place row works on its own copy of x
    p: float
    scale: float
    seed: int
    x4: np.ndarray = None     # x and out viewed as (N, C, H, W) (`channel_shape`)
    out4: np.ndarray = None
    xh: np.ndarray = None     # x as float16, and a float16 result
    outh: np.ndarray = None
    torch: object = None      # the torch module, or None
    tx: object = None         # torch.from_numpy(x)
    txg: object = None        # a copy of x as a leaf tensor that requires grad
    tgrad: object = None      # torch.from_numpy(grad)
    tx4: object = None        # torch.from_numpy(x4)


def channel_shape(n: int) -> tuple:
    """(N, C, H, W) for ``n`` elements: 32 x 32 feature maps and 256 channels
    where ``n`` allows ((64, 256, 32, 32) at 2**24), else fewer."""
    hw = 1024 if n % 1024 == 0 else 1
    c = 256 if (n // hw) % 256 == 0 else 1
    return (n // (c * hw), c) + ((32, 32) if hw == 1024 else (1, 1))


def make_workload(n: int, dtype, p: float, torch=None) -> Workload:
    rng = np.random.default_rng(20240601 + n)
    x = rng.standard_normal(n, dtype=dtype)
    out = np.zeros_like(x)
    shape4 = channel_shape(n)
    x4 = x.reshape(shape4)
    w = Workload(
        x=x,
        grad=rng.standard_normal(n, dtype=dtype),
        mask=rng.random(n) >= p,
        out=out,
        words=np.zeros(4 * ((n + 3) // 4), dtype=np.uint32),
        inplace_buf=x.copy(),
        p=p,
        scale=1.0 / (1.0 - p),
        seed=0x5EED_CD0F,
        x4=x4,
        out4=out.reshape(shape4),
        xh=x.astype(np.float16),
        outh=np.zeros(n, np.float16),
        torch=torch,
        tx=torch.from_numpy(x) if torch is not None else None,
        tx4=torch.from_numpy(x4) if torch is not None else None,
    )
    if torch is not None:
        w.txg = torch.from_numpy(x.copy()).requires_grad_(True)
        w.tgrad = torch.from_numpy(w.grad)
    return w


def _autograd_step(w: Workload, dropout) -> Callable[[], object]:
    """One forward + backward through autograd: ``dropout(xg, p).backward(g)``
    (the leaf's ``.grad`` reset first, so the backward's result is stored,
    not accumulated)."""
    xg, g, p = w.txg, w.tgrad, w.p

    def step():
        xg.grad = None
        dropout(xg, p).backward(g)
    return step


def _adapter_step(w: Workload) -> Callable[[], object]:
    import cydrop.torch
    return _autograd_step(w, cydrop.torch.dropout)


def _torch_autograd_step(w: Workload) -> Callable[[], object]:
    F = w.torch.nn.functional
    return _autograd_step(w, lambda x, p: F.dropout(x, p, training=True))


@dataclass(frozen=True)
class Impl:
    """One row of the table: a named callable made from a `Workload`."""
    key: str
    label: str
    kind: str                                  # "floor", "cydrop" or "reference"
    code: str                                  # what one timed call runs
    make: Callable[[Workload], Callable[[], object]]
    versus: Optional[str] = None               # a reference's cydrop counterpart
    needs_torch: bool = False
    needs_impl: Optional[str] = None           # a Philox path this CPU must run
    limit: Optional[str] = None                # "stream": max(copy, philox), "copy", or none


def _philox_row(name: str) -> "Impl":
    """The stream alone: n 32-bit words from one SIMD path (no array work)."""
    return Impl(f"philox_{name}", f"philox words ({name})", "cydrop",
                f"cydrop._kernels.fill_blocks(words, 0, seed, {name!r})",
                lambda w: lambda: cydrop._kernels.fill_blocks(w.words, 0, w.seed, name),
                needs_impl=name)


# The in-place row applies dropout to the same buffer again and again: kept
# values grow by 1/(1-p) per call (possibly to inf), dropped ones are written
# as exactly 0.  The kernel does the same work whatever the values, and the
# buffer is in the same (steady) cache state as the other rows' outputs.
IMPLS = (
    Impl("copy", "np.copyto (floor)", "floor",
         "np.copyto(out, x)",
         lambda w: lambda: np.copyto(w.out, w.x)),
    Impl("fused", "cydrop forward", "cydrop",
         "cydrop.dropout(x, p, out=out)",
         lambda w: lambda: cydrop.dropout(w.x, w.p, out=w.out),
         limit="stream"),
    Impl("inplace", "cydrop forward in place", "cydrop",
         "cydrop.dropout(buf, p, inplace=True)",
         lambda w: lambda: cydrop.dropout(w.inplace_buf, w.p, inplace=True),
         limit="stream"),
    Impl("masked", "cydrop masked scaling", "cydrop",
         "cydrop.dropout(x, p, mask=mask, out=out)",
         lambda w: lambda: cydrop.dropout(w.x, w.p, mask=w.mask, out=w.out),
         limit="copy"),
    Impl("backward", "cydrop backward", "cydrop",
         "cydrop.dropout_backward(grad, mask, p, out=out)",
         lambda w: lambda: cydrop.dropout_backward(w.grad, w.mask, w.p, out=w.out),
         limit="copy"),
    Impl("recompute", "cydrop backward recompute", "cydrop",
         "cydrop.dropout_backward(grad, p=p, seed=seed, offset=0, out=out)",
         lambda w: lambda: cydrop.dropout_backward(w.grad, p=w.p, seed=w.seed, offset=0,
                                                   out=w.out),
         limit="stream"),
    Impl("torch", "torch F.dropout", "reference",
         "torch.nn.functional.dropout(torch.from_numpy(x), p, training=True)",
         lambda w: lambda: w.torch.nn.functional.dropout(w.tx, w.p, training=True),
         versus="fused", needs_torch=True),
    Impl("torch_adapter", "cydrop.torch fwd+bwd", "cydrop",
         "xg.grad = None; cydrop.torch.dropout(xg, p).backward(g)",
         _adapter_step, needs_torch=True),
    Impl("torch_autograd", "torch F.dropout fwd+bwd", "reference",
         "xg.grad = None; torch.nn.functional.dropout(xg, p).backward(g)",
         _torch_autograd_step, versus="torch_adapter", needs_torch=True),
    Impl("numpy_ref", "numpy reference", "reference",
         "x * (np.random.rand(*x.shape) > p) / (1 - p)",
         lambda w: lambda: w.x * (np.random.rand(*w.x.shape) > w.p) / (1 - w.p),
         versus="fused"),
    Impl("numpy_masked", "numpy x*mask*scale", "reference",
         "x * mask * scale",
         lambda w: lambda: w.x * w.mask * w.scale,
         versus="masked"),
    Impl("channel2d", "cydrop dropout2d", "cydrop",
         "cydrop.dropout2d(x4, p, out=out4)   # x4 = x.reshape(N, C, 32, 32)",
         lambda w: lambda: cydrop.dropout2d(w.x4, w.p, out=w.out4),
         limit="copy"),
    Impl("torch_channel2d", "torch F.dropout2d", "reference",
         "torch.nn.functional.dropout2d(torch.from_numpy(x4), p, training=True)",
         lambda w: lambda: w.torch.nn.functional.dropout2d(w.tx4, w.p, training=True),
         versus="channel2d", needs_torch=True),
    Impl("alpha", "cydrop alpha_dropout", "cydrop",
         "cydrop.alpha_dropout(x, p, True, out=out)",
         lambda w: lambda: cydrop.alpha_dropout(w.x, w.p, True, out=w.out),
         limit="stream"),
    Impl("torch_alpha", "torch F.alpha_dropout", "reference",
         "torch.nn.functional.alpha_dropout(torch.from_numpy(x), p, training=True)",
         lambda w: lambda: w.torch.nn.functional.alpha_dropout(w.tx, w.p, training=True),
         versus="alpha", needs_torch=True),
    Impl("vanilla", "cydrop forward vanilla", "cydrop",
         "cydrop.dropout(x, p, out=out, scaling='vanilla')",
         lambda w: lambda: cydrop.dropout(w.x, w.p, out=w.out, scaling="vanilla"),
         limit="stream"),
    Impl("half", "cydrop forward float16", "cydrop",
         "cydrop.dropout(xh, p, out=outh)   # xh = x.astype(np.float16)",
         lambda w: lambda: cydrop.dropout(w.xh, w.p, out=w.outh), versus="fused"),
) + tuple(_philox_row(name) for name in cydrop._kernels.IMPLS)
_BY_KEY = {impl.key: impl for impl in IMPLS}


def _runs_here(impl: "Impl", torch) -> bool:
    if impl.needs_torch and torch is None:
        return False
    return impl.needs_impl is None or cydrop._kernels.impl_supported(impl.needs_impl)


def _rows(torch) -> list:
    """The rows a run times, in order; the active path's stream row always
    (the limit needs it)."""
    active = f"philox_{cydrop._kernels.get_impl()}"
    return [impl for impl in IMPLS if _runs_here(impl, torch) or impl.key == active]


def time_call(fn: Callable[[], object], repeat: int) -> list:
    """Seconds per call of ``fn`` in each of ``repeat`` samples.

    One warm-up call first (page faults, lazy initialisation), then one timed
    call that sets how many calls make a sample (at least
    `MIN_SAMPLE_SECONDS`, as timeit's autorange does).
    """
    clock = time.perf_counter
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        fn()
        t0 = clock()
        fn()
        first = clock() - t0
        number = min(MAX_NUMBER, max(1, math.ceil(MIN_SAMPLE_SECONDS / max(first, 1e-9))))
        loop = range(number)
        samples = []
        for _ in range(repeat):
            t0 = clock()
            for _ in loop:
                fn()
            samples.append((clock() - t0) / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


# ---------------------------------------------------------------------------
# Environment


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _command_line(args: argparse.Namespace) -> str:
    """The command as typed when run as ``python -m cydrop ...``; otherwise
    (from Python, e.g. `main`) the equivalent command line."""
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) == "__main__.py" and \
            os.path.basename(os.path.dirname(os.path.abspath(argv0))) == "cydrop":
        return shlex.join(["python", "-m", "cydrop", *sys.argv[1:]])
    parts = ["python", "-m", "cydrop", "bench", "--sizes", *map(_size_name, args.sizes),
             "--dtype", args.dtype, "--threads", str(args.threads), "--p", repr(args.p),
             "--repeat", str(args.repeat)]
    if args.plot:
        parts += ["--plot", args.plot]
    return shlex.join(parts) + "   (equivalent)"


@contextlib.contextmanager
def _limit_threads(n: int, torch):
    """cydrop, torch and (with threadpoolctl) every BLAS/OpenMP pool in the
    process on ``n`` threads; restored afterwards.  Yields a description."""
    pools = "threadpoolctl not installed: only cydrop and torch limited"
    with contextlib.ExitStack() as stack:
        # read before threadpoolctl lowers OpenMP's limit, restored after it
        # has raised it back
        stack.callback(cydrop.set_num_threads, cydrop.get_num_threads())
        try:
            from threadpoolctl import threadpool_info, threadpool_limits
        except ImportError:
            threadpool_info = None
        else:
            stack.enter_context(threadpool_limits(limits=n))
        cydrop.set_num_threads(n)
        if torch is not None:
            stack.callback(torch.set_num_threads, torch.get_num_threads())
            torch.set_num_threads(n)
        if threadpool_info is not None:
            pools = ", ".join(f"{i['prefix']} ({i['internal_api']}) {i['num_threads']}"
                              for i in threadpool_info()) or "none found"
        yield pools


def _header(args, torch, pools) -> list:
    kernels = cydrop._kernels
    simd = getattr(kernels, "get_impl", lambda: "?")()
    openmp = {True: "yes", False: "no"}.get(getattr(kernels, "HAVE_OPENMP", None), "?")
    ncpu = os.cpu_count()
    lines = [
        "cydrop bench",
        f"  date       {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"  command    {_command_line(args)}",
        f"  cpu        {_cpu_model()} ({ncpu} logical CPUs)",
        f"  python     {platform.python_version()}   numpy {np.__version__}   "
        f"torch {torch.__version__ if torch is not None else 'not installed (row skipped)'}",
        f"  cydrop     {cydrop.__version__}   philox: {simd}   openmp: {openmp}   "
        f"float16: {getattr(kernels, 'half_impl', lambda: '?')()}   "
        f"build: {getattr(kernels, 'BUILD_FLAGS', '?')}",
        f"  threads    {cydrop.get_num_threads()} (cydrop)"
        + (f", {torch.get_num_threads()} (torch)" if torch is not None else "")
        + f"; pools: {pools}",
        f"  dtype      {args.dtype}   p = {args.p}   median of {args.repeat} samples, "
        f"each >= {MIN_SAMPLE_SECONDS * 1e6:.0f} us of calls after a warm-up call",
    ]
    if ncpu and args.threads > ncpu:
        lines.append(f"  WARNING    {args.threads} threads on {ncpu} logical CPUs")
    lines.append("  rows (one timed call; x, grad, mask, out, buf preallocated):")
    width = max(len(impl.label) for impl in IMPLS)
    for impl in _rows(torch):
        lines.append(f"    {impl.label:<{width}}  {impl.code}")
    return lines


# ---------------------------------------------------------------------------
# Report


def _size_name(n: int) -> str:
    if n & (n - 1) == 0:
        return f"2**{n.bit_length() - 1}"
    return str(n)


def _size_tex(n: int) -> str:
    return f"$2^{{{n.bit_length() - 1}}}$" if n & (n - 1) == 0 else f"{n:,}"


def _rate_name(v: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= div:
            return f"{v / div:g} {unit}/s"
    return f"{v:g} /s"


def _format_time(seconds: float) -> str:
    us = seconds * 1e6
    if us < 10:
        return f"{us:.2f} us"
    if us < 1000:
        return f"{us:.1f} us"
    if us < 1e5:
        return f"{us / 1000:.2f} ms"
    if us < 1e6:
        return f"{us / 1000:.1f} ms"
    return f"{us / 1e6:.3f} s"


def _slower(ratio: float) -> str:
    return f"{ratio:.1f}x slower" if ratio >= 1 else f"{1 / ratio:.1f}x faster"


@dataclass
class Results:
    sizes: list
    impls: list                                   # the rows that ran, in order
    seconds: dict = field(default_factory=dict)   # (size, key) -> median seconds
    spread: dict = field(default_factory=dict)    # (size, key) -> (max - min) / median
    path: str = "scalar"                          # the active Philox path
    threads: int = 1

    def limit(self, n: int, kind: str = "stream") -> float:
        """The limit at size ``n``: ``max(copy, philox words on the active
        path)`` for ``kind`` "stream", the copy for "copy" (module docstring)."""
        copy = self.seconds[n, "copy"]
        if kind == "copy":
            return copy
        return max(copy, self.seconds[n, f"philox_{self.path}"])

    def binds(self, n: int) -> str:
        """Which of the two sets the stream limit at size ``n``."""
        philox = self.seconds[n, f"philox_{self.path}"]
        return "philox" if philox > self.seconds[n, "copy"] else "copy"


def _limit_label(path: str) -> str:
    return f"max(copy, philox {path})"


def _table(res: Results) -> list:
    head = ("size", "implementation", "median", "spread", "ns/elem", "x copy", "x limit",
            "ref / cydrop")
    rows = []
    for n in res.sizes:
        copy = res.seconds[n, "copy"]
        for impl in res.impls:
            t = res.seconds[n, impl.key]
            vs = ""
            if impl.versus is not None:
                vs = f"{t / res.seconds[n, impl.versus]:.1f}x ({_BY_KEY[impl.versus].label})"
            vl = f"{t / res.limit(n, impl.limit):.2f}x" if impl.limit else ""
            rows.append((_size_name(n), impl.label, _format_time(t),
                         f"{res.spread[n, impl.key]:.0%}", f"{t / n * 1e9:.3f}",
                         f"{t / copy:.2f}x", vl, vs))
        rows.append(None)
    rows.pop()
    widths = [max(len(head[i]), *(len(r[i]) for r in rows if r)) for i in range(len(head))]
    right = (False, False, True, True, True, True, True, False)

    def fmt(r):
        cells = [c.rjust(w) if rj else c.ljust(w) for c, w, rj in zip(r, widths, right)]
        return "  ".join(cells).rstrip()

    rule = "-" * len(fmt(tuple("x" * w for w in widths)))
    out = [fmt(head), rule]
    for r in rows:
        out.append(fmt(r) if r else "")
    out.append(rule)
    out.append("spread: (slowest - fastest sample) / median; large spreads mean a busy "
               "machine.")
    out.append("x copy: time / np.copyto time (the floor).  ref / cydrop: a reference's "
               "time / its cydrop counterpart's (>1: cydrop is faster); on the float16 "
               "row, its time / the float32 forward's.")
    stream = ", ".join(i.label for i in res.impls if i.limit == "stream")
    copy_rows = ", ".join(i.label for i in res.impls if i.limit == "copy")
    out.append(f"x limit: time / the row's limit (below): {_limit_label(res.path)} for "
               f"the rows that draw one Philox word per element")
    out.append(f"  ({stream});")
    out.append(f"  the copy for the rows that draw none or one per channel ({copy_rows}).")
    return out


def _limit_block(res: Results) -> list:
    """Per size: the copy, the stream alone on the active path, and the limit
    (the slower of the two) with which one binds."""
    philox = _BY_KEY[f"philox_{res.path}"].label
    head = ("size", "np.copyto", philox, "limit", "binds")
    rows = [(_size_name(n), _format_time(res.seconds[n, "copy"]),
             _format_time(res.seconds[n, f"philox_{res.path}"]),
             _format_time(res.limit(n)), res.binds(n)) for n in res.sizes]
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]
    right = (False, True, True, True, False)

    def fmt(r):
        return "  ".join(c.rjust(w) if rj else c.ljust(w)
                         for c, w, rj in zip(r, widths, right)).rstrip()

    out = [f"limit = {_limit_label(res.path)}: the medians above of np.copyto and of "
           f"the Philox words alone on the active path ({res.path}), this run"]
    out += ["  " + fmt(head)] + ["  " + fmt(r) for r in rows]
    if res.threads > 1:
        out.append(f"  (one thread's limit: np.copyto and the stream rows run on one thread; "
                   f"with --threads {res.threads} a kernel can go below it)")
    return out


def _summary(res: Results) -> list:
    lines = []
    width = max(len(_size_name(n)) for n in res.sizes)
    for n in res.sizes:
        t = lambda key: res.seconds[n, key]  # noqa: E731
        fused = t("fused")
        torch_part = (_slower(t("torch") / fused) if (n, "torch") in res.seconds
                      else "not installed")
        line = (f"{_size_name(n):>{width}}: fused forward = {fused / t('copy'):.1f}x copy, "
                f"{fused / res.limit(n):.2f}x limit ({res.binds(n)} binds); "
                f"torch = {torch_part}; numpy ref = {_slower(t('numpy_ref') / fused)}")
        if (n, "torch_autograd") in res.seconds:
            line += (f"; cydrop.torch fwd+bwd: torch's is "
                     f"{_slower(t('torch_autograd') / t('torch_adapter'))}")
        lines.append(line)
    return lines


_STYLE = {  # kind -> (line style, line width)
    "floor": (":", 2.0),
    "cydrop": ("-", 2.0),
    "reference": ("--", 1.6),
}
_COLORS = {
    "copy": "black",
    "fused": "#1f4e9c", "inplace": "#4a90d9", "masked": "#2a9d8f",
    "backward": "#7cc47c", "recompute": "#6a4c93",
    "torch": "#d62728", "numpy_ref": "#ff7f0e", "numpy_masked": "#c9a227",
    "channel2d": "#17becf", "torch_channel2d": "#e377c2", "alpha": "#8c564b",
    "torch_alpha": "#bcbd22", "vanilla": "#9467bd", "half": "#7f7f7f",
    "torch_adapter": "#00a6a6", "torch_autograd": "#a0522d",
}


def write_plot(res: Results, path: str, args: argparse.Namespace) -> None:
    """Elements/s against size, log-log, one labelled line per row, and the
    limit ``max(copy, philox <active path>)`` as a dashed black line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

    fig = Figure(figsize=(10, 6), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    biggest = max(res.sizes)
    copy = res.seconds[biggest, "copy"]
    # (time at the largest size, rates, style, color, label, draw order)
    lines = []
    for impl in res.impls:
        ls, lw = _STYLE[impl.kind]
        t = res.seconds[biggest, impl.key]
        lines.append((t, [n / res.seconds[n, impl.key] for n in res.sizes], ls, lw,
                      _COLORS.get(impl.key), f"{impl.label}  ({t / copy:.1f}x copy)", 2))
    t = res.limit(biggest)
    # on top of the row it equals (the copy's or the stream's), dashed
    lines.append((t, [n / res.limit(n) for n in res.sizes], "--", 2.4, "black",
                  f"limit {_limit_label(res.path)}  ({t / copy:.1f}x copy)", 3))
    # Legend in the order of the lines at the largest size, fastest on top.
    for t, rate, ls, lw, color, label, z in sorted(lines, key=lambda line: line[0]):
        ax.plot(res.sizes, rate, ls, lw=lw, marker="o" if z == 2 else None, ms=5,
                color=color, label=label, zorder=z)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(FixedLocator(res.sizes))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([_size_tex(n) for n in res.sizes])
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _rate_name(v)))
    ax.yaxis.set_minor_locator(NullLocator())
    if len(res.sizes) == 1:
        ax.set_xlim(res.sizes[0] / 2, res.sizes[0] * 2)
    ax.set_xlabel("array size (elements)")
    ax.set_ylabel("elements per second (higher is better)")
    ax.grid(True, which="major", alpha=0.4)
    threads = f"{args.threads} thread" + ("s" if args.threads != 1 else "")
    fig.suptitle(f"cydrop bench: {args.dtype}, {threads}, p = {args.p}", fontsize=14)
    ax.set_title(f"{_cpu_model()} · numpy {np.__version__} · cydrop {cydrop.__version__} · "
                 f"{datetime.date.today().isoformat()} · legend: time / np.copyto at {_size_tex(biggest)}",
                 fontsize=9, color="0.3")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False,
              title="fastest first", fontsize=9)
    fig.savefig(path)


# ---------------------------------------------------------------------------
# Entry point


def run(args: argparse.Namespace) -> int:
    """Run the benchmark described by ``args`` (see `add_arguments`); print the
    report to stdout.  Returns the exit status."""
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("cydrop bench: --plot needs matplotlib (pip install 'cydrop[bench]')",
                  file=sys.stderr)
            return 2
    torch = _import_torch()
    dtype = np.dtype(args.dtype)
    sizes = sorted(set(args.sizes))
    res = Results(sizes=sizes, impls=_rows(torch), path=cydrop._kernels.get_impl(),
                  threads=args.threads)

    with _limit_threads(args.threads, torch) as pools:
        print("\n".join(_header(args, torch, pools)), flush=True)
        print(flush=True)
        for n in sizes:
            w = make_workload(n, dtype, args.p, torch)
            for impl in res.impls:
                samples = time_call(impl.make(w), args.repeat)
                median = statistics.median(samples)
                res.seconds[n, impl.key] = median
                res.spread[n, impl.key] = (max(samples) - min(samples)) / median
            del w

    print("\n".join(_table(res)))
    print()
    print("\n".join(_limit_block(res)))
    print()
    print("\n".join(_summary(res)))
    if args.plot:
        write_plot(res, args.plot, args)
        print(f"\nplot written to {args.plot}")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
