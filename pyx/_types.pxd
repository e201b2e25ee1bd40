# cython: language_level=3
"""C declarations for cydrop's kernels: the Philox header and OpenMP (one
home, no local copies).  The element types live in ``cydrop/types.pxd``,
which the Cython API shares with users."""
from libc.stdint cimport uint8_t, uint32_t, uint64_t

cdef extern from "philox.h" nogil:
    int CYDROP_IMPL_SCALAR
    int CYDROP_IMPL_AVX2
    int CYDROP_IMPL_AVX512
    ctypedef void (*cydrop_fill_fn)(uint32_t *, uint64_t, size_t, uint64_t) noexcept nogil
    void cydrop_philox4x32(const uint32_t *ctr, const uint32_t *key, int rounds, uint32_t *out)
    int cydrop_impl_supported(int impl)
    cydrop_fill_fn cydrop_impl_fn(int impl)
    int cydrop_best_impl()

cdef extern from "omp_compat.h" nogil:
    int CYDROP_HAVE_OPENMP
    int omp_get_max_threads()
    void omp_set_num_threads(int n)
