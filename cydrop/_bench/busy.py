"""``python -m cydrop bench busy``: the default thread count on a machine
that is not idle.

Shared hardware rarely has its cores to itself: a notebook kernel, a data
loader or a second job keeps some of them busy.  This starts 0, 1, ... CPU
bound *burner* processes (each spins a pure-Python loop until stopped), and
under each load times the fused forward into ``out=`` (float32) at several
sizes with the default thread count and with one thread, the two calls
interleaved (in pairs, which one first drawn at random per pair) so that
both see the same load.  It prints the median and the 90th percentile of
each, the ratios default / 1 thread (above 1 the threads cost time instead
of saving it; docs/design.md, "Threads on a busy machine", states the
policy and the target), and for each the fraction of calls *stalled*
(slower than twice the one-thread median).  Where the machine is loaded
beyond the burners, the 90th percentile sits near the stall fraction of any
call and flips between runs; the stall fractions side by side say whether
the threads add stalls.

Every call is timed alone (one call per sample, not a loop): the
percentiles are those of single calls, which is what a waiting thread
team spoils.
"""
from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import subprocess
import sys
import time

import numpy as np

import cydrop
from cydrop import _kernels

from .timing import cpu_model

DEFAULT_SIZES = (2**18, 2**20, 2**22, 2**24)
DEFAULT_BURNERS = (0, 1, 2)
P = 0.45

# the burner: a pure-Python spin, until its stdin closes (the parent exits or
# stops it); it says it runs before spinning
BURN = ("import sys, threading, os\n"
        "threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()\n"
        "print('burning', flush=True)\n"
        "x = 0\n"
        "while True:\n"
        "    x = (x + 1) & 0xFFFF\n")


class Burners:
    """``count`` CPU-bound processes, spinning from ``__enter__`` until
    ``__exit__`` (or until this process dies: they exit when their stdin
    closes)."""

    def __init__(self, count: int):
        self.count = count
        self.procs: list = []

    def __enter__(self) -> "Burners":
        for _ in range(self.count):
            p = subprocess.Popen([sys.executable, "-c", BURN], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
            self.procs.append(p)
        for p in self.procs:
            if p.stdout.readline().strip() != "burning":
                raise RuntimeError("a burner process did not start")
        time.sleep(0.2)        # let the scheduler settle with them running
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            p.stdin.close()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            p.stdout.close()
        self.procs = []


def percentile(values: list, q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, linear between ranks
    (numpy's default)."""
    return float(np.percentile(np.asarray(values, dtype=float), q))


def stalled(times: list, reference: float) -> float:
    """The fraction of ``times`` above twice ``reference`` (the one-thread
    median): calls that lost the CPU for a while, or waited for a thread
    that had."""
    return sum(t > 2 * reference for t in times) / len(times)


def time_pairs(fn, set_default, set_one, calls: int) -> tuple:
    """``calls`` interleaved pairs of single calls of ``fn``, with the
    default thread count and with one, in an order drawn per pair (seeded:
    the same each run); seconds per call of each."""
    clock = time.perf_counter
    default, one = [], []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for setting in (set_default, set_one):        # warm both
            setting()
            fn()
        pair = ((set_default, default), (set_one, one))
        order = random.Random(calls)
        for _ in range(calls):
            # which goes first is drawn per pair: on a loaded machine the
            # preemptions can fall in step with a fixed pattern of calls (an
            # A/A run of two identical one-thread calls, in fixed or
            # alternating order, gave one of them a p90 of 3.5-4.4 ms and
            # the other 0.45 ms)
            for setting, acc in (pair if order.random() < 0.5 else pair[::-1]):
                setting()
                t0 = clock()
                fn()
                acc.append(clock() - t0)
    finally:
        if gc_was:
            gc.enable()
    return default, one


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def add_arguments(sub) -> None:
    """The ``busy`` subcommand on the ``bench`` subparsers ``sub``."""
    from .cli import int_at_least, parse_size, _positive_int

    count = int_at_least(0)
    busy = sub.add_parser(
        "busy", help="default threads against one thread with CPU-bound processes beside",
        description="Start 0, 1, ... CPU-bound burner processes and, under each load, "
                    "time the fused forward into out= (float32) with the default thread "
                    "count and with one thread, interleaved single calls: medians, 90th "
                    "percentiles and the ratios default / 1 thread.")
    busy.add_argument("--sizes", nargs="+", type=parse_size, default=list(DEFAULT_SIZES),
                      metavar="N", help="array sizes in elements "
                                        "(default: 2**18 2**20 2**22 2**24)")
    busy.add_argument("--burners", nargs="+", type=count, default=list(DEFAULT_BURNERS),
                      metavar="K", help="numbers of burner processes, one load each "
                                        "(default: 0 1 2)")
    busy.add_argument("--calls", type=_positive_int, default=41,
                      help="interleaved pairs of calls per size and load (default: 41)")
    busy.add_argument("--threads", type=_positive_int, default=None,
                      help="the thread count to compare with one thread (default: "
                           "cydrop's default, OpenMP's limit)")


def run_busy(args: argparse.Namespace, command: str) -> int:
    """``python -m cydrop bench busy``: see the module docstring."""
    saved = _kernels.requested_threads()

    def set_default():
        if args.threads is None:
            _kernels.reset_num_threads()
        else:
            _kernels.set_num_threads(args.threads)

    def set_one():
        _kernels.set_num_threads(1)

    set_default()
    default_n = cydrop.get_num_threads()
    print(f"cydrop bench busy | command: {command}")
    print(f"cpu: {cpu_model()} | usable cpus: {_kernels.usable_cpus()} | philox: "
          f"{_kernels.get_impl()} | default threads: {default_n} | float32 fused forward "
          f"into out=, p = {P} | {args.calls} interleaved pairs of single calls", flush=True)
    rng = np.random.default_rng(0)
    data = {}
    for n in args.sizes:
        x = rng.standard_normal(n, dtype=np.float32)
        out = np.empty_like(x)
        out[...] = 0            # touch it: no first-write page faults in the timing
        data[n] = (x, out)
    try:
        for k in args.burners:
            with Burners(k):
                print(f"\n{k} burner process{'es' if k != 1 else ''} | load average {_load()}")
                print(f"{'size':>7}  {'default med':>11} {'p90':>8}  {'1 thread med':>12} "
                      f"{'p90':>8}  {'ratio med':>9} {'p90':>6}  {'stalled':>9}")
                for n in args.sizes:
                    x, out = data[n]
                    d, o = time_pairs(lambda: cydrop.dropout(x, P, seed=1, out=out),
                                      set_default, set_one, args.calls)
                    dm, dp = statistics.median(d), percentile(d, 90)
                    om, op = statistics.median(o), percentile(o, 90)
                    ds, os_ = stalled(d, om), stalled(o, om)
                    print(f"{'2**%d' % (n.bit_length() - 1) if n & (n - 1) == 0 else n:>7}  "
                          f"{dm * 1e3:8.3f} ms {dp * 1e3:8.3f}  {om * 1e3:9.3f} ms "
                          f"{op * 1e3:8.3f}  {dm / om:8.2f}x {dp / op:5.2f}x  "
                          f"{ds:4.0%} {os_:4.0%}", flush=True)
    finally:
        if saved:
            _kernels.set_num_threads(saved)
        else:
            _kernels.reset_num_threads()
    return 0
