# cython: language_level=3, wraparound=False, cdivision=True
# (boundscheck and initializedcheck come from setup.py: off, on with
# CYDROP_DEBUG=1 -- they guard the memoryview paths, the Cython API below;
# a directive written here would override the build switch)
"""cydrop's compiled kernels.

Every kernel is one pass over the logical (C-order) positions of an array of
any shape and strides.  The positions are cut into work items of ``CHUNK``
elements; each item

1. gets one keep flag per element into an L1-resident byte buffer, from the
   Philox stream (``SRC_STREAM``), a bool mask array (``SRC_BOOL``) or a
   packed bit mask (``SRC_BITS``);
2. writes the flags out when asked, as a bool array and/or packed bits;
3. writes ``out = keep ? x * scale : 0`` when an input is given (``out`` may
   be ``x``: in place and out of place share the loop).

Work items are independent (the stream is indexed by position, not by a
state), so they run under ``prange`` and the result cannot depend on the
thread count or the chunking.  The Python layer (``cydrop.functional``)
checks every argument once; the kernels trust them.

Two faces over the same walker: named Python entry points (`masked_scale`,
`fused_forward`, `draw_mask`) for ``cydrop.functional``, and ``noexcept nogil``
typed-memoryview functions for other extensions (declared in
``cydrop/_kernels.pxd``, documented in ``cydrop/kernels.pxd``).
"""
cimport cython
from cython.parallel cimport prange
from libc.stdint cimport uint8_t, uint32_t, uint64_t
cimport numpy as cnp
import os

import numpy as np

from cydrop.types cimport (floating, DROPOUT_OK, DROPOUT_ERR_LENGTH, DROPOUT_ERR_P,
                           CYDROP_API_VERSION_MAJOR, CYDROP_API_VERSION_MINOR)
from _types cimport (
    cydrop_fill_fn, cydrop_philox4x32, cydrop_impl_supported,
    cydrop_impl_fn, cydrop_best_impl, CYDROP_IMPL_SCALAR, CYDROP_IMPL_AVX2,
    CYDROP_IMPL_AVX512, CYDROP_HAVE_OPENMP, omp_get_max_threads, omp_set_num_threads,
    cydrop_simd_table, cydrop_simd_for, cydrop_simd_name,
)

cdef extern from "bits.h" nogil:
    uint8_t cydrop_pack8(const uint8_t *flags)
    void cydrop_unpack8(uint8_t byte, uint8_t *flags)

cdef extern from "half.h" nogil:
    int cydrop_f16c_supported()
    void cydrop_h2f(int f16c, const char *src, Py_ssize_t stride, float *dst, Py_ssize_t n)
    void cydrop_f2h(int f16c, const float *src, char *dst, Py_ssize_t stride, Py_ssize_t n)

cnp.import_array()

cdef enum:
    # Elements per work item.  A multiple of 64, so that packed-bit bytes
    # never straddle two items and items start on a Philox block when the
    # stream offset is a multiple of 4.  8 KiB of words + 2 KiB of flags: L1.
    CHUNK = 2048
    MAXDIM = 64

# Where the keep flags come from.
cdef enum:
    SRC_STREAM = 0
    SRC_BOOL = 1
    SRC_BITS = 2

# Below this many work items (8 x 2048 = 16384 elements) the kernels stay on
# the calling thread: measured on 2 cores, a second thread pays off from about
# 4-8 items (waking it costs a few microseconds), see the README.
cdef Py_ssize_t _parallel_min_chunks = 8

# This process entered an OpenMP region of more than one thread (or was
# forked from one that did): libgomp's thread pool exists, and a child
# forked now must not enter OpenMP (libgomp is not fork-safe; see
# _after_fork_child).
cdef bint _team_started = False

# From this many bytes of float32 result (out of place) the fused forward
# writes it with non-temporal stores (SIMD paths; see _execute).
cdef Py_ssize_t _stream_min_bytes = 1 << 24

# the version of the Cython API (cydrop/kernels.pxd) this module was built with
CYTHON_API_VERSION = (CYDROP_API_VERSION_MAJOR, CYDROP_API_VERSION_MINOR)

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


cdef struct Plan:
    int ndim                      # after dropping size-1 axes and merging
    Py_ssize_t n                  # number of elements
    Py_ssize_t shape[MAXDIM]
    Py_ssize_t xs[MAXDIM]         # byte strides: input
    Py_ssize_t os[MAXDIM]         #               output
    Py_ssize_t ms[MAXDIM]         #               bool mask (read or written)
    char *x                       # IN, may be NULL (mask only)
    char *o                       # OUT, NULL when x is NULL; may equal x
    char *m                       # IN (SRC_BOOL) or OUT (write_mask) or NULL
    uint8_t *bits                 # IN (SRC_BITS) or OUT (write_bits) or NULL
    int src
    bint write_mask
    bint write_bits
    uint64_t seed
    uint64_t block0               # offset // 4
    uint64_t phase                # offset % 4
    uint32_t thr                  # keep iff word >= thr
    cydrop_fill_fn fill
    const cydrop_simd_table *simd # the element loops (with the Philox path)
    bint half                     # x and o hold float16: computed in float32
    bint f16c                     # ... converted with F16C (else portable C)
    bint nt                       # stream the result past the caches (set by _execute)
    bint affine                   # keep ? x * scale + add : fill (alpha dropout)
    double add
    double fill_value


# The stream has 2**64 words, 2**62 blocks of four: word indices wrap modulo
# 2**64 (design: "The random stream"), so block numbers wrap modulo 2**62.
cdef uint64_t _NBLOCKS = (<uint64_t>1) << 62


cdef inline void _fill_wrapped(cydrop_fill_fn fill, uint32_t *words, uint64_t b,
                               uint64_t nblocks, uint64_t seed) noexcept nogil:
    """Blocks ``b, b + 1, ... (mod 2**62)``: a fill that runs past the last
    block goes on from block 0."""
    cdef uint64_t first_part
    b &= _NBLOCKS - 1
    if nblocks > _NBLOCKS - b:
        first_part = _NBLOCKS - b
        fill(words, b, <size_t>first_part, seed)
        fill(words + 4 * first_part, 0, <size_t>(nblocks - first_part), seed)
    else:
        fill(words, b, <size_t>nblocks, seed)


# ---------------------------------------------------------------------------
# 1-D segment loops (typed, pointer based, one definition each)

cdef inline void _seg_apply(const cydrop_simd_table *t,
                            const floating *x, Py_ssize_t xs,   # IN
                            floating *o, Py_ssize_t os,         # OUT (may be x)
                            const uint8_t *keep, Py_ssize_t ks, # IN
                            Py_ssize_t r, floating scale) noexcept nogil:
    """o = keep ? x * scale : 0 from keep flags (byte stride ks); the
    contiguous case runs the SIMD loop of ``t``."""
    cdef Py_ssize_t k
    cdef floating v
    if ks == 0:
        # one flag for the whole segment (a broadcast mask: channel-wise
        # dropout, noise_shape): scale the span or zero it
        _seg_fill(x, xs, o, os, r, scale if keep[0] else 0, not keep[0])
        return
    # The load and multiply are unconditional so that the compiler turns the
    # choice into a branch-free select (a branch on a random mask mispredicts
    # half the time) and vectorizes the contiguous loop.
    if xs == <Py_ssize_t>sizeof(floating) and os == <Py_ssize_t>sizeof(floating) and ks == 1:
        if floating is float:
            t.keep_f32(x, o, keep, r, scale, 0)
        else:
            t.keep_f64(x, o, keep, r, scale, 0)
    else:
        for k in range(r):
            v = (<const floating *>(<const char *>x + k * xs))[0] * scale
            (<floating *>(<char *>o + k * os))[0] = v if keep[k * ks] else 0


