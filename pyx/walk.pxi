# The walker (included by _kernels.pyx): runs a plan.  Top down:
#
#   _run_plan              element type, streaming stores, thread count
#   _run_across_threads    serial in one span, or CHUNK-aligned blocks shared with
#                          the worker threads (pool.h)
#   _choose_span_path      contiguous x and out: one SIMD loop call for the span
#                          (fused from the stream, bool mask, packed bits);
#                          anything else: work item by work item
#   _cut_into_items        the span cut at multiples of CHUNK
#   _run_item              one work item: keep flags (_item_flags), then
#                          _walk_segments applies them (float16: _run_item_half)
#   _walk_segments         the item's positions in C order, one contiguous
#                          segment of the last axis at a time (_seg_* loops)


# ---------------------------------------------------------------------------
# Running a plan: the element type, the threads, a span's path

cdef void _run_plan(Plan *pl, bint is_double, double scale) noexcept nogil:
    """Run the walker over the plan on the configured thread count."""
    cdef int nthreads
    if pl.n == 0:
        return
    nthreads = _effective_threads()
    # a large result out of place is written with streaming stores: it would
    # not stay in cache anyway, and a normal store first reads the line.
    # Not for the fused forward in float64, where it measured no faster
    # (`python -m cydrop bench limit --streaming` times both ways).  The
    # threshold is the result's bytes (a float16 result's are two an element)
    pl.nt = (pl.o != NULL and pl.o != pl.x
             and (not is_double or pl.src != SRC_STREAM)
             and pl.n * (8 if is_double else 2 if pl.half else 4) >= _stream_min_bytes)
    if is_double:
        _run_across_threads[double](pl, scale, nthreads)
    else:
        _run_across_threads[float](pl, <float>scale, nthreads)


ctypedef struct _SpanJob:
    const Plan *pl
    double scale        # a float's scale converts to double and back exactly


cdef void _span_f32(void *job, Py_ssize_t start, Py_ssize_t end) noexcept nogil:
    cdef _SpanJob *j = <_SpanJob *>job
    _choose_span_path[float](j.pl, start, end, <float>j.scale)


cdef void _span_f64(void *job, Py_ssize_t start, Py_ssize_t end) noexcept nogil:
    cdef _SpanJob *j = <_SpanJob *>job
    _choose_span_path[double](j.pl, start, end, j.scale)


cdef void _run_across_threads(const Plan *pl, floating scale, int nthreads) noexcept nogil:
    """Serial in one span, or CHUNK-aligned blocks shared with the worker
    threads (pool.h): the calling thread works through the blocks, helpers
    take the next one only while they run, and the call waits only for
    blocks already taken (docs/design.md, "Threads on a busy machine")."""
    global _team_started
    cdef Py_ssize_t nchunks = (pl.n + CHUNK - 1) // CHUNK
    cdef Py_ssize_t per
    cdef _SpanJob job
    if nthreads <= 1 or nchunks < _parallel_min_chunks or omp_in_parallel():
        # serial: no worker woken (waking one costs about as much as a small
        # array's whole kernel), and one span: the SIMD loops run over the
        # whole array in one call.  Inside a caller's own parallel region
        # (a prange calling the Cython API) the region's threads already
        # share the cores.
        _choose_span_path(pl, 0, pl.n, scale)
        return
    if nthreads > nchunks:      # a thread without a work item would only wait
        nthreads = <int>nchunks
    # blocks of whole work items, about _blocks_per_thread per thread: large
    # enough that taking one (an atomic on a shared line) is cheap beside
    # it, small enough that a helper late or descheduled holds little
    per = nchunks // (<Py_ssize_t>nthreads * _blocks_per_thread)
    if per > _block_max_chunks:
        per = _block_max_chunks
    if per < 1:
        per = 1
    _team_started = True        # from now on a forked child must stay serial
    job.pl = pl
    job.scale = scale
    if floating is float:
        cydrop_pool_run(_span_f32, &job, pl.n, per * CHUNK, nthreads)
    else:
        cydrop_pool_run(_span_f64, &job, pl.n, per * CHUNK, nthreads)


