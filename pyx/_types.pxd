# cython: language_level=3
"""Declarations shared by the units of cydrop's kernels (one home, no local
copies): the C headers -- Philox (philox.h), the element loops (simd.h),
flag packing (bits.h), float16 (half.h), OpenMP (omp_compat.h), the worker
threads (pool.h) -- and the
kernels' own structs and enums: the work-item size, the flag sources and
the plan.  The element types live in ``cydrop/types.pxd``, which the Cython
API shares with users."""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

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
    ctypedef struct cydrop_affine_f32:
        float scale
        float add
        float fill
    ctypedef struct cydrop_affine_f64:
        double scale
        double add
        double fill
    ctypedef size_t (*cydrop_fused_f16_fn)(const uint16_t *, uint16_t *, uint8_t *, size_t,
                                           uint64_t, uint64_t, uint32_t, float, int) noexcept nogil
    ctypedef size_t (*cydrop_fused_affine_f32_fn)(const float *, float *, uint8_t *, size_t,
                                                  uint64_t, uint64_t, uint32_t,
                                                  const cydrop_affine_f32 *, int) noexcept nogil
    ctypedef size_t (*cydrop_fused_affine_f64_fn)(const double *, double *, uint8_t *, size_t,
                                                  uint64_t, uint64_t, uint32_t,
                                                  const cydrop_affine_f64 *, int) noexcept nogil
    ctypedef size_t (*cydrop_fused_affine_f16_fn)(const uint16_t *, uint16_t *, uint8_t *,
                                                  size_t, uint64_t, uint64_t, uint32_t,
                                                  const cydrop_affine_f32 *, int) noexcept nogil
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
    ctypedef void (*cydrop_scale_f32_fn)(const float *, float *, size_t, float, int) noexcept nogil
    ctypedef void (*cydrop_scale_f64_fn)(const double *, double *, size_t, double,
                                         int) noexcept nogil
    ctypedef struct cydrop_simd_table:
        cydrop_fused_f32_fn fused_f32
        cydrop_fused_f64_fn fused_f64
        cydrop_keep_f32_fn keep_f32
        cydrop_keep_f64_fn keep_f64
        cydrop_words_f32_fn words_f32
        cydrop_words_f64_fn words_f64
        cydrop_bits_f32_fn bits_f32
        cydrop_bits_f64_fn bits_f64
        cydrop_scale_f32_fn scale_f32
        cydrop_scale_f64_fn scale_f64
        int half_f16c
        cydrop_fused_f16_fn fused_f16
        cydrop_fused_affine_f32_fn fused_affine_f32
        cydrop_fused_affine_f64_fn fused_affine_f64
        cydrop_fused_affine_f16_fn fused_affine_f16
    const cydrop_simd_table *cydrop_simd_for(int impl)
    const char *cydrop_simd_name(int impl)

cdef extern from "omp_compat.h" nogil:
    int CYDROP_HAVE_OPENMP
    int omp_get_max_threads()
    void omp_set_num_threads(int n)
    int omp_in_parallel()

cdef extern from "pool.h" nogil:
    int CYDROP_HAVE_POOL
    ctypedef void (*cydrop_span_fn)(void *ctx, Py_ssize_t start, Py_ssize_t end) noexcept nogil
    int cydrop_pool_run(cydrop_span_fn fn, void *ctx, Py_ssize_t n, Py_ssize_t block,
                        int team)
    long long cydrop_pool_set_spin(long long ns)
    long long cydrop_pool_count(int which)

cdef extern from "bits.h" nogil:
    uint8_t cydrop_pack8(const uint8_t *flags)
    void cydrop_unpack8(uint8_t byte, uint8_t *flags)

cdef extern from "half.h" nogil:
    int cydrop_f16c_supported()
    void cydrop_h2f(int f16c, const char *src, Py_ssize_t stride, float *dst, Py_ssize_t n)
    void cydrop_f2h(int f16c, const float *src, char *dst, Py_ssize_t stride, Py_ssize_t n)


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



# What the walker (walk.pxi) runs: one call's arrays, after plan.pxi has
# dropped size-1 axes and merged contiguous ones, and where its flags come from.
cdef struct Plan:
    int ndim                      # after dropping size-1 axes and merging
    Py_ssize_t n                  # number of elements
    Py_ssize_t shape[MAXDIM]
    Py_ssize_t x_strides[MAXDIM]  # byte strides: input
    Py_ssize_t o_strides[MAXDIM]  #               output
    Py_ssize_t m_strides[MAXDIM]  #               bool mask (read or written)
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
    bint nt                       # stream the result past the caches (set by _run_plan)
    bint affine                   # keep ? x * scale + add : fill (alpha dropout)
    double add
    double fill_value