cdef inline void _seg_fill(const floating *x, Py_ssize_t xs, floating *o, Py_ssize_t os,
                           Py_ssize_t r, floating scale, bint zero) noexcept nogil:
    """o = x * scale over a span (zero: o = 0, x not read)."""
    cdef Py_ssize_t k
    if zero:
        if os == <Py_ssize_t>sizeof(floating):
            for k in range(r):
                o[k] = 0
        else:
            for k in range(r):
                (<floating *>(<char *>o + k * os))[0] = 0
    elif xs == <Py_ssize_t>sizeof(floating) and os == <Py_ssize_t>sizeof(floating):
        for k in range(r):
            o[k] = x[k] * scale
    else:
        for k in range(r):
            (<floating *>(<char *>o + k * os))[0] = \
                (<const floating *>(<const char *>x + k * xs))[0] * scale


cdef inline void _seg_affine(const floating *x, Py_ssize_t xs,   # IN
                             floating *o, Py_ssize_t os,         # OUT (may be x)
                             const uint8_t *keep, Py_ssize_t ks, # IN
                             Py_ssize_t r, floating scale, floating add,
                             floating fill) noexcept nogil:
    """Alpha dropout: o = keep ? x * scale + add : fill (ks == 0: one flag).
    Two roundings, as torch: the product, then the sum (the build keeps the
    compiler from contracting them into one fma)."""
    cdef Py_ssize_t k
    cdef floating v
    if xs == <Py_ssize_t>sizeof(floating) and os == <Py_ssize_t>sizeof(floating) and ks == 1:
        for k in range(r):
            v = x[k] * scale + add
            o[k] = v if keep[k] else fill
    else:
        for k in range(r):
            v = (<const floating *>(<const char *>x + k * xs))[0] * scale + add
            (<floating *>(<char *>o + k * os))[0] = v if keep[k * ks] else fill


cdef inline void _seg_apply_words(const cydrop_simd_table *t,
                                  const floating *x, Py_ssize_t xs,   # IN
                                  floating *o, Py_ssize_t os,         # OUT (may be x)
                                  const uint32_t *w, uint32_t thr,    # IN, contiguous
                                  Py_ssize_t r, floating scale) noexcept nogil:
    """o = (w >= thr) ? x * scale : 0 from stream words in a buffer, the keep
    test inline (the fused forward where the words are not made in registers)."""
    cdef Py_ssize_t k
    cdef floating v
    if xs == <Py_ssize_t>sizeof(floating) and os == <Py_ssize_t>sizeof(floating):
        if floating is float:
            t.words_f32(x, o, w, thr, r, scale)
        else:
            t.words_f64(x, o, w, thr, r, scale)
    else:
        for k in range(r):
            v = (<const floating *>(<const char *>x + k * xs))[0] * scale
            (<floating *>(<char *>o + k * os))[0] = v if w[k] >= thr else 0


cdef inline void _seg_scatter(char *m, Py_ssize_t ms, const uint8_t *keep,
                              Py_ssize_t r) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(r):
        (<uint8_t *>(m + k * ms))[0] = keep[k]


cdef inline void _seg_gather(const char *m, Py_ssize_t ms, uint8_t *keep,
                             Py_ssize_t r) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(r):
        keep[k] = (<const uint8_t *>(m + k * ms))[0]


# ---------------------------------------------------------------------------
# One work item

cdef enum:
    OP_SCATTER = 1      # keep flags into the bool mask array
    OP_APPLY = 2        # x * scale where the keep flags say
    OP_APPLY_MASK = 3   # x * scale where the bool mask array says
    OP_APPLY_WORDS = 4  # x * scale where the stream words say (fused forward)
    OP_GATHER = 5       # the bool mask array into keep flags
    OP_LOAD_HALF = 6    # float16 x into the float32 buffer
    OP_STORE_HALF = 7   # the float32 buffer, rounded, into float16 o


cdef void _walk(const Plan *pl, Py_ssize_t start, Py_ssize_t end, uint8_t *keep,
                const uint32_t *words, float *buf, int op, floating scale) noexcept nogil:
    """Run one segment loop over positions [start, end) in C order; ``keep``,
    ``words`` and ``buf`` are indexed from ``start``.  Alpha dropout
    (``pl.affine``) goes through the keep-flag loops."""
    cdef Py_ssize_t idx[MAXDIM]
    cdef int last = pl.ndim - 1
    cdef int d
    cdef Py_ssize_t rem = start, pos = start, r, xoff, ooff, moff, j
    cdef bint inplace = pl.x == pl.o
    cdef const floating *xp
    cdef floating *op_
    cdef floating add = <floating>pl.add, fill = <floating>pl.fill_value
    for d in range(last, -1, -1):
        idx[d] = rem % pl.shape[d]
        rem = rem // pl.shape[d]
    while pos < end:
        xoff = 0
        ooff = 0
        moff = 0
        for d in range(pl.ndim):
            xoff += idx[d] * pl.xs[d]
            ooff += idx[d] * pl.os[d]
            moff += idx[d] * pl.ms[d]
        r = pl.shape[last] - idx[last]
        if r > end - pos:
            r = end - pos
        j = pos - start
        xp = <const floating *>(pl.x + xoff)
        op_ = <floating *>(pl.o + ooff)
        if inplace:
            # the same loop, called with one pointer so that the compiler
            # vectorizes it without a run-time overlap check
            op_ = <floating *>xp
        if op == OP_SCATTER:
            _seg_scatter(pl.m + moff, pl.ms[last], keep + j, r)
        elif op == OP_GATHER:
            _seg_gather(pl.m + moff, pl.ms[last], keep + j, r)
        elif op == OP_LOAD_HALF:
            cydrop_h2f(pl.f16c, pl.x + xoff, pl.xs[last], buf + j, r)
        elif op == OP_STORE_HALF:
            cydrop_f2h(pl.f16c, buf + j, pl.o + ooff, pl.os[last], r)
        elif op == OP_APPLY_WORDS:
            if inplace:
                _seg_apply_words(pl.simd, xp, pl.xs[last], <floating *>xp, pl.xs[last],
                                 words + j, pl.thr, r, scale)
            else:
                _seg_apply_words(pl.simd, xp, pl.xs[last], op_, pl.os[last],
                                 words + j, pl.thr, r, scale)
        elif op == OP_APPLY_MASK:
            if pl.affine:
                _seg_affine(xp, pl.xs[last], op_, pl.os[last],
                            <const uint8_t *>(pl.m + moff), pl.ms[last], r, scale, add, fill)
            elif inplace:
                _seg_apply(pl.simd, xp, pl.xs[last], <floating *>xp, pl.xs[last],
                           <const uint8_t *>(pl.m + moff), pl.ms[last], r, scale)
            else:
                _seg_apply(pl.simd, xp, pl.xs[last], op_, pl.os[last],
                           <const uint8_t *>(pl.m + moff), pl.ms[last], r, scale)
        else:
            if pl.affine:
                _seg_affine(xp, pl.xs[last], op_, pl.os[last], keep + j, 1, r, scale, add,
                            fill)
            elif inplace:
                _seg_apply(pl.simd, xp, pl.xs[last], <floating *>xp, pl.xs[last], keep + j, 1, r,
                           scale)
            else:
                _seg_apply(pl.simd, xp, pl.xs[last], op_, pl.os[last], keep + j, 1, r, scale)
        pos += r
        idx[last] += r
        d = last
        while d > 0 and idx[d] == pl.shape[d]:
            idx[d] = 0
            d -= 1
            idx[d] += 1


cdef inline bint _needs_keep(const Plan *pl) noexcept nogil:
    """Whether a work item materialises its keep flags (else the fused loop
    tests the stream words inline)."""
    return (pl.src == SRC_BITS or pl.write_bits or pl.write_mask
            or (pl.affine and pl.src == SRC_STREAM))


