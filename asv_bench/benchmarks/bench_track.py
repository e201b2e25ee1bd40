"""Figures that must not change silently: the observed keep rate, and the
fused forward's speed as a ratio to its peers measured side by side in one
call (a ratio survives a noisy machine; a time does not)."""
import numpy as np

import cydrop

from .common import DTYPES, STREAM_SEED, buffer, data, fresh_copy, import_torch, median_ratio


class KeepRate:
    """Fraction of elements kept (expected ``1 - p``) on 2**20 elements with a
    fixed stream key: deterministic, so any change is a change of the
    stream, of the threshold, or of a code path that should agree."""
    params = [[0.1, 0.5]]
    param_names = ["p"]
    unit = "fraction"
    size = 2**20

    def setup(self, p):
        self.ones = np.ones(self.size, dtype=np.float32)

    def track_keep_rate(self, p):
        y = cydrop.dropout(self.ones, p, seed=STREAM_SEED)
        return np.count_nonzero(y) / y.size

    def track_keep_rate_bits(self, p):
        _, bits = cydrop.dropout(self.ones, p, seed=STREAM_SEED, return_mask="bits")
        return int(np.unpackbits(bits, count=self.size, bitorder="little").sum()) / self.size

    def track_keep_rate_recompute(self, p):
        g = cydrop.dropout_backward(self.ones, p=p, seed=STREAM_SEED)
        return np.count_nonzero(g) / g.size

    def track_keep_rate_module(self, p):
        layer = cydrop.Dropout(p, rng=STREAM_SEED)
        layer(self.ones)
        return float(np.mean(layer.mask))


class Ratio:
    """``time(cydrop fused forward) / time(peer)``, medians of 7 interleaved
    timeit samples (each >= 2 ms) taken in the same call."""
    params = [DTYPES, [2**16, 2**20, 2**24], [0.5]]
    param_names = ["dtype", "size", "p"]
    unit = "ratio"

    def setup(self, dtype, size, p):
        self.x = data(dtype, size)
        self.out = buffer(dtype, size)

    def track_ratio_to_copyto(self, dtype, size, p):
        x, out = self.x, self.out
        return median_ratio(lambda: cydrop.dropout(x, p, out=out),
                            lambda: np.copyto(out, x))

    def track_ratio_to_numpy_reference(self, dtype, size, p):
        x = self.x
        return median_ratio(lambda: cydrop.dropout(x, p),
                            lambda: x * (np.random.rand(*x.shape) > p) / (1 - p))


class TorchRatio:
    """``time(cydrop.dropout) / time(torch F.dropout)`` on the CPU with the
    same thread count, side by side in one call; skipped where torch is not
    importable."""
    params = [DTYPES, [2**20, 2**24], [0.5]]
    param_names = ["dtype", "size", "p"]
    unit = "ratio"

    def setup(self, dtype, size, p):
        torch = import_torch()
        torch.set_num_threads(cydrop.get_num_threads())
        self.F = torch.nn.functional
        self.x = data(dtype, size)
        self.t = torch.from_numpy(fresh_copy(dtype, size))

    def track_ratio_to_torch(self, dtype, size, p):
        x, t, F = self.x, self.t, self.F
        return median_ratio(lambda: cydrop.dropout(x, p),
                            lambda: F.dropout(t, p, training=True))
