# Runtime configuration of the kernels (included by _kernels.pyx): the
# Philox path and the element loops that go with it, the float16
# conversions, the thread count and its cap, the fork state, the streaming
# and parallel thresholds.  Every other unit reads these globals; only this
# one (and set_* here) writes them.

# Below this many work items (8 x 2048 = 16384 elements) the kernels stay on
# the calling thread: measured on 2 cores, a second thread pays off from about
# 4-8 items (waking it costs a few microseconds), see the README.
cdef Py_ssize_t _parallel_min_chunks = 8

# A parallel call cuts its work items into blocks of whole items, about this
# many per thread and at most _block_max_chunks items each (walk.pxi,
# _run_across_threads; `set_block_shape`).
cdef Py_ssize_t _blocks_per_thread = 8
cdef Py_ssize_t _block_max_chunks = 16

# This process entered an OpenMP region of more than one thread (or was
# forked from one that did): libgomp's thread pool exists, and a child
# forked now must not enter OpenMP (libgomp is not fork-safe; see
# _after_fork_child).
cdef bint _team_started = False

# From this many bytes of float32 result (out of place) the fused forward
# writes it with non-temporal stores (SIMD paths; see _run_plan).
cdef Py_ssize_t _stream_min_bytes = 1 << 24

IMPLS = {"scalar": CYDROP_IMPL_SCALAR, "avx2": CYDROP_IMPL_AVX2, "avx512": CYDROP_IMPL_AVX512}
cdef int _impl = cydrop_best_impl()
cdef cydrop_fill_fn _fill = cydrop_impl_fn(_impl)
# the element loops that go with the path (simd.h): SSE2 with scalar Philox
cdef const cydrop_simd_table *_simd = cydrop_simd_for(_impl)
# float16 conversions: F16C where the CPU has it, unless the scalar Philox
# path is chosen (CYDROP_SIMD=scalar: a CPU without SIMD), else portable C
cdef bint _f16c = _impl != CYDROP_IMPL_SCALAR and cydrop_f16c_supported()

HAVE_OPENMP = bool(CYDROP_HAVE_OPENMP)


cdef extern from *:
    """
    #ifndef CYDROP_BUILD_FLAGS
    #define CYDROP_BUILD_FLAGS "unknown"
    #endif
    """
    const char *CYDROP_BUILD_FLAGS

# The compiler flags setup.py added (-march=native only with CYDROP_NATIVE=1)
BUILD_FLAGS = CYDROP_BUILD_FLAGS.decode()


# The highest Philox path allowed: all of them, unless ``CYDROP_SIMD`` names
# one, which then also caps the CPU (the paths above it count as missing, so
# that a run with ``CYDROP_SIMD=avx2`` behaves as on a CPU without AVX-512).
cdef int _cap = CYDROP_IMPL_AVX512


def impl_supported(name):
    """True if the Philox implementation ``name`` runs on this CPU and build
    (and is not above the path ``CYDROP_SIMD`` names)."""
    return (name in IMPLS and IMPLS[name] <= _cap
            and bool(cydrop_impl_supported(IMPLS[name])))


def available_impls():
    """The Philox implementations usable here, slowest first."""
    return [name for name in IMPLS if impl_supported(name)]


def half_impl():
    """How float16 is converted: "f16c" (the CPU's instructions; used with the
    avx2/avx512 Philox paths on a CPU that has them) or "portable" (C code;
    with the scalar path, or without F16C).  Both give the same bits."""
    return "f16c" if _f16c else "portable"


def simd_loops():
    """The instruction set of the element loops the kernels use (they follow
    the Philox path): "avx512", "avx2", "sse2" (with the scalar path on
    x86-64) or "c" (portable C)."""
    return cydrop_simd_name(_impl).decode()


def f16c_supported():
    """Whether this CPU and build can use F16C."""
    return bool(cydrop_f16c_supported())


def get_impl():
    """Name of the Philox implementation the kernels use."""
    for name, code in IMPLS.items():
        if code == _impl:
            return name


def set_impl(name):
    """Choose the Philox implementation (the fastest is chosen at import;
    ``CYDROP_SIMD=scalar|avx2|avx512`` in the environment chooses too)."""
    global _impl, _fill, _f16c, _simd
    if not impl_supported(name):
        raise ValueError(f"Philox implementation {name!r} is not available on this CPU/build"
                         f"{_cap_note()}; choose from {available_impls()}")
    _impl = IMPLS[name]
    _fill = cydrop_impl_fn(_impl)
    _simd = cydrop_simd_for(_impl)
    _f16c = _impl != CYDROP_IMPL_SCALAR and cydrop_f16c_supported()


# Set by set_num_threads for the whole process (0: not set).
cdef int _requested_threads = 0
# OpenMP's limit when the module was imported (OMP_NUM_THREADS, or the
# cores): a thread whose own limit is below it was lowered on purpose
# (threadpoolctl), and is honoured.
cdef int _default_threads = 1
# No kernel uses more threads than this (`set_thread_cap`; at import 4 x the
# CPUs the process may run on, `usable_cpus`).  libgomp
# crashes creating a team of 10**5 threads, and past the cores more threads
# only add waiting to a memory-bound kernel.
cdef int _max_threads = 1
# This process is such a child: every kernel runs on the calling thread.
cdef bint _fork_serial = False


cdef inline int _effective_threads() noexcept nogil:
    """The thread count a kernel uses: ``set_num_threads``'s value (OpenMP's
    limit in the calling thread when it was never called), lowered to the
    calling thread's OpenMP limit where that limit is below the default
    (threadpoolctl), at most ``_max_threads``; 1 in a forked child of a
    process whose OpenMP team had started."""
    cdef int omp, n
    if _fork_serial or not CYDROP_HAVE_OPENMP:
        return 1
    omp = omp_get_max_threads()
    n = omp
    if _requested_threads > 0:
        n = _requested_threads
        if omp < _default_threads and omp < n:
            n = omp
    return n if n < _max_threads else _max_threads


