"""Parameters, data and helpers shared by the cydrop benchmarks.

Data comes from a fixed-seed ``numpy.random.default_rng`` and is cached per
process: asv runs each (benchmark, parameters) in a process of its own and
(asv_runner 0.3.2) re-runs ``setup`` before every timed sample, so the cache
keeps the 2**24-element cases from spending their time generating inputs.
Cached arrays are never written to; benchmarks that write in place refresh a
private work buffer in ``setup``.

Nothing heavy happens at import time: with ``"launch_method": "forkserver"``
asv imports every benchmark module once in a server and forks from it, so
whatever the imports leave resident counts in every ``peakmem_`` result, and
a thread pool started there would not survive the fork.  That is also why
torch is imported only inside the ``setup`` of the torch peer benchmarks.
"""
import functools

import numpy as np

try:  # asv >= 0.6
    from asv_runner.benchmarks.mark import SkipNotImplemented
except ImportError:  # pragma: no cover - older asv: plain NotImplementedError skips too
    SkipNotImplemented = NotImplementedError

def require_benchmark_type(class_name, type_name):
    """Fail loudly rather than let every ``<type_name>_`` benchmark of the
    importing module vanish unnoticed: under asv, the plugin's benchmark
    type ``class_name`` must be installed (outside asv, e.g. imported by a
    test, there is nothing to check)."""
    try:
        from asv_runner.benchmarks import benchmark_types
    except ImportError:
        return
    if not any(t.__name__ == class_name for t in benchmark_types):
        raise ImportError(
            f"the asv benchmark type {type_name!r} is not installed in this environment: "
            "pip install ./asv_bench/asv_bench_cydrop (asv.conf.json installs it "
            "in the environments asv builds)")


DTYPES = ["float32", "float64"]
SIZES = [2**10, 2**16, 2**20, 2**24]
PS = [0.1, 0.5]

SEED = 20260522          # default_rng seed of every input
STREAM_SEED = 0x5EED     # Philox key where a benchmark fixes the stream
_BLOCK = 2**16           # distinct random values per input (see `data`)


def _read_only(a):
    a.flags.writeable = False  # shared by every setup of the process: never written
    return a


def generate(dtype, size, which=0):
    """A new float array of ``size`` elements, ``which`` picking an
    independent one.

    The kernels' speed does not depend on the values (no data-dependent
    branches), so a block of ``2**16`` fixed-seed normal draws is repeated to
    fill large sizes: setup at 2**24 costs a memory copy, not 16M draws.
    """
    rng = np.random.default_rng([SEED, which])
    block = rng.standard_normal(min(size, _BLOCK), dtype=np.dtype(dtype))
    return np.resize(block, size)


@functools.lru_cache(maxsize=None)
def data(dtype, size, which=0):
    """`generate`, cached and read-only (for benchmarks that only read it)."""
    return _read_only(generate(dtype, size, which))


@functools.lru_cache(maxsize=None)
def keep_mask(size, p, which=0):
    """A bool keep-mask of ``size`` elements kept with probability ~``1 - p``
    (a random byte >= round(256 p); independent bits, no repetition)."""
    rng = np.random.default_rng([SEED, 1000 + which])
    return _read_only(np.frombuffer(rng.bytes(size), dtype=np.uint8) >= round(256 * p))


@functools.lru_cache(maxsize=None)
def packed_mask(size, p, which=0):
    """`keep_mask` packed one bit per element (cydrop's "bits" layout)."""
    return _read_only(np.packbits(keep_mask(size, p, which), bitorder="little"))


@functools.lru_cache(maxsize=None)
def buffer(dtype, size, which=0):
    """A preallocated output buffer, written once so its pages are mapped."""
    out = np.empty(size, dtype=np.dtype(dtype))
    out.fill(0)
    return out


def fresh_copy(dtype, size, which=0):
    """A writeable work buffer holding ``data(dtype, size, which)`` again."""
    work = buffer(dtype, size, 100 + which)
    np.copyto(work, data(dtype, size, which))
    return work


def import_torch():
    """torch, or skip the benchmark (asv reports it as skipped, not failed)."""
    try:
        import torch
    except Exception as exc:  # ImportError, or a broken install (OSError)
        raise SkipNotImplemented(f"torch is not importable: {exc!r}") from None
    return torch

