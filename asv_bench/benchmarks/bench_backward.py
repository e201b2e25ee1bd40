"""Backward dropout (with a stored mask, or recomputed from the stream) and the
``Dropout`` module's forward+backward, beside their NumPy references (the
``np.copyto`` floor is ``bench_forward.Forward.time_copyto``)."""
import numpy as np

import cydrop

from .common import (DTYPES, PS, SIZES, STREAM_SEED, data, fresh_copy, import_torch,
                     keep_mask, packed_mask)


class Backward:
    """``cydrop.dropout_backward(grad, mask, p)`` with a bool mask, packed bits,
    or ``seed=`` (the mask regenerated from the stream: no stored mask)."""
    params = [DTYPES, SIZES, PS]
    param_names = ["dtype", "size", "p"]

    def setup(self, dtype, size, p):
        self.grad = data(dtype, size, 1)
        self.mask = keep_mask(size, p)
        self.bits = packed_mask(size, p)

    def time_backward_bool(self, dtype, size, p):
        cydrop.dropout_backward(self.grad, self.mask, p)

    def time_backward_bits(self, dtype, size, p):
        cydrop.dropout_backward(self.grad, self.bits, p)

    def time_backward_recompute(self, dtype, size, p):
        cydrop.dropout_backward(self.grad, p=p, seed=STREAM_SEED, offset=0)

    def time_numpy_backward(self, dtype, size, p):
        self.grad * self.mask / (1 - p)


class Module:
    """``layer.backward(layer(x))``-style step of ``cydrop.Dropout`` for each
    mask storage, beside the classic NumPy layer (draw a mask, keep it,
    multiply twice)."""
    params = [DTYPES, SIZES, PS]
    param_names = ["dtype", "size", "p"]

    def setup(self, dtype, size, p):
        self.x = data(dtype, size)
        self.grad = data(dtype, size, 1)
        self.layers = {s: cydrop.Dropout(p, rng=STREAM_SEED, mask_storage=s)
                       for s in ("bits", "bool", "recompute")}

    def time_forward_backward_bits(self, dtype, size, p):
        layer = self.layers["bits"]
        layer(self.x)
        layer.backward(self.grad)

    def time_forward_backward_bool(self, dtype, size, p):
        layer = self.layers["bool"]
        layer(self.x)
        layer.backward(self.grad)

    def time_forward_backward_recompute(self, dtype, size, p):
        layer = self.layers["recompute"]
        layer(self.x)
        layer.backward(self.grad)

    def time_numpy_forward_backward(self, dtype, size, p):
        x = self.x
        mask = np.random.rand(*x.shape) > p
        x * mask / (1 - p)
        self.grad * mask / (1 - p)


class TorchBackward:
    """torch's dropout backward (``native_dropout_backward``: grad * mask *
    scale) with the same thread count, as a peer of `Backward`; skipped where
    torch is not importable.  Small grid: see `bench_forward.TorchForward`."""
    params = [["float32"], [2**20, 2**24], [0.5]]
    param_names = ["dtype", "size", "p"]

    def setup(self, dtype, size, p):
        torch = import_torch()
        torch.set_num_threads(cydrop.get_num_threads())
        self.backward = torch.ops.aten.native_dropout_backward
        self.grad = torch.from_numpy(fresh_copy(dtype, size, 1))
        self.mask = torch.from_numpy(np.array(keep_mask(size, p)))
        self.scale = 1.0 / (1.0 - p)

    def time_torch_backward(self, dtype, size, p):
        self.backward(self.grad, self.mask, self.scale)