def get_num_threads():
    """Threads the kernels use when called from this thread."""
    return _effective_threads()


def set_num_threads(int n):
    """Use ``n`` threads in every Python thread (the caller checks ``n``;
    values above the cap are used as the cap).  OpenMP's limit in the
    calling thread is raised back to at least the default (undoing a
    lowering there: the latest call wins in this thread), never lowered, so
    that other threads' calls are not capped by it."""
    global _requested_threads
    if n < 1:
        raise ValueError(f"number of threads must be >= 1, got {n}")
    _requested_threads = n
    omp_set_num_threads(n if n > _default_threads else _default_threads)


def reset_num_threads():
    """Forget `set_num_threads`' value: OpenMP's limit again (for tests)."""
    global _requested_threads
    _requested_threads = 0


def requested_threads():
    """What `set_num_threads` asked for (0: never called)."""
    return _requested_threads


def set_thread_cap(int n):
    """No kernel uses more than ``n`` threads (``n >= 1``)."""
    global _max_threads
    if n < 1:
        raise ValueError(f"the thread cap must be >= 1, got {n}")
    _max_threads = n


def thread_cap():
    """The most threads a kernel uses (see `set_thread_cap`)."""
    return _max_threads


def _after_fork_child(bint other_team=False):
    """In a child just forked (``os.register_at_fork``): serial from now on
    if the parent's OpenMP team may have started -- cydrop's own
    (`_team_started`), or another library's on the same runtime
    (``other_team``, the caller's judgement).  Returns whether it is."""
    global _fork_serial, _team_started
    cydrop_rc_after_fork()       # the result cache's lock (results.pxi)
    if not CYDROP_HAVE_OPENMP:
        return False             # serial kernels: nothing to guard
    if _team_started or other_team:
        _fork_serial = True
        _team_started = True     # and so are this child's own children
    return bool(_fork_serial)


def fork_serial():
    """True in a forked child whose kernels run serially (the parent had
    started OpenMP's threads, which do not survive a fork)."""
    return bool(_fork_serial)


def usable_cpus():
    """The CPUs this process may run on (its affinity mask where the OS has
    one, else ``os.cpu_count()``)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)


THREADS_PER_CPU_CAP = 4
_default_threads = omp_get_max_threads()
_max_threads = THREADS_PER_CPU_CAP * usable_cpus()


def set_streaming_min_bytes(Py_ssize_t n):
    """From ``n`` bytes of result (out of place, contiguous) on, it is written
    with non-temporal stores on the AVX2/AVX-512 paths (default 16 MiB): by
    the fused forward in float32, by masked scaling and the backward with a
    mask in float32 and float64.  Returns the previous setting.  For
    benchmarks and tests."""
    global _stream_min_bytes
    cdef Py_ssize_t old = _stream_min_bytes
    _stream_min_bytes = max(n, 0)
    return old


def set_block_shape(Py_ssize_t per_thread, Py_ssize_t max_chunks):
    """A parallel call's blocks: about ``per_thread`` per thread, at most
    ``max_chunks`` work items each.  Returns the previous pair.  For
    benchmarks and tests (results never depend on it)."""
    global _blocks_per_thread, _block_max_chunks
    old = (_blocks_per_thread, _block_max_chunks)
    _blocks_per_thread = max(per_thread, 1)
    _block_max_chunks = max(max_chunks, 1)
    return old


def set_pool_spin(long long ns):
    """How long an idle worker thread spins for the next call before it
    sleeps, in nanoseconds (default 1000000; no spin while the backoff is
    on).  Returns the previous value.
    For benchmarks."""
    return cydrop_pool_set_spin(ns)


def pool_stats():
    """The worker threads' counts: ``helpers`` started (the calling thread
    is not one), parallel ``jobs`` run, ``bad_jobs`` among them (the caller
    waited or was descheduled: docs/design.md, "Threads on a busy
    machine"), ``backoff_calls`` run serially after those, and the
    ``backoff`` length now.  For tests and benchmarks."""
    return {name: cydrop_pool_count(i) for i, name in
            enumerate(("helpers", "jobs", "bad_jobs", "backoff_calls", "backoff"))}


def set_parallel_min_chunks(Py_ssize_t n):
    """Below ``n`` work items of CHUNK elements a kernel runs serially."""
    global _parallel_min_chunks
    _parallel_min_chunks = max(n, 1)


CHUNK_ELEMENTS = CHUNK

def _cap_note():
    if _cap == CYDROP_IMPL_AVX512:
        return ""
    return f" (CYDROP_SIMD={os.environ.get('CYDROP_SIMD', '')} caps it)"


def _apply_simd_env():
    """``CYDROP_SIMD=scalar|avx2|avx512``: use that path and treat the CPU as
    having nothing above it."""
    global _cap
    name = os.environ.get("CYDROP_SIMD", "")
    if not name:
        return
    if name not in IMPLS:
        raise ImportError(f"CYDROP_SIMD={name!r} is not a Philox path; "
                          f"use one of {list(IMPLS)}")
    if not cydrop_impl_supported(IMPLS[name]):
        raise ImportError(f"CYDROP_SIMD={name!r}: this CPU/build cannot run that path; "
                          f"it runs {[n for n in IMPLS if cydrop_impl_supported(IMPLS[n])]}")
    _cap = IMPLS[name]
    set_impl(name)


_apply_simd_env()
