"""The timing core of ``python -m cydrop bench``: the one home of how cydrop
times a call on the user's machine, and of what a report says about the
machine.

Two ways of timing, one for each question:

* `time_call`: seconds per call in ``repeat`` samples of one callable (a
  warm-up call, then a loop long enough for the clock, as timeit's
  autorange).  The speed table (`cydrop._bench.table`) and the demo
  (``python -m cydrop``) take medians of these.
* `paired_rounds`: every case of a set timed back to back in each round
  (the best of a few calls each), so that a ratio formed *within* a round
  compares two kernels under the same machine load; `ratios` forms them and
  `median_range` prints the median of the per-round ratios with their range.
  The paired measurements (`cydrop._bench.paired`: ``bench limit``,
  ``bench family``) use these.

The asv suite has its own instrument, the ``ratio`` benchmark type of
``asv_bench/asv_bench_cydrop`` (interleaved pairs, one ratio per pair as asv
samples): asv measures many commits with the instrument of the checkout it
runs from, so that instrument cannot be imported from the cydrop under test
(docs/design.md, "Benchmarks: where they live").

Only the standard library here; `limit_threads` uses threadpoolctl when
installed.
"""
from __future__ import annotations

import contextlib
import gc
import math
import platform
import statistics
import time
from typing import Callable, Iterable, Optional

import cydrop

# One timed sample lasts at least this long: small arrays are timed over a
# loop of calls (as timeit does) so that the clock's resolution does not matter.
MIN_SAMPLE_SECONDS = 2e-4
MAX_NUMBER = 100_000


def time_call(fn: Callable[[], object], repeat: int) -> list:
    """Seconds per call of ``fn`` in each of ``repeat`` samples.

    One warm-up call first (page faults, lazy initialisation), then one timed
    call that sets how many calls make a sample (at least
    `MIN_SAMPLE_SECONDS`, as timeit's autorange does).  The garbage collector
    is off while it times.
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


def best(fn: Callable[[], object], calls: int) -> float:
    """The fastest of ``calls`` calls of ``fn``, in seconds."""
    clock = time.perf_counter
    fastest = float("inf")
    for _ in range(calls):
        t0 = clock()
        fn()
        fastest = min(fastest, clock() - t0)
    return fastest


# A case of a paired round: (name, callable, calls), or with a fourth item, a
# context-manager factory entered around the timing (e.g. another thread
# count) and left before the next case.
Case = tuple


def paired_rounds(cases: Callable[[int], Iterable[Case]], rounds: int) -> dict:
    """``{name: [seconds in round 0, round 1, ...]}``.

    In each round ``r``, every case of ``cases(r)`` is timed back to back, as
    the best of its ``calls`` calls (`best`); the cases of a round may
    differ (a case only some rounds have is missing from the others, and
    `ratios` needs both of its names in the same rounds).
    """
    times: dict = {}
    for r in range(rounds):
        for case in cases(r):
            name, fn, calls = case[:3]
            around = case[3] if len(case) > 3 else None
            with (around() if around is not None else contextlib.nullcontext()):
                times.setdefault(name, []).append(best(fn, calls))
    return times


def ratios(times: dict, num: str, den) -> list:
    """Per round, ``times[num] / den``: ``den`` a name of ``times`` or a list
    of per-round seconds (e.g. the limit, `round_max`)."""
    dens = times[den] if isinstance(den, str) else den
    return [a / b for a, b in zip(times[num], dens)]


def round_max(times: dict, *names: str) -> list:
    """Per round, the largest of the named cases' times (the limit
    ``max(copy, philox)`` of one round)."""
    return [max(ts) for ts in zip(*(times[n] for n in names))]


def median_range(values: list) -> str:
    """``" 1.23x  (min 1.10, max 1.40)"``: the median of per-round ratios
    and their range."""
    return (f"{statistics.median(values):5.2f}x  "
            f"(min {min(values):.2f}, max {max(values):.2f})")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


@contextlib.contextmanager
def limit_threads(n: int, torch: Optional[object] = None):
    """cydrop, torch and (with threadpoolctl) every BLAS/OpenMP pool in the
    process on ``n`` threads; restored afterwards.  Yields a description of
    the pools."""
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


@contextlib.contextmanager
def cydrop_threads(n: int):
    """cydrop's kernels on ``n`` threads inside the block (only cydrop's)."""
    saved = cydrop.get_num_threads()
    cydrop.set_num_threads(n)
    try:
        yield
    finally:
        cydrop.set_num_threads(saved)
