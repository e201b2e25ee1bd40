# Memory (included by _kernels.pyx): how arrays share bytes -- overlap
# between two arrays, overlap of an array with itself, whether an array may be
# written -- and aligned copies for arrays numpy allows at odd addresses.

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
