"""Figures that must not change silently: the observed keep rate, and the
fused forward's speed as a ratio to its peers measured side by side in one
call (a ratio cancels most of a machine's drift; a time does not)."""
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
    """``time(cydrop fused forward) / time(peer)``, both on one thread: the
    medians of 15 interleaved timeit samples (each >= 10 ms) taken in the same
    call.  One thread because the peers use one (``np.copyto``, NumPy) and
    because a team of threads on a busy machine waits for its slowest member,
    which is noise a ratio cannot cancel; the thread scaling has its own
    benchmarks (`bench_threads`)."""
    params = [DTYPES, [2**16, 2**20, 2**24], [0.5]]
    param_names = ["dtype", "size", "p"]
    unit = "ratio"

    def setup(self, dtype, size, p):
        self.saved_threads = cydrop.get_num_threads()
        cydrop.set_num_threads(1)
        self.x = data(dtype, size)
        self.out = buffer(dtype, size)

    def teardown(self, dtype, size, p):
        cydrop.set_num_threads(self.saved_threads)

    def track_ratio_to_copyto(self, dtype, size, p):
        x, out = self.x, self.out
        return median_ratio(lambda: cydrop.dropout(x, p, out=out),
                            lambda: np.copyto(out, x))

    def track_ratio_to_numpy_reference(self, dtype, size, p):
        x = self.x
        return median_ratio(lambda: cydrop.dropout(x, p),
                            lambda: x * (np.random.rand(*x.shape) > p) / (1 - p))


class TorchRatio:
    """``time(cydrop.dropout) / time(torch F.dropout)`` on the CPU, float32,
    both with ``threads`` threads, side by side in one call (as `Ratio`);
    skipped where torch is not importable."""
    params = [[1, 2], [2**20, 2**24], [0.5]]
    param_names = ["threads", "size", "p"]
    unit = "ratio"

    def setup(self, threads, size, p):
        self.saved_threads = cydrop.get_num_threads()   # teardown runs after a skip too
        torch = import_torch()
        cydrop.set_num_threads(threads)
        torch.set_num_threads(threads)
        self.F = torch.nn.functional
        self.x = data("float32", size)
        self.t = torch.from_numpy(fresh_copy("float32", size))

    def teardown(self, threads, size, p):
        cydrop.set_num_threads(self.saved_threads)

    def track_ratio_to_torch(self, threads, size, p):
        x, t, F = self.x, self.t, self.F
        return median_ratio(lambda: cydrop.dropout(x, p),
                            lambda: F.dropout(t, p, training=True))