cdef void _choose_span_path(const Plan *pl, Py_ssize_t start, Py_ssize_t end,
                            floating scale) noexcept nogil:
    """Positions [start, end): start a multiple of CHUNK, the span of any
    length (the whole array when serial).  Contiguous x and out take the SIMD
    loops of simd.h directly: a forward from the stream makes its words as it
    goes (`_contiguous_fused`; float16 and alpha dropout too), a bool mask
    or packed bits are applied in one call (the bits
    without unpacking them; float32 and float64, not alpha), one flag for
    every element is the scale loop (`_contiguous_one_flag`); the general
    three steps (`_run_item`) do the rest."""
    cdef Py_ssize_t a, done, k
    cdef bint nt
    # the bytes of an element as stored: float16 is computed in float32
    cdef size_t item = 2 if floating is float and pl.half else sizeof(floating)
    if _is_contiguous(pl, item):
        if pl.src == SRC_STREAM and not pl.write_mask:
            # from the first element on a block boundary (offset % 4 != 0);
            # writing bits, it must also start a byte of them.  Streaming
            # stores start where out is 64-byte aligned, on such an element.
            a = start + <Py_ssize_t>((4 - ((pl.phase + <uint64_t>start) & 3)) & 3)
            done = 0
            if not pl.write_bits or a % 8 == 0:
                k = _first_aligned(pl, a, end, 8 if pl.write_bits else 4,
                                   item) if pl.nt else end
                nt = k < end
                if nt:
                    a = k
                done = _contiguous_fused(pl, a, end, scale, nt)
            if done:
                if a > start:
                    _run_item(pl, start, a, scale)
                if a + done < end:
                    _cut_into_items(pl, a + done, end, scale)
                return
        elif (pl.src == SRC_BOOL and not pl.affine and not pl.half and not pl.write_bits
                and pl.m_strides[0] == 0):
            # one flag for every element (a broadcast scalar mask: vanilla
            # evaluation's x * (1 - p)): a scale, or zeros
            a = _first_aligned(pl, start, end, 1, sizeof(floating)) if pl.nt else end
            if a > start:
                _contiguous_one_flag(pl, start, a, scale, 0)
            if a < end:
                _contiguous_one_flag(pl, a, end, scale, 1)
            return
        elif (pl.src == SRC_BOOL and not pl.affine and not pl.half and not pl.write_bits
                and pl.m_strides[0] == 1):
            a = _first_aligned(pl, start, end, 1, sizeof(floating)) if pl.nt else end
            if a > start:
                _contiguous_keep(pl, start, a, scale, 0)
            if a < end:
                _contiguous_keep(pl, a, end, scale, 1)
            return
        elif pl.src == SRC_BITS and not pl.affine and not pl.half:
            # start is a multiple of CHUNK, so on a byte of the bits; the
            # streaming part starts on one too
            a = _first_aligned(pl, start, end, 8, sizeof(floating)) if pl.nt else end
            if a > start:
                _contiguous_bits(pl, start, a, scale, 0)
            if a < end:
                _contiguous_bits(pl, a, end, scale, 1)
            return
    _cut_into_items(pl, start, end, scale)


cdef inline bint _is_contiguous(const Plan *pl, size_t item) noexcept nogil:
    """x and out given, contiguous (one merged axis, strides of one
    ``item`` bytes)."""
    return (pl.x != NULL and pl.ndim == 1
            and pl.x_strides[0] == <Py_ssize_t>item and pl.o_strides[0] == <Py_ssize_t>item)


cdef inline Py_ssize_t _first_aligned(const Plan *pl, Py_ssize_t start, Py_ssize_t end,
                                      Py_ssize_t step, size_t item) noexcept nogil:
    """The first position of [start, end), start + a multiple of ``step``,
    where out is 64-byte aligned (streaming stores begin there); ``end`` if
    none within 64 elements."""
    cdef Py_ssize_t k = start
    cdef Py_ssize_t stop = min(start + 64, end)
    while k < stop:
        if (<size_t>pl.o + <size_t>k * item) % 64 == 0:
            return k
        k += step
    return end


