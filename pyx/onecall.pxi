# The one-call rule (included by _kernels.pyx), both halves in one place:
#
# * `one_call` looks at a call's raw arguments -- dropout's, in its order --
#   and decides whether the whole call can be made by one entry: every
#   argument at a value the entries handle (cydrop._core.ONE_CALL_RULE says,
#   per parameter, which; tests/test_one_call.py proves it from the
#   signatures), else None and the caller takes the general path;
# * the entries (`default_forward`, `default_masked`) check what only C can
#   check cheaply -- exact ndarray type, native float dtype, alignment,
#   writeability, overlap -- and return None, touching nothing, when an array
#   is not plain: the general path then converts or raises.
#
# The entries are looked up as module globals (Cython calls a def function
# of its own module by name), so a test can wrap them.

# Below this many elements the one-call entries keep the GIL: releasing and
# taking it back costs more than the kernel.
cdef Py_ssize_t _NOGIL_MIN = 4096


cdef int _run_one_call(Plan *pl, int t, double p, bint vanilla) except -1:
    """The kernel of a one-call entry: kept elements scaled by 1 / (1 - p)
    (1 with ``vanilla``), the GIL released from _NOGIL_MIN elements on."""
    cdef double scale = 1.0 if vanilla else 1.0 / (1.0 - p)
    if pl.n < _NOGIL_MIN:
        _run_plan(pl, t == cnp.NPY_DOUBLE, scale)
    else:
        with nogil:
            _run_plan(pl, t == cnp.NPY_DOUBLE, scale)
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
    # recycled from a freed result when one of its size is kept (results.pxi)
    return <cnp.ndarray>cydrop_rc_new_like(a)


def default_forward(object x, double p, object out=None, bint inplace=False,
                    object seed=None, uint64_t offset=0, bint vanilla=False,
                    object bits_out=None):
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
    (``scaling="vanilla"`` in training).  ``bits_out``: also write the
    keep-mask there, packed (``return_mask="bits"``'s layout): exactly a 1-D
    C-contiguous numpy.ndarray of uint8 of ``ceil(x.size / 8)`` bytes,
    disjoint from x and the result, or the call declines (cydrop.torch's
    forward, which keeps the mask for the backward)."""
    global _default_offset
    cdef cnp.ndarray a, res, b
    cdef int t
    cdef Plan pl
    r = _fast_result(x, out, inplace)
    if r is None:
        return None
    a = <cnp.ndarray>x
    res = <cnp.ndarray>r
    if bits_out is not None:
        if type(bits_out) is not np.ndarray:
            return None
        b = <cnp.ndarray>bits_out
        if (cnp.PyArray_TYPE(b) != cnp.NPY_UINT8 or cnp.PyArray_NDIM(b) != 1
                or not cnp.PyArray_IS_C_CONTIGUOUS(b) or not cnp.PyArray_ISWRITEABLE(b)
                or b.shape[0] != (cnp.PyArray_SIZE(a) + 7) // 8
                or _overlap(b, a) != 0 or _overlap(b, res) != 0):
            return None
    t = cnp.PyArray_TYPE(a)
    pl = _new_plan(a, a, res, None)
    _typed_plan(&pl, t, None)
    if bits_out is not None:
        pl.bits = <uint8_t *>cnp.PyArray_DATA(b)
        pl.write_bits = True
    if seed is None:
        _stream_plan(&pl, _default_seed, _default_offset, keep_threshold(p))
        _default_offset = _advance(_default_offset, <uint64_t>pl.n)
    else:
        _stream_plan(&pl, <uint64_t>seed, offset, keep_threshold(p))
    _run_one_call(&pl, t, p, vanilla)
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
    _run_one_call(&pl, t, p, vanilla)
    return res


# 2**64 as a Python int (a C shift would overflow)
_U64 = 18446744073709551616


def one_call(object x, object p=0.5, object training=True, object inplace=False,
             object mask=None, object seed=None, object offset=0, object rng=None,
             object out=None, object return_mask=False, object noise_shape=None,
             object scaling="inverted", bint backward=False):
    """The whole call in one entry, or None (nothing done, nothing checked)
    when it must take the general path.

    The parameters are `cydrop.dropout`'s, in its order and with its
    defaults (``dropout`` passes them positionally, the others by keyword);
    ``backward``: the call is `cydrop.dropout_backward` (``x`` its ``grad``),
    which needs a mask or a seed.  What each parameter allows is
    ``cydrop._core.ONE_CALL_RULE``; the entries then check the arrays and
    return None for those they do not take."""
    cdef double pd
    cdef bint vanilla
    if not (training is True and rng is None and return_mask is False
            and noise_shape is None and type(p) is float):
        return None
    pd = <double>p
    if not (0.0 < pd < 1.0):
        return None
    # compared as cydrop._checks.check_scaling compares it: what it accepts,
    # this takes
    if scaling == "inverted":
        vanilla = False
    elif scaling == "vanilla":
        vanilla = True
    else:
        return None
    if mask is not None:
        if seed is not None:
            return None
        return default_masked(x, mask, pd, out, inplace, vanilla)
    if seed is None:
        if backward or type(offset) is not int or offset != 0:
            return None
        return default_forward(x, pd, out, inplace, None, 0, vanilla)
    if (type(seed) is int and type(offset) is int and 0 <= seed < _U64
            and 0 <= offset < _U64):
        return default_forward(x, pd, out, inplace, seed, offset, vanilla)
    return None
