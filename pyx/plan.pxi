# The plan (included by _kernels.pyx): what the walker needs to know about
# the arrays of one call -- the logical shape after dropping size-1 axes and
# merging axes contiguous in every array, byte strides, data pointers, the
# flag source, the stream key -- built from ndarrays (the Python entries) or
# from 1-D pointers (the Cython API).  Building a plan checks nothing: the
# callers have.

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
    cdef Py_ssize_t x_strides[MAXDIM]
    cdef Py_ssize_t o_strides[MAXDIM]
    cdef Py_ssize_t m_strides[MAXDIM]
    cdef Py_ssize_t n = 1, size
    _strides_of(x, nd, x_strides)
    _strides_of(o, nd, o_strides)
    _strides_of(m, nd, m_strides)
    for d in range(nd):
        size = shape[d]
        n *= size
        if size == 1:
            continue
        if (k > 0 and pl.x_strides[k - 1] == size * x_strides[d]
                and pl.o_strides[k - 1] == size * o_strides[d]
                and pl.m_strides[k - 1] == size * m_strides[d]):
            pl.shape[k - 1] *= size
            pl.x_strides[k - 1] = x_strides[d]
            pl.o_strides[k - 1] = o_strides[d]
            pl.m_strides[k - 1] = m_strides[d]
        else:
            pl.shape[k] = size
            pl.x_strides[k] = x_strides[d]
            pl.o_strides[k] = o_strides[d]
            pl.m_strides[k] = m_strides[d]
            k += 1
    if k == 0:
        pl.shape[0] = 1
        pl.x_strides[0] = 0
        pl.o_strides[0] = 0
        pl.m_strides[0] = 0
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


cdef int _typed_plan(Plan *pl, int t, object affine) except -1:
    """float16 (computed in float32) and the alpha-dropout affine map."""
    pl.half = t == cnp.NPY_FLOAT16
    if affine is not None:
        pl.affine = True
        pl.add, pl.fill_value = affine
    return 0


cdef Plan _new_plan(cnp.ndarray ref, object x, object o, object m) except *:
    cdef Plan pl
    _make_plan(&pl, ref, x, o, m)
    _plan_defaults(&pl)
    return pl


# ---------------------------------------------------------------------------
# The Cython API (declared in cydrop/_kernels.pxd, documented in
# cydrop/kernels.pxd): 1-D contiguous views, a plan of one axis, the same
# walker as above.

cdef inline void _plan_1d(Plan *pl, Py_ssize_t n, Py_ssize_t item, const void *x,
                          void *o, const uint8_t *m) noexcept nogil:
    pl.ndim = 1
    pl.n = n
    pl.shape[0] = n if n > 0 else 1
    pl.x_strides[0] = item
    pl.o_strides[0] = item
    pl.m_strides[0] = 1
    pl.x = <char *>x
    pl.o = <char *>o
    pl.m = <char *>m
    _plan_defaults(pl)
