"""Peak memory (the process's maximum resident set size, setup's arrays
included) of out-of-place vs in-place dropout and of the three mask storages
through a forward+backward.

float32, 2**24 elements: each array is 64 MiB, far above the interpreter's
own footprint, so the differences read directly: one output array for
out-of-place, 16 MiB (bool) vs 2 MiB (bits) vs 0 (recompute) of kept mask."""
import numpy as np

import cydrop

from .common import STREAM_SEED, generate

DTYPE = "float32"


class PeakMemForward:
    """Resident: ``x``; plus the output when out of place."""
    params = [[2**24], [0.5]]
    param_names = ["size", "p"]

    def setup(self, size, p):
        self.x = generate(DTYPE, size)

    def peakmem_dropout(self, size, p):
        cydrop.dropout(self.x, p)

    def peakmem_dropout_inplace(self, size, p):
        cydrop.dropout(self.x, p, inplace=True)

    def peakmem_numpy_reference(self, size, p):
        x = self.x
        x * (np.random.rand(*x.shape) > p) / (1 - p)


class PeakMemModule:
    """Resident: ``x``, ``grad``, the forward's output (alive through the
    backward, as in a network), the backward's output, and the kept mask."""
    params = [["bits", "bool", "recompute"], [2**24], [0.5]]
    param_names = ["mask_storage", "size", "p"]

    def setup(self, mask_storage, size, p):
        self.x = generate(DTYPE, size)
        self.grad = generate(DTYPE, size, 1)
        self.layer = cydrop.Dropout(p, rng=STREAM_SEED, mask_storage=mask_storage)

    def peakmem_forward_backward(self, mask_storage, size, p):
        y = self.layer(self.x)
        g = self.layer.backward(self.grad)
        del y, g


class PeakMemNumpyLayer:
    """The classic NumPy dropout layer (a bool mask kept between forward and
    backward, float64 draws as a temporary), for comparison with
    `PeakMemModule`."""
    params = [[2**24], [0.5]]
    param_names = ["size", "p"]

    def setup(self, size, p):
        self.x = generate(DTYPE, size)
        self.grad = generate(DTYPE, size, 1)

    def peakmem_forward_backward(self, size, p):
        mask = np.random.rand(*self.x.shape) > p
        y = self.x * mask / (1 - p)
        g = self.grad * mask / (1 - p)
        del y, g
