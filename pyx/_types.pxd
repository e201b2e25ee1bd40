# cython: language_level=3
"""C declarations for cydrop's kernels: the Philox header, the element loops
(simd.h) and OpenMP (one home, no local copies).  The element types live in ``cydrop/types.pxd``,
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

cdef extern from "simd.h" nogil:
    ctypedef size_t (*cydrop_fused_f32_fn)(const float *, float *, uint8_t *, size_t, uint64_t,
                                           uint64_t, uint32_t, float, int) noexcept nogil
    ctypedef size_t (*cydrop_fused_f64_fn)(const double *, double *, uint8_t *, size_t,
                                           uint64_t, uint64_t, uint32_t, double, int) noexcept nogil
    ctypedef void (*cydrop_keep_f32_fn)(const float *, float *, const uint8_t *, size_t,
                                        float, int) noexcept nogil
    ctypedef void (*cydrop_keep_f64_fn)(const double *, double *, const uint8_t *, size_t,
                                        double, int) noexcept nogil
    ctypedef void (*cydrop_words_f32_fn)(const float *, float *, const uint32_t *, uint32_t,
                                         size_t, float) noexcept nogil
    ctypedef void (*cydrop_words_f64_fn)(const double *, double *, const uint32_t *, uint32_t,
                                         size_t, double) noexcept nogil
    ctypedef void (*cydrop_bits_f32_fn)(const float *, float *, const uint8_t *, size_t,
                                        float, int) noexcept nogil
    ctypedef void (*cydrop_bits_f64_fn)(const double *, double *, const uint8_t *, size_t,
                                        double, int) noexcept nogil
    ctypedef struct cydrop_simd_table:
        cydrop_fused_f32_fn fused_f32
        cydrop_fused_f64_fn fused_f64
        cydrop_keep_f32_fn keep_f32
        cydrop_keep_f64_fn keep_f64
        cydrop_words_f32_fn words_f32
        cydrop_words_f64_fn words_f64
        cydrop_bits_f32_fn bits_f32
        cydrop_bits_f64_fn bits_f64
    const cydrop_simd_table *cydrop_simd_for(int impl)
    const char *cydrop_simd_name(int impl)

cdef extern from "omp_compat.h" nogil:
    int CYDROP_HAVE_OPENMP
    int omp_get_max_threads()
    void omp_set_num_threads(int n)
