"""Figures that must not change silently: the observed keep rate.  (The
kernels' speed as ratios to their peers is in `bench_ratio`, as samples of
the ``ratio`` benchmark type.)"""
import numpy as np

import cydrop

from .common import STREAM_SEED


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

