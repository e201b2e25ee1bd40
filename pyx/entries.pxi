# The Python entries (included by _kernels.pyx) that cydrop.functional
# calls once it has checked its arguments: masked scaling, the fused forward,
# the mask alone, float16 conversion.  They check what C depends on (dtypes,
# shapes, mask layouts) and raise before anything is written.

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
        _run_plan(&pl, t == cnp.NPY_DOUBLE, scale)


# the one keep flag `scale_all` broadcasts over every element (stride 0)
cdef char _KEEP_ALL = 1


def scale_all(cnp.ndarray x not None, cnp.ndarray out not None, double scale):
    """``out = x * scale`` (vanilla evaluation's ``x * (1 - p)``): masked
    scaling with every element kept, without a mask array -- the walker's
    scale loop for contiguous arrays, its general path otherwise.  ``out``
    may be ``x``; the scale is rounded once to the dtype (float32 for
    float16); unaligned arrays as in `masked_scale`."""
    cdef int t = _float_type(x, out)
    cdef Plan pl
    if not (cnp.PyArray_ISALIGNED(x) and cnp.PyArray_ISALIGNED(out)):
        return _via_aligned(scale_all, x, out, scale)
    pl = _new_plan(x, x, out, None)     # m_strides all 0: one flag for all
    _typed_plan(&pl, t, None)
    pl.m = &_KEEP_ALL
    pl.src = SRC_BOOL
    with nogil:
        _run_plan(&pl, t == cnp.NPY_DOUBLE, scale)


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
        _run_plan(&pl, t == cnp.NPY_DOUBLE, scale)


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
        _run_plan(&pl, False, 1.0)


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
