# The Cython API (included by _kernels.pyx; declared in cydrop/_kernels.pxd,
# documented and versioned in cydrop/kernels.pxd): noexcept nogil functions
# on 1-D contiguous typed memoryviews, each a plan of one axis run by the
# same walker as the Python entries.  They live in cydrop._kernels because
# extensions built against the API find them in its __pyx_capi__.

# the version of the Cython API (cydrop/kernels.pxd) this module was built with
CYTHON_API_VERSION = (CYDROP_API_VERSION_MAJOR, CYDROP_API_VERSION_MINOR)


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
    _run_plan(&pl, floating is double, scale)
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
    _run_plan(&pl, floating is double, keep_scale(p))
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
