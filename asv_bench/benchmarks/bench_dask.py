"""``cydrop.dask`` against ``cydrop.dropout`` in memory, as ``ratio``
benchmarks: the figures of the Dask table of docs/guide/performance.md.  2**26 float32
elements (8192 x 8192), p = 0.5, Dask's threaded scheduler with 2 workers and
cydrop's kernels on 2 threads, in memory and in the blocks alike.  Skipped
where Dask is not importable (the environments asv builds per commit do not
install it: these run under ``--python=same``)."""
import importlib

import numpy as np

import cydrop

from .common import STREAM_SEED, SkipNotImplemented, buffer, data

P = 0.5
SHAPE = (8192, 8192)
CHUNKS = {"512x8192": (512, 8192), "2048x2048": (2048, 2048)}


class DaskForward:
    params = [list(CHUNKS)]
    param_names = ["chunks"]
    rounds = 1
    repeat = (5, 9, 30.0)    # pairs: each half is one call of ~0.1 s
    sample_time = 0.05
    min_of = 1
    warmup_time = 0.2
    timeout = 600

    def setup(self, chunks):
        self.saved_threads = cydrop.get_num_threads()   # teardown runs after a skip too
        try:
            da = importlib.import_module("dask.array")
            self.cdask = importlib.import_module("cydrop.dask")
        except ImportError as exc:
            raise SkipNotImplemented(f"dask is not importable: {exc!r}") from None
        cydrop.set_num_threads(2)
        self.da = da
        self.a = data("float32", SHAPE[0] * SHAPE[1]).reshape(SHAPE)
        self.x = da.from_array(self.a, chunks=CHUNKS[chunks])
        self.store_into = buffer("float32", SHAPE[0] * SHAPE[1]).reshape(SHAPE)

    def teardown(self, chunks):
        cydrop.set_num_threads(self.saved_threads)

    def _in_memory(self):
        a = self.a
        return lambda: cydrop.dropout(a, P, seed=STREAM_SEED)

    def _threads(self):
        return {"scheduler": "threads", "num_workers": 2}

    def ratio_compute(self, chunks):
        y = self.cdask.dropout(self.x, P, seed=STREAM_SEED)
        return (lambda: y.compute(**self._threads()), self._in_memory())

    def ratio_store(self, chunks):
        y, out = self.cdask.dropout(self.x, P, seed=STREAM_SEED), self.store_into
        return (lambda: self.da.store(y, out, lock=False, **self._threads()),
                self._in_memory())

    def ratio_persist(self, chunks):
        y = self.cdask.dropout(self.x, P, seed=STREAM_SEED)
        return (lambda: y.persist(**self._threads()), self._in_memory())

    def ratio_backward_compute(self, chunks):
        g = self.cdask.dropout_backward(self.x, P, seed=STREAM_SEED)
        return (lambda: g.compute(**self._threads()), self._in_memory())

    def ratio_numpy_blocks_compute(self, chunks):
        def one_liner(b):
            return b * (np.random.rand(*b.shape) > P) / (1 - P)
        y = self.x.map_blocks(one_liner, dtype=np.float32)
        return (lambda: y.compute(**self._threads()), self._in_memory())

    def ratio_copy_blocks_compute(self, chunks):
        y = self.x.map_blocks(np.copy, dtype=np.float32)
        return (lambda: y.compute(**self._threads()), self._in_memory())
