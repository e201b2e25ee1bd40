"""Threads, in the spirit of pandas' ``asv_bench/benchmarks/gil.py``:

- `OpenMPThreads`: one call, the kernels' OpenMP team at 1 vs 2 threads
  (``cydrop.set_num_threads``), beside ``np.copyto`` (always one thread);
- `TorchThreads`: torch's CPU dropout at the same thread counts;
- `PythonThreads`: the GIL is released in the kernels, so N Python threads
  each dropping out their own array (kernels serial) take about as long as one
  thread doing one array, while the serial loop takes N times as long;
- `BusyMachine`: the default thread count against one thread while
  ``burners`` CPU-bound processes run beside (started in ``setup``, stopped
  in ``teardown``, as pandas' ``gil.py`` starts its threads): the ratio must
  stay near or below 1 on a busy machine (docs/design.md, "Threads on a busy
  machine").
"""
import random
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import cydrop

from .common import STREAM_SEED, buffer, data, fresh_copy, import_torch

DTYPE = "float32"
P = 0.5


class OpenMPThreads:
    params = [[1, 2], [2**20, 2**24]]
    param_names = ["threads", "size"]

    def setup(self, threads, size):
        self.saved_threads = cydrop.get_num_threads()
        cydrop.set_num_threads(threads)
        self.x = data(DTYPE, size)
        self.grad = data(DTYPE, size, 1)
        self.out = buffer(DTYPE, size)

    def teardown(self, threads, size):
        cydrop.set_num_threads(self.saved_threads)

    def time_dropout_out(self, threads, size):
        cydrop.dropout(self.x, P, out=self.out)

    def time_backward_recompute(self, threads, size):
        cydrop.dropout_backward(self.grad, p=P, seed=STREAM_SEED, out=self.out)

    def time_copyto(self, threads, size):
        np.copyto(self.out, self.x)


class TorchThreads:
    """Peer of `OpenMPThreads`; skipped where torch is not importable."""
    params = [[1, 2], [2**24]]
    param_names = ["threads", "size"]

    def setup(self, threads, size):
        torch = import_torch()
        torch.set_num_threads(threads)
        self.F = torch.nn.functional
        self.t = torch.from_numpy(fresh_copy(DTYPE, size))

    def time_torch_dropout(self, threads, size):
        self.F.dropout(self.t, P, training=True)


def _serial_kernels():
    # Runs in each worker thread: OpenMP's thread count is per thread.
    cydrop.set_num_threads(1)


class PythonThreads:
    """``threads`` arrays of 2**20 float32, each dropped out by its own Python
    thread (`time_parallel`) or one after the other (`time_serial`)."""
    params = [[1, 2]]
    param_names = ["threads"]
    size = 2**20

    def setup(self, threads):
        self.saved_threads = cydrop.get_num_threads()
        cydrop.set_num_threads(1)
        self.xs = [data(DTYPE, self.size, i) for i in range(threads)]
        self.outs = [buffer(DTYPE, self.size, i) for i in range(threads)]
        self.pool = ThreadPoolExecutor(threads, initializer=_serial_kernels)
        # start every worker now, not in the timed call
        barrier = threading.Barrier(threads)
        list(self.pool.map(lambda _: barrier.wait(), range(threads)))

    def teardown(self, threads):
        self.pool.shutdown()
        cydrop.set_num_threads(self.saved_threads)

    def _one(self, i):
        cydrop.dropout(self.xs[i], P, out=self.outs[i])

    def time_parallel(self, threads):
        list(self.pool.map(self._one, range(threads)))

    def time_serial(self, threads):
        for i in range(threads):
            self._one(i)


# A CPU-bound process: a pure-Python spin until its stdin closes (teardown,
# or this process ending), after saying it runs.
_BURN = ("import sys, threading, os\n"
         "threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()\n"
         "print('burning', flush=True)\n"
         "x = 0\n"
         "while True:\n"
         "    x = (x + 1) & 0xFFFF\n")


def start_burners(count):
    """``count`` burner processes, running when this returns."""
    procs = [subprocess.Popen([sys.executable, "-c", _BURN], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for _ in range(count)]
    for proc in procs:
        if proc.stdout.readline().strip() != "burning":
            stop_burners(procs)
            raise RuntimeError("a burner process did not start")
    time.sleep(0.1)
    return procs


def stop_burners(procs):
    for proc in procs:
        proc.stdin.close()
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


class BusyMachine:
    """The fused forward into ``out=`` (float32) with cydrop's default thread
    count against one thread, while ``burners`` CPU-bound processes run
    beside it.  `ratio_default_to_one_thread`: one ratio per interleaved pair
    of single calls (asv keeps their median); `track_p90_ratio`: the 90th
    percentile of the default calls over that of the one-thread calls, from
    41 interleaved pairs (a team that waits for a descheduled thread shows
    there first).  Below 1: the threads help; the target is at most 1.2 with
    burners (and well below 1 without, on an idle machine)."""
    params = [[0, 1, 2], [2**18, 2**20, 2**24]]
    param_names = ["burners", "size"]
    unit = "ratio"
    rounds = 2
    repeat = (21, 41, 3.0)
    number = 1               # single calls: their spread is what is measured
    min_of = 1
    warmup_time = 0.05
    timeout = 120
    pairs = 41

    def setup(self, burners, size):
        self.default_threads = cydrop.get_num_threads()
        self.burners = []       # teardown runs even when setup fails
        self.x = data(DTYPE, size)
        self.out = buffer(DTYPE, size)
        self.burners = start_burners(burners)

    def teardown(self, burners, size):
        stop_burners(self.burners)
        cydrop.set_num_threads(self.default_threads)

    def _calls(self):
        x, out, n = self.x, self.out, self.default_threads

        def default():
            cydrop.set_num_threads(n)
            cydrop.dropout(x, P, seed=STREAM_SEED, out=out)

        def one():
            cydrop.set_num_threads(1)
            cydrop.dropout(x, P, seed=STREAM_SEED, out=out)
        return default, one

    def ratio_default_to_one_thread(self, burners, size):
        return self._calls()

    def track_p90_ratio(self, burners, size):
        default, one = self._calls()
        times = {default: [], one: []}
        clock = time.perf_counter
        for fn in (default, one):
            fn()
        order = random.Random(self.pairs)
        for _ in range(self.pairs):
            # which goes first is drawn per pair: on a loaded machine the
            # preemptions can fall in step with a fixed pattern of calls
            for fn in ((default, one) if order.random() < 0.5 else (one, default)):
                t0 = clock()
                fn()
                times[fn].append(clock() - t0)
        return float(np.percentile(times[default], 90) / np.percentile(times[one], 90))
