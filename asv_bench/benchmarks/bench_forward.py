"""Forward dropout: the fused kernel (mask drawn from the Philox stream), in
place, and the masked scaling with a given mask; each beside its NumPy
reference.  ``Forward.time_copyto`` is the floor of all of them: one read
and one write of the array, the memory traffic no dropout can avoid."""
import numpy as np

import cydrop

from .common import (DTYPES, PS, SIZES, SkipNotImplemented, buffer, data, fresh_copy,
                     import_torch, keep_mask, packed_mask)


class Forward:
    """``cydrop.dropout(x, p)``: a fresh mask from the default stream per call."""
    params = [DTYPES, SIZES, PS]
    param_names = ["dtype", "size", "p"]

    def setup(self, dtype, size, p):
        self.x = data(dtype, size)
        self.out = buffer(dtype, size)

    def time_dropout(self, dtype, size, p):
        cydrop.dropout(self.x, p)

    def time_dropout_out(self, dtype, size, p):
        cydrop.dropout(self.x, p, out=self.out)

    def time_numpy_reference(self, dtype, size, p):
        x = self.x
        x * (np.random.rand(*x.shape) > p) / (1 - p)

    def time_copyto(self, dtype, size, p):
        np.copyto(self.out, self.x)


class InPlace:
    """``cydrop.dropout(x, p, inplace=True)``; ``x`` is refreshed in setup."""
    params = [DTYPES, SIZES, PS]
    param_names = ["dtype", "size", "p"]

    def setup(self, dtype, size, p):
        self.x = fresh_copy(dtype, size)

    def time_dropout_inplace(self, dtype, size, p):
        cydrop.dropout(self.x, p, inplace=True)

    def time_numpy_reference_inplace(self, dtype, size, p):
        x = self.x
        x *= (np.random.rand(*x.shape) > p) / (1 - p)


class Masked:
    """Masked scaling: ``cydrop.dropout(x, p, mask=m)`` with a bool mask or
    packed bits (the seed articles' manual mask)."""
    params = [DTYPES, SIZES, PS]
    param_names = ["dtype", "size", "p"]

    def setup(self, dtype, size, p):
        self.x = data(dtype, size)
        self.mask = keep_mask(size, p)
        self.bits = packed_mask(size, p)

    def time_mask_bool(self, dtype, size, p):
        cydrop.dropout(self.x, p, mask=self.mask)

    def time_mask_bits(self, dtype, size, p):
        cydrop.dropout(self.x, p, mask=self.bits)

    def time_numpy_masked(self, dtype, size, p):
        self.x * self.mask / (1 - p)


class TorchForward:
    """torch's CPU dropout with the same thread count, as a peer of `Forward`
    (skipped where torch is not importable).

    A small grid on purpose: each (method, parameters) runs in its own
    process, and each pays torch's import (~2.5 s)."""
    params = [DTYPES, [2**20, 2**24], [0.5]]
    param_names = ["dtype", "size", "p"]

    def setup(self, dtype, size, p):
        torch = import_torch()
        torch.set_num_threads(cydrop.get_num_threads())
        self.F = torch.nn.functional
        self.t = torch.from_numpy(fresh_copy(dtype, size))

    def time_torch_dropout(self, dtype, size, p):
        self.F.dropout(self.t, p, training=True)


class Philox:
    """The stream alone: ``n`` 32-bit words from each Philox4x32-10 path
    (scalar, AVX2, AVX-512), skipped where the CPU lacks one."""
    params = [["scalar", "avx2", "avx512"], [2**16, 2**20]]
    param_names = ["impl", "size"]

    def setup(self, impl, size):
        from cydrop import _kernels
        if not _kernels.impl_supported(impl):
            raise SkipNotImplemented(f"{impl} is not available on this CPU")
        self.fill = _kernels.fill_blocks
        self.words = np.empty(size, dtype=np.uint32)
        self.words.fill(0)  # pages mapped before timing

    def time_fill(self, impl, size):
        self.fill(self.words, 0, 0x5EED, impl)
