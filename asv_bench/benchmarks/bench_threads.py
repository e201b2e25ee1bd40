"""Threads, in the spirit of pandas' ``asv_bench/benchmarks/gil.py``:

- `OpenMPThreads`: one call, the kernels' OpenMP team at 1 vs 2 threads
  (``cydrop.set_num_threads``), beside ``np.copyto`` (always one thread);
- `TorchThreads`: torch's CPU dropout at the same thread counts;
- `PythonThreads`: the GIL is released in the kernels, so N Python threads
  each dropping out their own array (kernels serial) take about as long as one
  thread doing one array, while the serial loop takes N times as long.
"""
import threading
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
