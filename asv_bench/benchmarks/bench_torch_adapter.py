"""``cydrop.torch`` against torch's own dropout, as ``ratio`` benchmarks (see
bench_ratio.py for the type): one training step's worth of dropout through
autograd, ``y = dropout(xg, p); y.backward(g)`` with ``xg`` a float32 leaf
that requires grad (its ``.grad`` reset before each call), cydrop.torch's
``dropout`` as the function and ``torch.nn.functional.dropout`` as the
reference, both on ``threads`` threads (cydrop.torch follows
``torch.set_num_threads``).  A ratio below 1 means cydrop.torch is faster;
1 / ratio is the "x faster" of docs/guide/performance.md.  Skipped where torch is not importable
(the environments asv builds per commit do not install it: these run under
``--python=same``)."""
import importlib

import cydrop

from .common import data, import_torch

P = 0.5


class TorchAdapter:
    params = [[1, 2], [2**16, 2**20, 2**24]]
    param_names = ["threads", "size"]
    rounds = 2
    repeat = (5, 15, 6.0)    # pairs per process; a torch step at 2**24 is ~0.3 s
    sample_time = 0.005
    min_of = 3
    warmup_time = 0.05
    timeout = 180

    def setup(self, threads, size):
        self.saved_threads = cydrop.get_num_threads()   # teardown runs after a skip too
        torch = import_torch()
        self.torch = torch
        self.saved_torch_threads = torch.get_num_threads()
        self.ct = importlib.import_module("cydrop.torch")
        torch.set_num_threads(threads)
        cydrop.set_num_threads(threads)
        self.F = torch.nn.functional
        self.x = torch.from_numpy(data("float32", size).copy()).requires_grad_(True)
        self.g = torch.from_numpy(data("float32", size, 1).copy())

    def teardown(self, threads, size):
        cydrop.set_num_threads(self.saved_threads)
        if hasattr(self, "saved_torch_threads"):
            self.torch.set_num_threads(self.saved_torch_threads)

    def _step(self, dropout):
        x, g = self.x, self.g

        def step():
            x.grad = None
            dropout(x, P).backward(g)
        return step

    def ratio_fwd_bwd_to_torch(self, threads, size):
        F = self.F
        return (self._step(self.ct.dropout),
                self._step(lambda t, p: F.dropout(t, p, training=True)))
