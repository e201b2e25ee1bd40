"""cydrop's kernels counted under valgrind, as ``count`` benchmarks: the
``asv_bench_cydrop`` plugin runs each class's calls in one valgrind process
(callgrind) per Philox path and reports, per call, the instructions
executed and a cost that weights the simulated L1 and last-level cache
misses (docs/design.md, "Counting benchmarks").  The figures are the same
on every run of the same commit, so the count gate compares them by
``--factor`` alone::

    asv continuous --factor 1.03 -b '^bench_count\\.' main HEAD

Every class is counted under ``CYDROP_SIMD=avx2`` and ``scalar`` (the
``path`` parameter): valgrind cannot run AVX-512, so the default path of an
AVX-512 machine is not counted here (the time-ratio gate, `bench_ratio`,
covers it).  A path the CPU lacks is skipped.

Every array is 64-byte aligned (`aligned`), so that where an array lies --
which moves with whatever the interpreter allocated before -- cannot move
the count: the kernels' streaming stores start at the first 64-byte
boundary of ``out``, and the elements before it go another way.  One thread.
"""
import importlib
import os

import numpy as np

import cydrop

from .common import (STREAM_SEED, SkipNotImplemented, data, import_torch, keep_mask, packed_mask,
                     require_benchmark_type)

require_benchmark_type("CountBenchmark", "count")

P = 0.5
PATHS = {"avx2": {"CYDROP_SIMD": "avx2"}, "scalar": {"CYDROP_SIMD": "scalar"}}

_KEEP = []   # the aligned arrays' owners, alive for the process


def aligned(a):
    """A copy of ``a`` whose data starts on a 64-byte boundary."""
    a = np.asarray(a)
    raw = np.empty(a.nbytes + 64, dtype=np.uint8)
    start = (-raw.ctypes.data) % 64
    out = raw[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    _KEEP.append(raw)
    return out


class _Counted:
    """Base: one cydrop thread, the path the process was started with
    (``path``: the plugin sets ``CYDROP_SIMD`` for the valgrind process)
    checked, skipped where the CPU lacks it."""
    count_env = PATHS
    count_env_name = "path"
    count_warmup = 1
    count_timeout = 900

    def setup(self, *params):
        from cydrop import _kernels
        want = os.environ.get("CYDROP_SIMD")
        if want and _kernels.get_impl() != want:
            raise SkipNotImplemented(f"this CPU has no {want} path "
                                     f"(active: {_kernels.get_impl()})")
        self.saved_threads = cydrop.get_num_threads()
        cydrop.set_num_threads(1)

    def teardown(self, *params):
        if hasattr(self, "saved_threads"):
            cydrop.set_num_threads(self.saved_threads)


class Kernels(_Counted):
    """The kernels the time-ratio gate guards, into a preallocated ``out``:
    the fused forward (mask drawn from the Philox stream, applied, scaled),
    masked scaling (a given bool mask), the backward with a bool mask and
    with a packed one (bits), and the recomputing backward (the mask drawn
    again from the stream).  2**14 elements (at most 0.3 MiB in all) stay in
    the simulated last level (1 MiB; the count is the kernel's work); 2**18
    (1-2 MiB an array) stream through it (the cost counts the memory traffic
    too).  No size near the last level's capacity: there the misses depend
    on where the arrays land in its sets, which moves between processes."""
    params = [["float32", "float64"], [2**14, 2**18]]
    param_names = ["dtype", "size"]

    def setup(self, dtype, size):
        super().setup(dtype, size)
        self.x = aligned(data(dtype, size))
        self.grad = aligned(data(dtype, size, 1))
        self.out = aligned(np.zeros(size, dtype))
        self.mask = aligned(keep_mask(size, P))
        self.bits = aligned(packed_mask(size, P))

    def count_forward(self, dtype, size):
        x, out = self.x, self.out
        return lambda: cydrop.dropout(x, P, seed=STREAM_SEED, out=out)

    def count_masked(self, dtype, size):
        x, out, mask = self.x, self.out, self.mask
        return lambda: cydrop.dropout(x, P, mask=mask, out=out)

    def count_backward_bool(self, dtype, size):
        g, out, mask = self.grad, self.out, self.mask
        return lambda: cydrop.dropout_backward(g, mask, P, out=out)

    def count_backward_packed(self, dtype, size):
        g, out, bits = self.grad, self.out, self.bits
        return lambda: cydrop.dropout_backward(g, bits, P, out=out)

    def count_backward_recompute(self, dtype, size):
        g, out = self.grad, self.out
        return lambda: cydrop.dropout_backward(g, None, P, seed=STREAM_SEED, out=out)


class Family(_Counted):
    """The family's kernels, float32, 2**16 elements: channel-wise dropout
    (``dropout2d`` on (4, 16, 32, 32): one word per channel), alpha dropout,
    and the float16 forward (computed in float32, rounded once)."""
    params = [[2**16]]
    param_names = ["size"]

    def setup(self, size):
        super().setup(size)
        self.x = aligned(data("float32", size))
        self.out = aligned(np.zeros(size, np.float32))
        self.xh = aligned(data("float32", size).astype(np.float16))
        self.outh = aligned(np.zeros(size, np.float16))

    def count_channelwise(self, size):
        x4, out4 = self.x.reshape(-1, 16, 32, 32), self.out.reshape(-1, 16, 32, 32)
        return lambda: cydrop.dropout2d(x4, P, seed=STREAM_SEED, out=out4)

    def count_alpha(self, size):
        x, out = self.x, self.out
        return lambda: cydrop.alpha_dropout(x, P, True, seed=STREAM_SEED, out=out)

    def count_float16(self, size):
        xh, outh = self.xh, self.outh
        return lambda: cydrop.dropout(xh, P, seed=STREAM_SEED, out=outh)


class PerCall(_Counted):
    """What one call costs beyond its elements: ``cydrop.dropout`` of 16
    float32 elements, allocating its result, from the default stream (the
    one-call path: argument checks, the one-call rule, the entry, the
    kernel), where the interpreter's and the checks' instructions are most
    of the count."""
    params = [[16]]
    param_names = ["size"]

    def setup(self, size):
        super().setup(size)
        self.x = aligned(data("float32", size))

    def count_one_call(self, size):
        x = self.x
        return lambda: cydrop.dropout(x, P)


class TorchAdapter(_Counted):
    """The per-call overhead of ``cydrop.torch``: a training step's dropout
    on a float32 tensor of 2**10 elements, ``y = dropout(xg, p);
    y.backward(g)`` (autograd, the key draw, tensor views, both kernels),
    torch on one thread.  Skipped where torch is not importable (the
    environments asv builds per commit do not install it: run under
    ``--python=same``)."""
    params = [[2**10]]
    param_names = ["size"]
    # the interpreter's work hardly depends on the path, and importing torch
    # under valgrind takes most of this class's time: one path
    count_env = {"avx2": PATHS["avx2"]}

    def setup(self, size):
        super().setup(size)
        torch = import_torch()
        self.torch, self.ct = torch, importlib.import_module("cydrop.torch")
        torch.set_num_threads(1)
        self.xg = torch.from_numpy(aligned(data("float32", size))).requires_grad_(True)
        self.g = torch.from_numpy(aligned(data("float32", size, 1)))

    def count_fwd_bwd(self, size):
        xg, g, ct = self.xg, self.g, self.ct

        def step():
            xg.grad = None
            ct.dropout(xg, P).backward(g)
        return step
