"""The speed table of ``python -m cydrop bench``: cydrop side by side with what
users would use instead.

For each array size, in one process, the median time of repeated calls of

* the cydrop kernels: fused forward (a fresh mask each call, out of place into
  a preallocated ``out=``), the same in place, masked scaling with a given bool
  mask, the backward pass with a given mask and the recompute backward
  (``seed=``/``offset=``, no stored mask);
* the calls most users write, which allocate their result: ``y =
  cydrop.dropout(x, p)``, with ``mask=``, and ``dropout_backward(grad, mask,
  p)``, beside ``np.copy(x)`` (the allocating copy); the ``out=`` rows above
  and these side by side show what a fresh result costs.  The allocating
  references (the NumPy one-liner, torch) are compared with the allocating
  forward;
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

`run` takes the options `cydrop._bench.cli` parsed; the timing is
`cydrop._bench.timing.time_call` (medians of samples, not paired: the paired
ratios are `cydrop._bench.paired`), the plot `cydrop._bench.plot`.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

import cydrop
from .._optional import import_torch as _import_torch
from .cli import size_name as _size_name
from .timing import MIN_SAMPLE_SECONDS, cpu_model, limit_threads, time_call


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
    Impl("fused_new", "cydrop forward, allocating", "cydrop",
         "y = cydrop.dropout(x, p)",
         lambda w: lambda: cydrop.dropout(w.x, w.p)),
    Impl("masked_new", "cydrop masked, allocating", "cydrop",
         "y = cydrop.dropout(x, p, mask=mask)",
         lambda w: lambda: cydrop.dropout(w.x, w.p, mask=w.mask)),
    Impl("backward_new", "cydrop backward, allocating", "cydrop",
         "dx = cydrop.dropout_backward(grad, mask, p)",
         lambda w: lambda: cydrop.dropout_backward(w.grad, w.mask, w.p)),
    Impl("copy_new", "np.copy (allocates)", "reference",
         "np.copy(x)",
         lambda w: lambda: np.copy(w.x), versus="fused_new"),
    Impl("torch", "torch F.dropout", "reference",
         "torch.nn.functional.dropout(torch.from_numpy(x), p, training=True)",
         lambda w: lambda: w.torch.nn.functional.dropout(w.tx, w.p, training=True),
         versus="fused_new", needs_torch=True),
    Impl("torch_adapter", "cydrop.torch fwd+bwd", "cydrop",
         "xg.grad = None; cydrop.torch.dropout(xg, p).backward(g)",
         _adapter_step, needs_torch=True),
    Impl("torch_autograd", "torch F.dropout fwd+bwd", "reference",
         "xg.grad = None; torch.nn.functional.dropout(xg, p).backward(g)",
         _torch_autograd_step, versus="torch_adapter", needs_torch=True),
    Impl("numpy_ref", "numpy reference", "reference",
         "x * (np.random.rand(*x.shape) > p) / (1 - p)",
         lambda w: lambda: w.x * (np.random.rand(*w.x.shape) > w.p) / (1 - w.p),
         versus="fused_new"),
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



# ---------------------------------------------------------------------------
# Report


def _header(args, torch, pools, command: str) -> list:
    kernels = cydrop._kernels
    simd = getattr(kernels, "get_impl", lambda: "?")()
    openmp = {True: "yes", False: "no"}.get(getattr(kernels, "HAVE_OPENMP", None), "?")
    ncpu = os.cpu_count()
    lines = [
        "cydrop bench",
        f"  date       {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"  command    {command}",
        f"  cpu        {cpu_model()} ({ncpu} logical CPUs)",
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



# ---------------------------------------------------------------------------
# Entry point


def run(args: argparse.Namespace, command: str) -> int:
    """Time the table's rows as ``args`` say (the options of
    `cydrop._bench.cli.add_arguments`) and print the report to stdout, headed
    by ``command`` (the command line that ran it).  Returns the exit status."""
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

    with limit_threads(args.threads, torch) as pools:
        print("\n".join(_header(args, torch, pools, command)), flush=True)
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
        from .plot import write_plot
        write_plot(res, args.plot, args)
        print(f"\nplot written to {args.plot}")
    sys.stdout.flush()
    return 0

