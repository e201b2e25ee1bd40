"""The rest of the dropout family as ``ratio`` benchmarks (the plugin and the
settings of `bench_ratio`): channel-wise dropout and vanilla scaling in
training, each against the peer its performance target names (alpha
dropout, float16 and vanilla evaluation, issue 23's targets, are in
`bench_ratio` and so in the gate).

Not part of the regression gate's ``-b '^bench_ratio\\.'`` (which stays at a
few minutes); a full ``asv run`` or ``asv continuous -b bench_family`` runs
them.
"""
import numpy as np

import cydrop

from .bench_ratio import P, _OneThread
from .common import STREAM_SEED


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


class Vanilla(_OneThread):
    """Vanilla scaling in training against the inverted forward (vanilla
    evaluation is `bench_ratio.VanillaEval`, in the gate)."""

    def ratio_vanilla_to_forward(self, dtype, size):
        x, out = self.x, self.out
        return (lambda: cydrop.dropout(x, P, seed=STREAM_SEED, out=out, scaling="vanilla"),
                lambda: cydrop.dropout(x, P, seed=STREAM_SEED, out=out))
