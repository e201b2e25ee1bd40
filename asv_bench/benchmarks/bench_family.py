"""The rest of the dropout family as ``ratio`` benchmarks (the plugin and the
settings of `bench_ratio`): channel-wise dropout, alpha dropout, vanilla
scaling and float16, each against the peer its performance target names.

Not part of the regression gate's ``-b '^bench_ratio\\.'`` (which stays at a
few minutes); a full ``asv run`` or ``asv continuous -b bench_family`` runs
them.
"""
import numpy as np

import cydrop

from .bench_ratio import P, _OneThread
from .common import STREAM_SEED, buffer, data


class ChannelWise(_OneThread):
    """``dropout2d`` on (N, 256, 32, 32) into a preallocated ``out`` against a
    copy of the same array (target: <= 1.3x at (64, 256, 32, 32) float32):
    one stream word per channel, each channel's span scaled or zeroed."""
    params = [["float32", "float64"], [4, 64]]
    param_names = ["dtype", "batch"]

    def setup(self, dtype, batch):
        size = batch * 256 * 32 * 32
        super().setup(dtype, size)
        self.x4 = self.x.reshape(batch, 256, 32, 32)
        self.out4 = self.out.reshape(batch, 256, 32, 32)

    def teardown(self, dtype, batch):
        super().teardown(dtype, 0)

    def ratio_dropout2d_to_copyto(self, dtype, batch):
        x, out = self.x4, self.out4
        return (lambda: cydrop.dropout2d(x, P, seed=STREAM_SEED, out=out),
                lambda: np.copyto(out, x))


class Alpha(_OneThread):
    """``alpha_dropout`` (a keep flag per element, then ``a * x + b``) against
    the plain fused forward of the same array."""

    def ratio_alpha_to_forward(self, dtype, size):
        x, out = self.x, self.out
        return (lambda: cydrop.alpha_dropout(x, P, True, seed=STREAM_SEED, out=out),
                lambda: cydrop.dropout(x, P, seed=STREAM_SEED, out=out))


class Vanilla(_OneThread):
    """Vanilla scaling: the training forward against the inverted one, and the
    evaluation forward (``x * (1 - p)``) against a copy."""

    def ratio_vanilla_to_forward(self, dtype, size):
        x, out = self.x, self.out
        return (lambda: cydrop.dropout(x, P, seed=STREAM_SEED, out=out, scaling="vanilla"),
                lambda: cydrop.dropout(x, P, seed=STREAM_SEED, out=out))

    def ratio_vanilla_eval_to_copyto(self, dtype, size):
        x, out = self.x, self.out
        return (lambda: cydrop.dropout(x, P, False, out=out, scaling="vanilla"),
                lambda: np.copyto(out, x))


class Half(_OneThread):
    """The float16 forward (computed in float32, rounded once) against the
    float32 forward of as many elements (target: <= 2x per element)."""
    params = [["float32"], _OneThread.params[1]]

    def setup(self, dtype, size):
        super().setup(dtype, size)
        self.xh = data("float32", size).astype(np.float16)
        self.outh = buffer("float16", size)

    def ratio_float16_to_float32(self, dtype, size):
        xh, outh, x, out = self.xh, self.outh, self.x, self.out
        return (lambda: cydrop.dropout(xh, P, seed=STREAM_SEED, out=outh),
                lambda: cydrop.dropout(x, P, seed=STREAM_SEED, out=out))