cdef inline Py_ssize_t _contiguous_fused(const Plan *pl, Py_ssize_t a, Py_ssize_t end,
                                         floating scale, bint nt) noexcept nogil:
    """The fused loop from element ``a`` (on a block boundary) towards ``end``,
    writing the packed bits too when the plan asks: returns how many elements
    it did (whole groups of blocks; 0 if none, if this path has no fused loop,
    or if the range runs past the stream's last block, where it wraps).
    float16 and alpha dropout have loops of their own (in registers on the
    SIMD paths, float16's with F16C; through buffers on the others),
    computing exactly what the general path computes."""
    cdef uint64_t b
    cdef uint8_t *bits = pl.bits + (a >> 3) if pl.write_bits else NULL
    cdef size_t n = <size_t>(end - a)
    cdef cydrop_affine_f32 c32
    cdef cydrop_affine_f64 c64
    if a >= end:
        return 0
    b = (pl.block0 + ((pl.phase + <uint64_t>a) >> 2)) & (_NBLOCKS - 1)
    if <uint64_t>(end - a) // 4 + 1 > _NBLOCKS - b:
        return 0
    if floating is float:
        # the constants as the general path rounds them (_seg_affine)
        c32.scale = scale
        c32.add = <float>pl.add
        c32.fill = <float>pl.fill_value
        if pl.half:
            if pl.simd.half_f16c and not pl.f16c:
                return 0
            if pl.affine:
                if pl.simd.fused_affine_f16 == NULL:
                    return 0
                return <Py_ssize_t>pl.simd.fused_affine_f16(
                    <const uint16_t *>pl.x + a, <uint16_t *>pl.o + a, bits, n, b,
                    pl.seed, pl.thr, &c32, nt)
            if pl.simd.fused_f16 == NULL:
                return 0
            return <Py_ssize_t>pl.simd.fused_f16(<const uint16_t *>pl.x + a,
                                                 <uint16_t *>pl.o + a, bits, n, b,
                                                 pl.seed, pl.thr, scale, nt)
        if pl.affine:
            if pl.simd.fused_affine_f32 == NULL:
                return 0
            return <Py_ssize_t>pl.simd.fused_affine_f32(<const float *>pl.x + a,
                                                        <float *>pl.o + a, bits, n, b,
                                                        pl.seed, pl.thr, &c32, nt)
        if pl.simd.fused_f32 == NULL:
            return 0
        return <Py_ssize_t>pl.simd.fused_f32(<const float *>pl.x + a, <float *>pl.o + a, bits,
                                             n, b, pl.seed, pl.thr, scale, nt)
    else:
        if pl.affine:
            c64.scale = scale
            c64.add = <double>pl.add
            c64.fill = <double>pl.fill_value
            if pl.simd.fused_affine_f64 == NULL:
                return 0
            return <Py_ssize_t>pl.simd.fused_affine_f64(<const double *>pl.x + a,
                                                        <double *>pl.o + a, bits, n, b,
                                                        pl.seed, pl.thr, &c64, nt)
        if pl.simd.fused_f64 == NULL:
            return 0
        return <Py_ssize_t>pl.simd.fused_f64(<const double *>pl.x + a, <double *>pl.o + a, bits,
                                             n, b, pl.seed, pl.thr, scale, nt)


cdef inline void _contiguous_keep(const Plan *pl, Py_ssize_t a, Py_ssize_t b, floating scale,
                                  int nt) noexcept nogil:
    """[a, b) of a contiguous bool mask, in one call to the element loop."""
    if floating is float:
        pl.simd.keep_f32(<const float *>pl.x + a, <float *>pl.o + a,
                         <const uint8_t *>pl.m + a, <size_t>(b - a), scale, nt)
    else:
        pl.simd.keep_f64(<const double *>pl.x + a, <double *>pl.o + a,
                         <const uint8_t *>pl.m + a, <size_t>(b - a), scale, nt)


cdef inline void _contiguous_one_flag(const Plan *pl, Py_ssize_t a, Py_ssize_t b,
                                      floating scale, int nt) noexcept nogil:
    """[a, b) under the one flag ``pl.m[0]``: ``x * scale`` (the scale loop)
    where it keeps, else zeros (a scale by 0 would turn inf and nan into nan)."""
    if pl.m[0] == 0:
        memset(pl.o + a * <Py_ssize_t>sizeof(floating), 0, <size_t>(b - a) * sizeof(floating))
    elif floating is float:
        pl.simd.scale_f32(<const float *>pl.x + a, <float *>pl.o + a, <size_t>(b - a),
                          scale, nt)
    else:
        pl.simd.scale_f64(<const double *>pl.x + a, <double *>pl.o + a, <size_t>(b - a),
                          scale, nt)