cdef const uint32_t *_flags(const Plan *pl, Py_ssize_t start, Py_ssize_t end,
                            uint32_t *words, uint8_t *keep) noexcept nogil:
    """Steps 1 and 2 of a work item: the keep flags (stream words, tested
    into ``keep`` when needed, or unpacked bits; a bool mask is read where it
    is) and the mask outputs.  Returns the item's first stream word."""
    cdef Py_ssize_t cnt = end - start, k
    cdef uint64_t first, nblocks
    cdef const uint32_t *w = NULL
    cdef uint32_t thr = pl.thr
    cdef const uint8_t *bits_in
    if pl.src == SRC_STREAM:
        first = pl.phase + <uint64_t>start
        nblocks = <uint64_t>((pl.phase + <uint64_t>(end - 1)) >> 2) - (first >> 2) + 1
        _fill_wrapped(pl.fill, words, pl.block0 + (first >> 2), nblocks, pl.seed)
        w = words + (first & 3)
        if _needs_keep(pl):
            for k in range(cnt):
                keep[k] = w[k] >= thr
    elif pl.src == SRC_BITS:
        bits_in = pl.bits + (start >> 3)      # start is a multiple of 8
        for k in range(0, cnt, 8):
            cydrop_unpack8(bits_in[k >> 3], keep + k)

    if pl.write_bits:
        for k in range(cnt, (cnt + 7) & ~7):   # zero padding after the last element
            keep[k] = 0
        for k in range(0, cnt, 8):
            pl.bits[(start + k) >> 3] = cydrop_pack8(keep + k)
    if pl.write_mask:
        _walk[float](pl, start, end, keep, w, NULL, OP_SCATTER, 0)
    return w


cdef void _run_span(const Plan *pl, Py_ssize_t start, Py_ssize_t end,
                    floating scale) noexcept nogil:
    """Positions [start, end): start a multiple of CHUNK, the span of any
    length (the whole array when serial).  Contiguous x and out take the SIMD
    loops of simd.h directly: a forward from the stream makes its words as it
    goes (`_fused_part`), a bool mask or packed bits are applied in one call
    (the bits without unpacking them); the general three steps (`_run_items`)
    do the rest."""
    cdef Py_ssize_t a, done, k
    cdef bint nt
    if _contiguous(pl, <floating>0):
        if pl.src == SRC_STREAM and not pl.write_mask and not pl.affine:
            # from the first element on a block boundary (offset % 4 != 0);
            # writing bits, it must also start a byte of them.  Streaming
            # stores start where out is 64-byte aligned, on such an element.
            a = start + <Py_ssize_t>((4 - ((pl.phase + <uint64_t>start) & 3)) & 3)
            done = 0
            if not pl.write_bits or a % 8 == 0:
                k = _stream_from(pl, a, end, 8 if pl.write_bits else 4,
                                 <floating>0) if pl.nt else end
                nt = k < end
                if nt:
                    a = k
                done = _fused_part(pl, a, end, scale, nt)
            if done:
                if a > start:
                    _run_items(pl, start, a, scale)
                if a + done < end:
                    _run_chunks(pl, a + done, end, scale)
                return
        elif (pl.src == SRC_BOOL and not pl.affine and not pl.write_bits
                and pl.ms[0] == 1):
            a = _stream_from(pl, start, end, 1, <floating>0) if pl.nt else end
            if a > start:
                _keep_part(pl, start, a, scale, 0)
            if a < end:
                _keep_part(pl, a, end, scale, 1)
            return
        elif pl.src == SRC_BITS and not pl.affine:
            # start is a multiple of CHUNK, so on a byte of the bits; the
            # streaming part starts on one too
            a = _stream_from(pl, start, end, 8, <floating>0) if pl.nt else end
            if a > start:
                _bits_part(pl, start, a, scale, 0)
            if a < end:
                _bits_part(pl, a, end, scale, 1)
            return
    _run_chunks(pl, start, end, scale)


cdef inline Py_ssize_t _stream_from(const Plan *pl, Py_ssize_t start, Py_ssize_t end,
                                     Py_ssize_t step, floating kind) noexcept nogil:
    """The first position of [start, end), start + a multiple of ``step``,
    where out is 64-byte aligned (streaming stores begin there); ``end`` if
    none within 64 elements."""
    cdef Py_ssize_t k = start
    cdef Py_ssize_t stop = min(start + 64, end)
    while k < stop:
        if (<size_t>pl.o + <size_t>k * sizeof(floating)) % 64 == 0:
            return k
        k += step
    return end


cdef inline void _keep_part(const Plan *pl, Py_ssize_t a, Py_ssize_t b, floating scale,
                            int nt) noexcept nogil:
    """[a, b) of a contiguous bool mask, in one call to the element loop."""
    if floating is float:
        pl.simd.keep_f32(<const float *>pl.x + a, <float *>pl.o + a,
                         <const uint8_t *>pl.m + a, <size_t>(b - a), scale, nt)
    else:
        pl.simd.keep_f64(<const double *>pl.x + a, <double *>pl.o + a,
                         <const uint8_t *>pl.m + a, <size_t>(b - a), scale, nt)


cdef inline void _bits_part(const Plan *pl, Py_ssize_t a, Py_ssize_t b, floating scale,
                            int nt) noexcept nogil:
    """[a, b) of packed bits (a on a byte of them), in one call."""
    if floating is float:
        pl.simd.bits_f32(<const float *>pl.x + a, <float *>pl.o + a,
                         pl.bits + (a >> 3), <size_t>(b - a), scale, nt)
    else:
        pl.simd.bits_f64(<const double *>pl.x + a, <double *>pl.o + a,
                         pl.bits + (a >> 3), <size_t>(b - a), scale, nt)