cdef inline void _contiguous_bits(const Plan *pl, Py_ssize_t a, Py_ssize_t b, floating scale,
                                  int nt) noexcept nogil:
    """[a, b) of packed bits (a on a byte of them), in one call."""
    if floating is float:
        pl.simd.bits_f32(<const float *>pl.x + a, <float *>pl.o + a,
                         pl.bits + (a >> 3), <size_t>(b - a), scale, nt)
    else:
        pl.simd.bits_f64(<const double *>pl.x + a, <double *>pl.o + a,
                         pl.bits + (a >> 3), <size_t>(b - a), scale, nt)



# ---------------------------------------------------------------------------
# Work items: the general path (any strides, float16, alpha, mask outputs)

cdef void _cut_into_items(const Plan *pl, Py_ssize_t start, Py_ssize_t end,
                          floating scale) noexcept nogil:
    """[start, end) through `_run_item`, one work item (<= CHUNK) at a time;
    the pieces end on multiples of CHUNK, so packed-bit bytes stay whole."""
    cdef Py_ssize_t stop
    while start < end:
        stop = min((start // CHUNK + 1) * CHUNK, end)
        _run_item(pl, start, stop, scale)
        start = stop


cdef void _run_item(const Plan *pl, Py_ssize_t start, Py_ssize_t end,
                    floating scale) noexcept nogil:
    """Steps 1-3 of a work item through the word/flag buffers."""
    cdef uint32_t words[CHUNK + 8]
    cdef uint8_t keep[CHUNK + 8]
    cdef const uint32_t *w = _item_flags(pl, start, end, words, keep)
    cdef int op
    if pl.x == NULL:
        return
    if floating is float:
        if pl.half:
            _run_item_half(pl, start, end, w, keep, scale)
            return
    if pl.src == SRC_BOOL:
        op = OP_APPLY_MASK
    elif _needs_keep(pl):
        op = OP_APPLY
    else:
        op = OP_APPLY_WORDS
    _walk_segments(pl, start, end, keep, w, NULL, op, scale)


cdef void _run_item_half(const Plan *pl, Py_ssize_t start, Py_ssize_t end,
                         const uint32_t *w, uint8_t *keep, float scale) noexcept nogil:
    """Step 3 for float16: the item's elements into a float32 buffer, the
    float32 loop on it, then each result rounded once back to float16."""
    cdef float buf[CHUNK]
    cdef Py_ssize_t cnt = end - start
    cdef float add = <float>pl.add, fill = <float>pl.fill_value
    _walk_segments[float](pl, start, end, keep, w, buf, OP_LOAD_HALF, scale)
    if pl.src == SRC_BOOL:
        _walk_segments[float](pl, start, end, keep, w, buf, OP_GATHER, scale)
    if pl.src == SRC_BOOL or _needs_keep(pl):
        if pl.affine:
            _seg_affine(<const float *>buf, 4, buf, 4, keep, 1, cnt, scale, add, fill)
        else:
            _seg_apply(pl.simd, <const float *>buf, 4, buf, 4, keep, 1, cnt, scale)
    else:
        _seg_apply_words(pl.simd, <const float *>buf, 4, buf, 4, w, pl.thr, cnt, scale)
    _walk_segments[float](pl, start, end, keep, w, buf, OP_STORE_HALF, scale)


cdef inline bint _needs_keep(const Plan *pl) noexcept nogil:
    """Whether a work item materialises its keep flags (else the fused loop
    tests the stream words inline)."""
    return (pl.src == SRC_BITS or pl.write_bits or pl.write_mask
            or (pl.affine and pl.src == SRC_STREAM))


cdef const uint32_t *_item_flags(const Plan *pl, Py_ssize_t start, Py_ssize_t end,
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
        _walk_segments[float](pl, start, end, keep, w, NULL, OP_SCATTER, 0)
    return w


cdef enum:
    OP_SCATTER = 1      # keep flags into the bool mask array
    OP_APPLY = 2        # x * scale where the keep flags say
    OP_APPLY_MASK = 3   # x * scale where the bool mask array says
    OP_APPLY_WORDS = 4  # x * scale where the stream words say (fused forward)
    OP_GATHER = 5       # the bool mask array into keep flags
    OP_LOAD_HALF = 6    # float16 x into the float32 buffer
    OP_STORE_HALF = 7   # the float32 buffer, rounded, into float16 o


cdef void _walk_segments(const Plan *pl, Py_ssize_t start, Py_ssize_t end, uint8_t *keep,
                         const uint32_t *words, float *buf, int op,
                         floating scale) noexcept nogil:
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
            xoff += idx[d] * pl.x_strides[d]
            ooff += idx[d] * pl.o_strides[d]
            moff += idx[d] * pl.m_strides[d]
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
        # each segment loop takes (pointer, byte step along the last axis)
        # pairs: input, output, flags.  The steps are read from the plan at
        # each call: hoisting them into locals changed what gcc inlines (the
        # float16 item lost an inlined, specialised walk)
        if op == OP_SCATTER:
            _seg_scatter(pl.m + moff, pl.m_strides[last], keep + j, r)
        elif op == OP_GATHER:
            _seg_gather(pl.m + moff, pl.m_strides[last], keep + j, r)
        elif op == OP_LOAD_HALF:
            cydrop_h2f(pl.f16c, pl.x + xoff, pl.x_strides[last], buf + j, r)
        elif op == OP_STORE_HALF:
            cydrop_f2h(pl.f16c, buf + j, pl.o + ooff, pl.o_strides[last], r)
        elif op == OP_APPLY_WORDS:
            if inplace:
                _seg_apply_words(pl.simd, xp, pl.x_strides[last],
                                 <floating *>xp, pl.x_strides[last],
                                 words + j, pl.thr, r, scale)
            else:
                _seg_apply_words(pl.simd, xp, pl.x_strides[last],
                                 op_, pl.o_strides[last],
                                 words + j, pl.thr, r, scale)
        elif op == OP_APPLY_MASK:
            if pl.affine:
                _seg_affine(xp, pl.x_strides[last],
                            op_, pl.o_strides[last],
                            <const uint8_t *>(pl.m + moff), pl.m_strides[last],
                            r, scale, add, fill)
            elif inplace:
                _seg_apply(pl.simd, xp, pl.x_strides[last],
                           <floating *>xp, pl.x_strides[last],
                           <const uint8_t *>(pl.m + moff), pl.m_strides[last], r, scale)
            else:
                _seg_apply(pl.simd, xp, pl.x_strides[last],
                           op_, pl.o_strides[last],
                           <const uint8_t *>(pl.m + moff), pl.m_strides[last], r, scale)
        else:
            if pl.affine:
                _seg_affine(xp, pl.x_strides[last],
                            op_, pl.o_strides[last],
                            keep + j, 1, r, scale, add, fill)
            elif inplace:
                _seg_apply(pl.simd, xp, pl.x_strides[last],
                           <floating *>xp, pl.x_strides[last],
                           keep + j, 1, r, scale)
            else:
                _seg_apply(pl.simd, xp, pl.x_strides[last],
                           op_, pl.o_strides[last],
                           keep + j, 1, r, scale)
        pos += r
        idx[last] += r
        d = last
        while d > 0 and idx[d] == pl.shape[d]:
            idx[d] = 0
            d -= 1
            idx[d] += 1



# ---------------------------------------------------------------------------
# Segment loops: one contiguous run of the last axis (typed, pointer based)

cdef inline void _seg_apply(const cydrop_simd_table *t,
                            const floating *x, Py_ssize_t x_step,   # IN
                            floating *o, Py_ssize_t o_step,         # OUT (may be x)
                            const uint8_t *keep, Py_ssize_t k_step, # IN
                            Py_ssize_t r, floating scale) noexcept nogil:
    """o = keep ? x * scale : 0 from keep flags (byte stride k_step); the
    contiguous case runs the SIMD loop of ``t``."""
    cdef Py_ssize_t k
    cdef floating v
    if k_step == 0:
        # one flag for the whole segment (a broadcast mask: channel-wise
        # dropout, noise_shape): scale the span or zero it
        _seg_fill(x, x_step, o, o_step, r, scale if keep[0] else 0, not keep[0])
        return
    # The load and multiply are unconditional so that the compiler turns the
    # choice into a branch-free select (a branch on a random mask mispredicts
    # half the time) and vectorizes the contiguous loop.
    if (x_step == <Py_ssize_t>sizeof(floating) and o_step == <Py_ssize_t>sizeof(floating)
            and k_step == 1):
        if floating is float:
            t.keep_f32(x, o, keep, r, scale, 0)
        else:
            t.keep_f64(x, o, keep, r, scale, 0)
    else:
        for k in range(r):
            v = (<const floating *>(<const char *>x + k * x_step))[0] * scale
            (<floating *>(<char *>o + k * o_step))[0] = v if keep[k * k_step] else 0


cdef inline void _seg_fill(const floating *x, Py_ssize_t x_step, floating *o, Py_ssize_t o_step,
                           Py_ssize_t r, floating scale, bint zero) noexcept nogil:
    """o = x * scale over a span (zero: o = 0, x not read)."""
    cdef Py_ssize_t k
    if zero:
        if o_step == <Py_ssize_t>sizeof(floating):
            for k in range(r):
                o[k] = 0
        else:
            for k in range(r):
                (<floating *>(<char *>o + k * o_step))[0] = 0
    elif x_step == <Py_ssize_t>sizeof(floating) and o_step == <Py_ssize_t>sizeof(floating):
        for k in range(r):
            o[k] = x[k] * scale
    else:
        for k in range(r):
            (<floating *>(<char *>o + k * o_step))[0] = \
                (<const floating *>(<const char *>x + k * x_step))[0] * scale


cdef inline void _seg_affine(const floating *x, Py_ssize_t x_step,   # IN
                             floating *o, Py_ssize_t o_step,         # OUT (may be x)
                             const uint8_t *keep, Py_ssize_t k_step, # IN
                             Py_ssize_t r, floating scale, floating add,
                             floating fill) noexcept nogil:
    """Alpha dropout: o = keep ? x * scale + add : fill (k_step == 0: one flag).
    Two roundings, as torch: the product, then the sum (the build keeps the
    compiler from contracting them into one fma)."""
    cdef Py_ssize_t k
    cdef floating v
    if (x_step == <Py_ssize_t>sizeof(floating) and o_step == <Py_ssize_t>sizeof(floating)
            and k_step == 1):
        for k in range(r):
            v = x[k] * scale + add
            o[k] = v if keep[k] else fill
    else:
        for k in range(r):
            v = (<const floating *>(<const char *>x + k * x_step))[0] * scale + add
            (<floating *>(<char *>o + k * o_step))[0] = v if keep[k * k_step] else fill


cdef inline void _seg_apply_words(const cydrop_simd_table *t,
                                  const floating *x, Py_ssize_t x_step,   # IN
                                  floating *o, Py_ssize_t o_step,         # OUT (may be x)
                                  const uint32_t *w, uint32_t thr,    # IN, contiguous
                                  Py_ssize_t r, floating scale) noexcept nogil:
    """o = (w >= thr) ? x * scale : 0 from stream words in a buffer, the keep
    test inline (the fused forward where the words are not made in registers)."""
    cdef Py_ssize_t k
    cdef floating v
    if x_step == <Py_ssize_t>sizeof(floating) and o_step == <Py_ssize_t>sizeof(floating):
        if floating is float:
            t.words_f32(x, o, w, thr, r, scale)
        else:
            t.words_f64(x, o, w, thr, r, scale)
    else:
        for k in range(r):
            v = (<const floating *>(<const char *>x + k * x_step))[0] * scale
            (<floating *>(<char *>o + k * o_step))[0] = v if w[k] >= thr else 0


cdef inline void _seg_scatter(char *m, Py_ssize_t m_step, const uint8_t *keep,
                              Py_ssize_t r) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(r):
        (<uint8_t *>(m + k * m_step))[0] = keep[k]


cdef inline void _seg_gather(const char *m, Py_ssize_t m_step, uint8_t *keep,
                             Py_ssize_t r) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(r):
        keep[k] = (<const uint8_t *>(m + k * m_step))[0]