cdef void _run_chunks(const Plan *pl, Py_ssize_t start, Py_ssize_t end,
                      floating scale) noexcept nogil:
    """[start, end) through `_run_items`, one work item (<= CHUNK) at a time;
    the pieces end on multiples of CHUNK, so packed-bit bytes stay whole."""
    cdef Py_ssize_t stop
    while start < end:
        stop = min((start // CHUNK + 1) * CHUNK, end)
        _run_items(pl, start, stop, scale)
        start = stop


cdef inline bint _contiguous(const Plan *pl, floating kind) noexcept nogil:
    """x and out given, contiguous (one merged axis, unit strides), not float16."""
    return (pl.x != NULL and pl.ndim == 1 and not pl.half
            and pl.xs[0] == <Py_ssize_t>sizeof(floating)
            and pl.os[0] == <Py_ssize_t>sizeof(floating))


cdef inline Py_ssize_t _fused_part(const Plan *pl, Py_ssize_t a, Py_ssize_t end,
                                   floating scale, bint nt) noexcept nogil:
    """The fused loop from element ``a`` (on a block boundary) towards ``end``,
    writing the packed bits too when the plan asks: returns how many elements
    it did (whole groups of blocks; 0 if none, if this path has no fused loop,
    or if the range runs past the stream's last block, where it wraps)."""
    cdef uint64_t b
    cdef uint8_t *bits = pl.bits + (a >> 3) if pl.write_bits else NULL
    if a >= end:
        return 0
    b = (pl.block0 + ((pl.phase + <uint64_t>a) >> 2)) & (_NBLOCKS - 1)
    if <uint64_t>(end - a) // 4 + 1 > _NBLOCKS - b:
        return 0
    if floating is float:
        if pl.simd.fused_f32 == NULL:
            return 0
        return <Py_ssize_t>pl.simd.fused_f32(<const float *>pl.x + a, <float *>pl.o + a, bits,
                                             <size_t>(end - a), b, pl.seed, pl.thr, scale, nt)
    else:
        if pl.simd.fused_f64 == NULL:
            return 0
        return <Py_ssize_t>pl.simd.fused_f64(<const double *>pl.x + a, <double *>pl.o + a, bits,
                                             <size_t>(end - a), b, pl.seed, pl.thr, scale, nt)


cdef void _run_items(const Plan *pl, Py_ssize_t start, Py_ssize_t end,
                     floating scale) noexcept nogil:
    """Steps 1-3 of a work item through the word/flag buffers."""
    cdef uint32_t words[CHUNK + 8]
    cdef uint8_t keep[CHUNK + 8]
    cdef const uint32_t *w = _flags(pl, start, end, words, keep)
    cdef int op
    if pl.x == NULL:
        return
    if floating is float:
        if pl.half:
            _run_chunk_half(pl, start, end, w, keep, scale)
            return
    if pl.src == SRC_BOOL:
        op = OP_APPLY_MASK
    elif _needs_keep(pl):
        op = OP_APPLY
    else:
        op = OP_APPLY_WORDS
    _walk(pl, start, end, keep, w, NULL, op, scale)


cdef void _run_chunk_half(const Plan *pl, Py_ssize_t start, Py_ssize_t end,
                          const uint32_t *w, uint8_t *keep, float scale) noexcept nogil:
    """Step 3 for float16: the item's elements into a float32 buffer, the
    float32 loop on it, then each result rounded once back to float16."""
    cdef float buf[CHUNK]
    cdef Py_ssize_t cnt = end - start
    cdef float add = <float>pl.add, fill = <float>pl.fill_value
    _walk[float](pl, start, end, keep, w, buf, OP_LOAD_HALF, scale)
    if pl.src == SRC_BOOL:
        _walk[float](pl, start, end, keep, w, buf, OP_GATHER, scale)
    if pl.src == SRC_BOOL or _needs_keep(pl):
        if pl.affine:
            _seg_affine(<const float *>buf, 4, buf, 4, keep, 1, cnt, scale, add, fill)
        else:
            _seg_apply(pl.simd, <const float *>buf, 4, buf, 4, keep, 1, cnt, scale)
    else:
        _seg_apply_words(pl.simd, <const float *>buf, 4, buf, 4, w, pl.thr, cnt, scale)
    _walk[float](pl, start, end, keep, w, buf, OP_STORE_HALF, scale)


cdef void _drive(const Plan *pl, floating scale, int nthreads) noexcept nogil:
    global _team_started
    cdef Py_ssize_t nchunks = (pl.n + CHUNK - 1) // CHUNK
    cdef Py_ssize_t c
    if nthreads <= 1 or nchunks < _parallel_min_chunks:
        # serial: no OpenMP region at all (entering one, even with a team of
        # one, costs about as much as a small array's whole kernel), and one
        # span: the SIMD loops run over the whole array in one call
        _run_span(pl, 0, pl.n, scale)
        return
    if nthreads > nchunks:      # a thread without a work item would only wait
        nthreads = <int>nchunks
    _team_started = True        # from now on a forked child must stay serial
    for c in prange(nchunks, schedule="static", num_threads=nthreads):
        _run_span(pl, c * CHUNK, min((c + 1) * CHUNK, pl.n), scale)


# ---------------------------------------------------------------------------
# Layout

cdef inline void _strides_of(object a, int nd, Py_ssize_t *dst):
    cdef int d
    cdef cnp.npy_intp *st
    if a is None:
        for d in range(nd):
            dst[d] = 0
    else:
        st = cnp.PyArray_STRIDES(<cnp.ndarray>a)
        for d in range(nd):
            dst[d] = st[d]


cdef void _make_plan(Plan *pl, cnp.ndarray ref, object x, object o, object m) except *:
    """Drop size-1 axes and merge axes that are contiguous in every array."""
    cdef int nd = cnp.PyArray_NDIM(ref), d, k = 0
    cdef cnp.npy_intp *shape = cnp.PyArray_DIMS(ref)
    cdef Py_ssize_t xs[MAXDIM]
    cdef Py_ssize_t os[MAXDIM]
    cdef Py_ssize_t ms[MAXDIM]
    cdef Py_ssize_t n = 1, size
    _strides_of(x, nd, xs)
    _strides_of(o, nd, os)
    _strides_of(m, nd, ms)
    for d in range(nd):
        size = shape[d]
        n *= size
        if size == 1:
            continue
        if (k > 0 and pl.xs[k - 1] == size * xs[d] and pl.os[k - 1] == size * os[d]
                and pl.ms[k - 1] == size * ms[d]):
            pl.shape[k - 1] *= size
            pl.xs[k - 1] = xs[d]
            pl.os[k - 1] = os[d]
            pl.ms[k - 1] = ms[d]
        else:
            pl.shape[k] = size
            pl.xs[k] = xs[d]
            pl.os[k] = os[d]
            pl.ms[k] = ms[d]
            k += 1
    if k == 0:
        pl.shape[0] = 1
        pl.xs[0] = 0
        pl.os[0] = 0
        pl.ms[0] = 0
        k = 1
    pl.ndim = k
    pl.n = n
    pl.x = NULL if x is None else <char *>cnp.PyArray_DATA(<cnp.ndarray>x)
    pl.o = NULL if o is None else <char *>cnp.PyArray_DATA(<cnp.ndarray>o)
    pl.m = NULL if m is None else <char *>cnp.PyArray_DATA(<cnp.ndarray>m)


cdef void _stream_plan(Plan *pl, uint64_t seed, uint64_t offset, uint32_t thr) noexcept nogil:
    pl.seed = seed
    pl.block0 = offset >> 2
    pl.phase = offset & 3
    pl.thr = thr


cdef void _execute(Plan *pl, bint is_double, double scale) noexcept nogil:
    """Run the walker over the plan on the configured thread count."""
    cdef int nthreads
    if pl.n == 0:
        return
    nthreads = _effective_threads()
    # a large result out of place is written with streaming stores: it would
    # not stay in cache anyway, and a normal store first reads the line.
    # Not for the fused forward in float64, where it measured no faster
    # (`python benchmarks/limit_paired.py --streaming` times both ways).
    pl.nt = (pl.o != NULL and pl.o != pl.x
             and (not is_double or pl.src != SRC_STREAM)
             and pl.n * (8 if is_double else 4) >= _stream_min_bytes)
    if is_double:
        _drive[double](pl, scale, nthreads)
    else:
        _drive[float](pl, <float>scale, nthreads)


cdef inline void _plan_defaults(Plan *pl) noexcept nogil:
    """What a plan does unless told otherwise: no bits, no mask written, the
    stream as the source (its key set by _stream_plan), the active Philox path."""
    pl.bits = NULL
    pl.src = SRC_STREAM
    pl.write_mask = False
    pl.write_bits = False
    _stream_plan(pl, 0, 0, 0)
    pl.fill = _fill
    pl.simd = _simd
    pl.nt = False
    pl.half = False
    pl.f16c = _f16c
    pl.affine = False
    pl.add = 0.0
    pl.fill_value = 0.0


cdef Plan _new_plan(cnp.ndarray ref, object x, object o, object m) except *:
    cdef Plan pl
    _make_plan(&pl, ref, x, o, m)
    _plan_defaults(&pl)
    return pl


cdef int _float_type(cnp.ndarray x, cnp.ndarray out) except -1:
    """NPY_FLOAT16, NPY_FLOAT or NPY_DOUBLE, the same for both arrays, else TypeError."""
    cdef int t = cnp.PyArray_TYPE(x)
    if (t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE and t != cnp.NPY_FLOAT16) \
            or cnp.PyArray_TYPE(out) != t \
            or not cnp.PyArray_ISNOTSWAPPED(x) or not cnp.PyArray_ISNOTSWAPPED(out):
        raise TypeError(f"kernels take native float16/32/64 arrays of one dtype, got "
                        f"{x.dtype} and {out.dtype}")
    if not cnp.PyArray_SAMESHAPE(x, out):
        raise ValueError(f"x has shape {(<object>x).shape} but out has {(<object>out).shape}")
    return t


cdef uint8_t *_bits_arg(cnp.ndarray bits, Py_ssize_t n, str name) except? NULL:
    if (cnp.PyArray_TYPE(bits) != cnp.NPY_UINT8 or cnp.PyArray_NDIM(bits) != 1
            or not cnp.PyArray_IS_C_CONTIGUOUS(bits) or bits.shape[0] != (n + 7) // 8):
        raise ValueError(f"{name} must be 1-D C-contiguous uint8 of {(n + 7) // 8} bytes")
    return <uint8_t *>cnp.PyArray_DATA(bits)


cdef _bool_arg(cnp.ndarray mask, cnp.ndarray like, str name):
    if cnp.PyArray_TYPE(mask) != cnp.NPY_BOOL or not cnp.PyArray_SAMESHAPE(mask, like):
        raise ValueError(f"{name} must be a bool array of shape {(<object>like).shape}")


cdef int _typed_plan(Plan *pl, int t, object affine) except -1:
    """float16 (computed in float32) and the alpha-dropout affine map."""
    pl.half = t == cnp.NPY_FLOAT16
    if affine is not None:
        pl.affine = True
        pl.add, pl.fill_value = affine
    return 0


def _via_aligned(fn, cnp.ndarray x, cnp.ndarray out, *args):
    """``fn(x, out, *args)`` for arrays not aligned to their element size
    (numpy allows them; the C loops may not dereference such pointers): x
    through an aligned copy, the result through an aligned buffer copied into
    ``out`` afterwards (in place stays in place).  ``fn`` checks the
    arguments first, so a bad call writes nothing here either."""
    xa = x if cnp.PyArray_ISALIGNED(x) else np.array(x, copy=True)
    if out is x:
        oa = xa
    elif cnp.PyArray_ISALIGNED(out):
        oa = out
    else:
        oa = np.empty_like(out)
    fn(xa, oa, *args)
    if oa is not out:
        np.copyto(out, oa)


def masked_scale(cnp.ndarray x not None, cnp.ndarray out not None,
                 cnp.ndarray mask=None, cnp.ndarray bits=None, double scale=1.0,
                 tuple affine=None):
    """Masked scaling: ``out = keep ? x * scale : 0`` with ``keep`` from a bool
    ``mask`` of x's shape (any strides: a broadcast view applies one flag to
    a whole span) or from packed ``bits`` (exactly one).  ``out`` may be
    ``x``; the scale is rounded once to the dtype (float32 for float16).
    ``affine=(add, fill)``: ``keep ? x * scale + add : fill`` instead.
    Arrays not aligned to their element size go through aligned copies
    (`_via_aligned`)."""
    cdef int t = _float_type(x, out)
    cdef Plan pl
    if not (cnp.PyArray_ISALIGNED(x) and cnp.PyArray_ISALIGNED(out)):
        return _via_aligned(masked_scale, x, out, mask, bits, scale, affine)
    if (mask is None) == (bits is None):
        raise ValueError("masked_scale takes exactly one of mask= or bits=")
    if mask is not None:
        _bool_arg(mask, x, "mask")
    pl = _new_plan(x, x, out, mask)
    _typed_plan(&pl, t, affine)
    if bits is not None:
        pl.bits = _bits_arg(bits, pl.n, "bits")
        pl.src = SRC_BITS
    else:
        pl.src = SRC_BOOL
    with nogil:
        _execute(&pl, t == cnp.NPY_DOUBLE, scale)


cdef int _stream_outputs(Plan *pl, uint64_t seed, uint64_t offset, uint32_t thr,
                         cnp.ndarray mask_out, cnp.ndarray bits_out) except -1:
    """The keep flags from the stream; also written as bools and/or bits."""
    _stream_plan(pl, seed, offset, thr)
    pl.write_mask = mask_out is not None
    if bits_out is not None:
        pl.bits = _bits_arg(bits_out, pl.n, "bits_out")
        pl.write_bits = True
    return 0


def fused_forward(cnp.ndarray x not None, cnp.ndarray out not None, uint64_t seed,
                  uint64_t offset, uint32_t thr, double scale, cnp.ndarray mask_out=None,
                  cnp.ndarray bits_out=None, tuple affine=None):
    """The fused forward (and the regenerating backward): element ``i`` is
    kept iff stream word ``offset + i`` (mod 2**64) under ``seed`` is
    ``>= thr``; ``out = keep ? x * scale : 0``.  Optionally writes the mask
    too, as bools (``mask_out``, x's shape) and/or packed bits (``bits_out``).
    ``affine=(add, fill)`` as in `masked_scale`; unaligned arrays as there."""
    cdef int t = _float_type(x, out)
    cdef Plan pl
    if not (cnp.PyArray_ISALIGNED(x) and cnp.PyArray_ISALIGNED(out)):
        return _via_aligned(fused_forward, x, out, seed, offset, thr, scale, mask_out,
                            bits_out, affine)
    if mask_out is not None:
        _bool_arg(mask_out, x, "mask_out")
    pl = _new_plan(x, x, out, mask_out)
    _typed_plan(&pl, t, affine)
    _stream_outputs(&pl, seed, offset, thr, mask_out, bits_out)
    with nogil:
        _execute(&pl, t == cnp.NPY_DOUBLE, scale)


def draw_mask(tuple shape, *, uint64_t seed, uint64_t offset, uint32_t thr,
              cnp.ndarray mask_out=None, cnp.ndarray bits_out=None):
    """Only the mask: write the keep flags of an array of ``shape`` at stream
    position ``offset`` as bools (``mask_out``, of ``shape``) and/or packed
    bits (``bits_out``)."""
    cdef Plan pl
    cdef cnp.ndarray ref
    if mask_out is None and bits_out is None:
        raise ValueError("draw_mask needs mask_out= or bits_out=")
    if mask_out is not None:
        ref = mask_out
        if cnp.PyArray_TYPE(mask_out) != cnp.NPY_BOOL or (<object>mask_out).shape != shape:
            raise ValueError(f"mask_out must be a bool array of shape {shape}")
    else:
        # the walker takes the logical shape from a zero-stride stand-in
        ref = np.lib.stride_tricks.as_strided(np.empty(1, bool), shape=shape,
                                              strides=(0,) * len(shape))
    pl = _new_plan(ref, None, None, mask_out)
    _stream_outputs(&pl, seed, offset, thr, mask_out, bits_out)
    with nogil:
        _execute(&pl, False, 1.0)


# ---------------------------------------------------------------------------
# The Cython API (declared in cydrop/_kernels.pxd, documented in
# cydrop/kernels.pxd): 1-D contiguous views, a plan of one axis, the same
# walker as above.

cdef inline void _plan_1d(Plan *pl, Py_ssize_t n, Py_ssize_t item, const void *x,
                          void *o, const uint8_t *m) noexcept nogil:
    pl.ndim = 1
    pl.n = n
    pl.shape[0] = n if n > 0 else 1
    pl.xs[0] = item
    pl.os[0] = item
    pl.ms[0] = 1
    pl.x = <char *>x
    pl.o = <char *>o
    pl.m = <char *>m
    _plan_defaults(pl)


cdef inline bint _bad_p(double p) noexcept nogil:
    return not (p >= 0.0 and p <= 1.0)      # NaN too


cdef uint32_t keep_threshold(double p) noexcept nogil:
    """floor(p * 2**32) for p in [0, 1) (exact: 2**32 is a power of two)."""
    if not (p > 0.0):
        return 0
    if p >= 1.0:
        return 0xFFFFFFFFu
    return <uint32_t>(p * 4294967296.0)


cdef double keep_scale(double p) noexcept nogil:
    return 1.0 / (1.0 - p)


def threshold(double p):
    """``floor(p * 2**32)``: words at or above it are kept (p in [0, 1))."""
    return keep_threshold(p)


def stream_advance(uint64_t offset, uint64_t n):
    """The stream position after a call on ``n`` elements at ``offset``:
    ``n`` rounded up to whole 4-word blocks, modulo 2**64 (the one rule the
    default stream and every module follow)."""
    return _advance(offset, n)


cdef inline uint64_t _advance(uint64_t offset, uint64_t n) noexcept nogil:
    return offset + ((n + 3) & ~(<uint64_t>3))


cdef int _masked(const floating *x, const uint8_t *mask, const uint8_t *bits, Py_ssize_t n,
                 double scale, floating *out) noexcept nogil:
    cdef Plan pl
    if n == 0:
        return DROPOUT_OK
    _plan_1d(&pl, n, sizeof(floating), x, out, mask)
    if bits != NULL:
        pl.bits = <uint8_t *>bits
        pl.src = SRC_BITS
    else:
        pl.src = SRC_BOOL
    _execute(&pl, floating is double, scale)
    return DROPOUT_OK


cdef int _zeros(floating *out, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(n):
        out[k] = 0
    return DROPOUT_OK


cdef int apply_mask(const floating[::1] x, const uint8_t[::1] mask, double scale,
                    floating[::1] out) noexcept nogil:
    cdef Py_ssize_t n = x.shape[0]
    if mask.shape[0] != n or out.shape[0] != n:
        return DROPOUT_ERR_LENGTH
    return _masked(&x[0] if n else NULL, &mask[0] if n else NULL, NULL, n, scale,
                   &out[0] if n else NULL)


cdef int apply_mask_inplace(floating[::1] x, const uint8_t[::1] mask,
                            double scale) noexcept nogil:
    cdef Py_ssize_t n = x.shape[0]
    if mask.shape[0] != n:
        return DROPOUT_ERR_LENGTH
    return _masked(&x[0] if n else NULL, &mask[0] if n else NULL, NULL, n, scale,
                   &x[0] if n else NULL)


cdef int apply_bits(const floating[::1] x, const uint8_t[::1] bits, double scale,
                    floating[::1] out) noexcept nogil:
    cdef Py_ssize_t n = x.shape[0]
    if bits.shape[0] != (n + 7) // 8 or out.shape[0] != n:
        return DROPOUT_ERR_LENGTH
    return _masked(&x[0] if n else NULL, NULL, &bits[0] if n else NULL, n, scale,
                   &out[0] if n else NULL)


cdef int apply_bits_inplace(floating[::1] x, const uint8_t[::1] bits,
                            double scale) noexcept nogil:
    cdef Py_ssize_t n = x.shape[0]
    if bits.shape[0] != (n + 7) // 8:
        return DROPOUT_ERR_LENGTH
    return _masked(&x[0] if n else NULL, NULL, &bits[0] if n else NULL, n, scale,
                   &x[0] if n else NULL)


cdef int _stream(const floating *x, Py_ssize_t n, double p, uint64_t seed, uint64_t offset,
                 floating *out, uint8_t *mask_out, uint8_t *bits_out) noexcept nogil:
    """The fused forward / regenerating backward on one contiguous axis; p in
    [0, 1] (p == 1: zeros and an all-dropped mask)."""
    cdef Plan pl
    cdef Py_ssize_t k
    if n == 0:
        return DROPOUT_OK
    if p == 1.0:
        if x != NULL:
            _zeros(out, n)
        if mask_out != NULL:
            for k in range(n):
                mask_out[k] = 0
        if bits_out != NULL:
            for k in range((n + 7) // 8):
                bits_out[k] = 0
        return DROPOUT_OK
    _plan_1d(&pl, n, sizeof(floating), x, out, mask_out)
    _stream_plan(&pl, seed, offset, keep_threshold(p))
    pl.write_mask = mask_out != NULL
    if bits_out != NULL:
        pl.bits = bits_out
        pl.write_bits = True
    _execute(&pl, floating is double, keep_scale(p))
    return DROPOUT_OK


cdef int forward(const floating[::1] x, double p, uint64_t seed, uint64_t offset,
                 floating[::1] out) noexcept nogil:
    cdef Py_ssize_t n = x.shape[0]
    if _bad_p(p):
        return DROPOUT_ERR_P
    if out.shape[0] != n:
        return DROPOUT_ERR_LENGTH
    return _stream(&x[0] if n else NULL, n, p, seed, offset, &out[0] if n else NULL,
                   NULL, NULL)


cdef int forward_mask(const floating[::1] x, double p, uint64_t seed, uint64_t offset,
                      floating[::1] out, uint8_t[::1] mask_out) noexcept nogil:
    cdef Py_ssize_t n = x.shape[0]
    if _bad_p(p):
        return DROPOUT_ERR_P
    if out.shape[0] != n or mask_out.shape[0] != n:
        return DROPOUT_ERR_LENGTH
    return _stream(&x[0] if n else NULL, n, p, seed, offset, &out[0] if n else NULL,
                   &mask_out[0] if n else NULL, NULL)


cdef int forward_bits(const floating[::1] x, double p, uint64_t seed, uint64_t offset,
                      floating[::1] out, uint8_t[::1] bits_out) noexcept nogil:
    cdef Py_ssize_t n = x.shape[0]
    if _bad_p(p):
        return DROPOUT_ERR_P
    if out.shape[0] != n or bits_out.shape[0] != (n + 7) // 8:
        return DROPOUT_ERR_LENGTH
    return _stream(&x[0] if n else NULL, n, p, seed, offset, &out[0] if n else NULL,
                   NULL, &bits_out[0] if n else NULL)


cdef int backward_mask(const floating[::1] grad, const uint8_t[::1] mask, double p,
                       floating[::1] out) noexcept nogil:
    cdef Py_ssize_t n = grad.shape[0]
    if _bad_p(p):
        return DROPOUT_ERR_P
    if mask.shape[0] != n or out.shape[0] != n:
        return DROPOUT_ERR_LENGTH
    if p == 1.0:
        return _zeros(&out[0] if n else NULL, n)
    return _masked(&grad[0] if n else NULL, &mask[0] if n else NULL, NULL, n, keep_scale(p),
                   &out[0] if n else NULL)


cdef int backward_bits(const floating[::1] grad, const uint8_t[::1] bits, double p,
                       floating[::1] out) noexcept nogil:
    cdef Py_ssize_t n = grad.shape[0]
    if _bad_p(p):
        return DROPOUT_ERR_P
    if bits.shape[0] != (n + 7) // 8 or out.shape[0] != n:
        return DROPOUT_ERR_LENGTH
    if p == 1.0:
        return _zeros(&out[0] if n else NULL, n)
    return _masked(&grad[0] if n else NULL, NULL, &bits[0] if n else NULL, n, keep_scale(p),
                   &out[0] if n else NULL)


cdef int backward_stream(const floating[::1] grad, double p, uint64_t seed,
                         uint64_t offset, floating[::1] out) noexcept nogil:
    return forward(grad, p, seed, offset, out)


cdef int fill_words(uint32_t[::1] words, uint64_t seed, uint64_t offset) noexcept nogil:
    """Words offset .. offset + len(words) - 1 of the stream (mod 2**64)."""
    cdef Py_ssize_t n = words.shape[0], k
    cdef uint32_t block[4]
    cdef uint64_t lead = offset & 3, b = offset >> 2
    cdef Py_ssize_t whole
    k = 0
    if n == 0:
        return DROPOUT_OK
    if lead:            # the partial first block
        _fill_wrapped(_fill, block, b, 1, seed)
        while lead < 4 and k < n:
            words[k] = block[lead]
            k += 1
            lead += 1
        b += 1
    whole = (n - k) // 4
    if whole:
        _fill_wrapped(_fill, &words[k], b, <uint64_t>whole, seed)
        k += 4 * whole
        b += <uint64_t>whole
    if k < n:           # the partial last block
        _fill_wrapped(_fill, block, b, 1, seed)
        lead = 0
        while k < n:
            words[k] = block[lead]
            k += 1
            lead += 1
    return DROPOUT_OK


def stream_into(uint32_t[::1] words not None, uint64_t seed, uint64_t offset):  # OUT
    """Write words ``offset .. offset + len(words) - 1`` (mod 2**64) of the
    stream keyed by ``seed`` into ``words``: `fill_words`, for Python."""
    with nogil:
        fill_words(words, seed, offset)


# ---------------------------------------------------------------------------
# The stream itself

def philox4x32(counter, key, int rounds=10):
    """One Philox4x32 block: four 32-bit counter words and two key words in,
    four words out (a tuple of ints).  ``rounds=10`` is the stream's."""
    cdef uint32_t c[4]
    cdef uint32_t k[2]
    cdef uint32_t out[4]
    cdef int i
    if len(counter) != 4 or len(key) != 2:
        raise ValueError("philox4x32 takes 4 counter words and 2 key words")
    for i in range(4):
        if not 0 <= counter[i] <= 0xFFFFFFFF:
            raise ValueError(f"counter word {counter[i]!r} is not a 32-bit unsigned integer")
        c[i] = counter[i]
    for i in range(2):
        if not 0 <= key[i] <= 0xFFFFFFFF:
            raise ValueError(f"key word {key[i]!r} is not a 32-bit unsigned integer")
        k[i] = key[i]
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")
    cydrop_philox4x32(c, k, rounds, out)
    return (out[0], out[1], out[2], out[3])


def fill_blocks(uint32_t[::1] words, uint64_t block0, uint64_t seed, impl=None):  # OUT
    """Write stream blocks ``block0, block0 + 1, ...`` (four words each, block
    numbers modulo 2**62) into ``words`` (its length a multiple of 4) with the
    named implementation ("scalar", "avx2", "avx512"; default: the active one)."""
    cdef cydrop_fill_fn fn = _fill
    cdef size_t nblocks = words.shape[0] // 4
    if words.shape[0] % 4:
        raise ValueError("words must hold a whole number of 4-word blocks")
    if impl is not None:
        if not impl_supported(impl):
            raise ValueError(f"Philox implementation {impl!r} is not available on this CPU/build")
        fn = cydrop_impl_fn(IMPLS[impl])
    if nblocks:
        with nogil:
            _fill_wrapped(fn, &words[0], block0, nblocks, seed)


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


def half_convert(cnp.ndarray src not None, cnp.ndarray dst not None, impl=None):
    """Convert 1-D contiguous float32 ``src`` to float16 ``dst`` (rounding to
    nearest even), or float16 to float32, with the named conversion ("f16c",
    "portable"; default: the active one).  For tests of the two paths."""
    cdef int f16c = _f16c
    cdef Py_ssize_t n = src.shape[0]
    if impl is not None:
        if impl not in ("f16c", "portable"):
            raise ValueError(f"impl must be 'f16c' or 'portable', got {impl!r}")
        if impl == "f16c" and not cydrop_f16c_supported():
            raise ValueError("this CPU/build has no F16C")
        f16c = impl == "f16c"
    if (src.ndim != 1 or dst.ndim != 1 or dst.shape[0] != n
            or not src.flags.c_contiguous or not dst.flags.c_contiguous
            or not dst.flags.writeable):
        raise ValueError("src and dst must be 1-D contiguous arrays of one length")
    if src.dtype == np.float32 and dst.dtype == np.float16:
        with nogil:
            cydrop_f2h(f16c, <const float *>cnp.PyArray_DATA(src),
                       <char *>cnp.PyArray_DATA(dst), 2, n)
    elif src.dtype == np.float16 and dst.dtype == np.float32:
        with nogil:
            cydrop_h2f(f16c, <const char *>cnp.PyArray_DATA(src), 2,
                       <float *>cnp.PyArray_DATA(dst), n)
    else:
        raise TypeError("half_convert takes float32 -> float16 or float16 -> float32")


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


cdef inline void _extent(cnp.ndarray a, char **lo, char **hi):
    """First and one-past-last byte an array's elements touch."""
    cdef int d
    cdef char *p = <char *>cnp.PyArray_DATA(a)
    cdef Py_ssize_t low = 0, high = cnp.PyArray_ITEMSIZE(a), step
    for d in range(cnp.PyArray_NDIM(a)):
        if cnp.PyArray_DIMS(a)[d] == 0:
            lo[0] = p
            hi[0] = p
            return
        step = (cnp.PyArray_DIMS(a)[d] - 1) * cnp.PyArray_STRIDES(a)[d]
        if step < 0:
            low += step
        else:
            high += step
    lo[0] = p + low
    hi[0] = p + high


def overlap(cnp.ndarray a, cnp.ndarray b):
    """0 if ``a`` and ``b`` touch disjoint memory, 1 if they are the same
    elements in the same layout (safe for an elementwise kernel), 2 if they
    may overlap otherwise (bounds only, as ``np.may_share_memory``)."""
    return _overlap(a, b)


cdef int _overlap(cnp.ndarray a, cnp.ndarray b):
    cdef char *alo
    cdef char *ahi
    cdef char *blo
    cdef char *bhi
    cdef int d
    _extent(a, &alo, &ahi)
    _extent(b, &blo, &bhi)
    if ahi <= blo or bhi <= alo:
        return 0
    if (cnp.PyArray_DATA(a) == cnp.PyArray_DATA(b) and cnp.PyArray_NDIM(a) == cnp.PyArray_NDIM(b)
            and cnp.PyArray_ITEMSIZE(a) == cnp.PyArray_ITEMSIZE(b)):
        for d in range(cnp.PyArray_NDIM(a)):
            if (cnp.PyArray_DIMS(a)[d] != cnp.PyArray_DIMS(b)[d]
                    or (cnp.PyArray_DIMS(a)[d] > 1
                        and cnp.PyArray_STRIDES(a)[d] != cnp.PyArray_STRIDES(b)[d])):
                return 2
        return 1
    return 2


def self_overlap(cnp.ndarray a not None):
    """0 if no two elements of ``a`` share a byte, 1 if some certainly do (a
    zero stride on an axis longer than 1), 2 if the fast test cannot tell
    (axes sorted by stride, each stride must clear the extent of the smaller
    ones: numpy's sufficient test; the caller then decides exactly)."""
    return _self_overlap(a)


def written_state(cnp.ndarray a not None):
    """For an array about to be written: 0 fine, 1 read-only, 2 elements
    share memory, 3 the fast overlap test cannot tell (see `self_overlap`).
    One call, so that the common case costs no Python attribute lookups."""
    cdef int v
    if not cnp.PyArray_ISWRITEABLE(a):
        return 1
    v = _self_overlap(a)
    return 0 if v == 0 else (2 if v == 1 else 3)


cdef int _self_overlap(cnp.ndarray a):
    cdef int nd = cnp.PyArray_NDIM(a), d, k, j, n = 0
    cdef Py_ssize_t st[MAXDIM]
    cdef Py_ssize_t sh[MAXDIM]
    cdef Py_ssize_t s, extent, t
    if cnp.PyArray_IS_C_CONTIGUOUS(a) or cnp.PyArray_IS_F_CONTIGUOUS(a):
        return 0
    for d in range(nd):
        if cnp.PyArray_DIMS(a)[d] == 0:
            return 0
        if cnp.PyArray_DIMS(a)[d] == 1:
            continue
        s = cnp.PyArray_STRIDES(a)[d]
        if s == 0:
            return 1
        # insertion sort by |stride| (nd is small)
        s = -s if s < 0 else s
        k = n
        while k > 0 and st[k - 1] > s:
            st[k] = st[k - 1]
            sh[k] = sh[k - 1]
            k -= 1
        st[k] = s
        sh[k] = cnp.PyArray_DIMS(a)[d]
        n += 1
    extent = cnp.PyArray_ITEMSIZE(a)
    for j in range(n):
        if st[j] < extent:
            return 2
        extent += st[j] * (sh[j] - 1)
    return 0


# ---------------------------------------------------------------------------
# A stream of one's own: what a module (cydrop.Dropout) draws from.


cdef class Stream:
    """A key and a position in the Philox stream: what a `cydrop.Dropout`
    layer draws its masks from.

    `take` reserves a range and advances the position in one step that
    holds the GIL and never releases it, so that concurrent Python threads
    never get overlapping ranges, with no lock (a lock would not survive
    pickling, and one held by another thread at a fork would stay held in
    the child forever).  Pickles and copies as its ``(seed, offset)``.
    """
    cdef uint64_t _seed
    cdef uint64_t _offset

    def __init__(self, uint64_t seed=0, uint64_t offset=0):
        self._seed = seed
        self._offset = offset

    def take(self, uint64_t n):
        """``(seed, offset)`` for a call on ``n`` elements; the position
        advances by ``n`` rounded up to whole 4-word blocks (modulo 2**64)."""
        cdef uint64_t offset = self._offset
        self._offset = _advance(offset, n)
        return (self._seed, offset)

    def state(self):
        """``(seed, offset)``, without advancing."""
        return (self._seed, self._offset)

    def set(self, uint64_t seed, uint64_t offset):
        """Key ``seed``, position ``offset``."""
        self._seed = seed
        self._offset = offset

    def __reduce__(self):
        return (Stream, (self._seed, self._offset))

    def __eq__(self, other):
        if not isinstance(other, Stream):
            return NotImplemented
        return self.state() == (<Stream>other).state()

    __hash__ = None

    def __repr__(self):
        return f"Stream(seed={self._seed}, offset={self._offset})"


# ---------------------------------------------------------------------------
# The default stream (used when dropout gets no seed): a key and a position.
# These functions hold the GIL and never release it, so each call is atomic
# with respect to other Python threads: no lock needed.

cdef uint64_t _default_seed = 0
cdef uint64_t _default_offset = 0


def default_stream_reset(uint64_t seed):
    """Key the default stream with ``seed`` and restart it at position 0."""
    global _default_seed, _default_offset
    _default_seed = seed
    _default_offset = 0


def default_stream_take(Py_ssize_t n):
    """``(seed, offset)`` for a call on ``n`` elements; the position advances by
    ``n`` rounded up to whole 4-word blocks (wrapping modulo 2**64)."""
    global _default_offset
    cdef uint64_t offset = _default_offset
    _default_offset = _advance(offset, <uint64_t>n)
    return (_default_seed, offset)


def default_stream_state():
    """``(seed, offset)`` of the default stream, without advancing it."""
    return (_default_seed, _default_offset)


cdef extern from "numpy/arrayobject.h":
    # numpy's own declaration takes a descr it steals; NULL (x's dtype) is what we need
    object PyArray_NewLikeArray(cnp.ndarray prototype, cnp.NPY_ORDER order, void *descr,
                                int subok)

# Below this many elements the one-call entries keep the GIL: releasing and
# taking it back costs more than the kernel.
cdef Py_ssize_t _NOGIL_MIN = 4096


cdef int _execute_default(Plan *pl, int t, double p, bint vanilla) except -1:
    """The kernel of a one-call entry: kept elements scaled by 1 / (1 - p)
    (1 with ``vanilla``), the GIL released from _NOGIL_MIN elements on."""
    cdef double scale = 1.0 if vanilla else 1.0 / (1.0 - p)
    if pl.n < _NOGIL_MIN:
        _execute(pl, t == cnp.NPY_DOUBLE, scale)
    else:
        with nogil:
            _execute(pl, t == cnp.NPY_DOUBLE, scale)
    return 0


cdef object _fast_result(object x, object out, bint inplace):
    """The array a one-call path writes: ``x`` (inplace), ``out``, or a fresh
    one in x's layout; None, touching nothing, unless ``x`` (and ``out``) are
    exactly numpy.ndarray of one native float16/32/64 dtype and shape,
    aligned, the written array writeable with no two elements sharing
    memory, and ``out`` disjoint from ``x``."""
    cdef cnp.ndarray a, res
    cdef int t
    if type(x) is not np.ndarray:
        return None
    a = <cnp.ndarray>x
    t = cnp.PyArray_TYPE(a)
    if ((t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE and t != cnp.NPY_FLOAT16)
            or not cnp.PyArray_ISNOTSWAPPED(a) or not cnp.PyArray_ISALIGNED(a)):
        return None
    if inplace:
        if (out is not None and out is not x) or not cnp.PyArray_ISWRITEABLE(a) \
                or _self_overlap(a) != 0:
            return None
        return a
    if out is not None:
        if type(out) is not np.ndarray:
            return None
        res = <cnp.ndarray>out
        if (cnp.PyArray_TYPE(res) != t or not cnp.PyArray_ISNOTSWAPPED(res)
                or not cnp.PyArray_ISALIGNED(res)
                or not cnp.PyArray_SAMESHAPE(a, res) or not cnp.PyArray_ISWRITEABLE(res)
                or _self_overlap(res) != 0 or _overlap(res, a) != 0):
            return None
        return res
    return <cnp.ndarray>PyArray_NewLikeArray(a, cnp.NPY_KEEPORDER, NULL, 1)


def default_forward(object x, double p, object out=None, bint inplace=False,
                    object seed=None, uint64_t offset=0, bint vanilla=False):
    """``dropout(x, p, out=out, inplace=inplace)`` with every other argument
    at its default, in one call (the hot path of small arrays): the mask from
    the default stream, which advances as `default_stream_take` says, or,
    given ``seed`` (an int the caller has checked to be in [0, 2**64)), from
    ``(seed, offset)`` (``dropout(x, p, seed=, offset=)``, and the recomputing
    ``dropout_backward``); the result in ``x`` (inplace), in ``out``, or
    fresh in x's layout.  ``0 < p < 1`` is the caller's to check.  Returns
    None, touching nothing, unless the arrays are plain ones
    (`_fast_result`): the caller then takes the general path, whose checks
    convert, copy or raise.  ``vanilla``: the kept elements are not scaled
    (``scaling="vanilla"`` in training)."""
    global _default_offset
    cdef cnp.ndarray a, res
    cdef int t
    cdef Plan pl
    r = _fast_result(x, out, inplace)
    if r is None:
        return None
    a = <cnp.ndarray>x
    res = <cnp.ndarray>r
    t = cnp.PyArray_TYPE(a)
    pl = _new_plan(a, a, res, None)
    _typed_plan(&pl, t, None)
    if seed is None:
        _stream_plan(&pl, _default_seed, _default_offset, keep_threshold(p))
        _default_offset = _advance(_default_offset, <uint64_t>pl.n)
    else:
        _stream_plan(&pl, <uint64_t>seed, offset, keep_threshold(p))
    _execute_default(&pl, t, p, vanilla)
    return res


def default_masked(object x, object mask, double p, object out=None, bint inplace=False,
                   bint vanilla=False):
    """``dropout(x, p, mask=mask, out=out, inplace=inplace)`` and
    ``dropout_backward(x, mask, p, out=out, inplace=inplace)`` with every
    other argument at its default, in one call: ``keep ? x / (1 - p) : 0``,
    ``keep`` from a bool mask of x's shape or from packed bits (1-D
    C-contiguous uint8 of ``ceil(size / 8)`` bytes).  ``0 < p < 1`` is the
    caller's to check.  Returns None, touching nothing, unless the arrays are
    plain ones (`_fast_result`) and the mask is exactly one of those two,
    disjoint from the result: the caller then takes the general path.
    ``vanilla``: the kept elements are not scaled."""
    cdef cnp.ndarray a, res, m
    cdef int t, mt
    cdef Plan pl
    if type(mask) is not np.ndarray:
        return None
    r = _fast_result(x, out, inplace)
    if r is None:
        return None
    a = <cnp.ndarray>x
    res = <cnp.ndarray>r
    m = <cnp.ndarray>mask
    t = cnp.PyArray_TYPE(a)
    mt = cnp.PyArray_TYPE(m)
    if mt == cnp.NPY_BOOL:
        if not cnp.PyArray_SAMESHAPE(a, m) or _overlap(res, m) != 0:
            return None
        pl = _new_plan(a, a, res, m)
        pl.src = SRC_BOOL
    elif mt == cnp.NPY_UINT8:
        if (cnp.PyArray_NDIM(m) != 1 or not cnp.PyArray_IS_C_CONTIGUOUS(m)
                or m.shape[0] != (cnp.PyArray_SIZE(a) + 7) // 8 or _overlap(res, m) != 0):
            return None
        pl = _new_plan(a, a, res, None)
        pl.bits = <uint8_t *>cnp.PyArray_DATA(m)
        pl.src = SRC_BITS
    else:
        return None
    _typed_plan(&pl, t, None)
    _execute_default(&pl, t, p, vanilla)
    return res
