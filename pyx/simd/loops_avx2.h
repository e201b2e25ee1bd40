/*
 * The element loops with AVX2, compiled with target("avx2") and run with
 * the avx2 Philox path (dispatch.h).  AVX2 has no unsigned compare and no
 * mask registers: keep masks are compare vectors (all ones where kept),
 * packed bits are moved out with movemask.
 */
#ifndef CYDROP_SIMD_LOOPS_AVX2_H
#define CYDROP_SIMD_LOOPS_AVX2_H

#include "common.h"

#if CYDROP_HAVE_X86_SIMD

/* a store of the element loops: non-temporal when nt (o then 64-byte
 * aligned: the caller starts the loop there), else an ordinary unaligned
 * store */
#define CYDROP_ST256_PS(nt, p, v) ((nt) ? _mm256_stream_ps((p), (v)) : _mm256_storeu_ps((p), (v)))
#define CYDROP_ST256_PD(nt, p, v) ((nt) ? _mm256_stream_pd((p), (v)) : _mm256_storeu_pd((p), (v)))

/* keep mask (all ones where w >= thr): AVX2 has no unsigned compare */
#define CYDROP_GE8(w, t) _mm256_cmpeq_epi32(_mm256_max_epu32((w), (t)), (w))

__attribute__((target("avx2")))
static void cydrop_keep_f32_avx2(const float *x, float *o, const uint8_t *keep, size_t n,
                                 float scale, int nt)
{
    const __m256 vs = _mm256_set1_ps(scale);
    const __m256i z = _mm256_setzero_si256();
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256i d = _mm256_cmpeq_epi32(
            _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(keep + k))), z);
        CYDROP_ST256_PS(nt, o + k, _mm256_andnot_ps(_mm256_castsi256_ps(d),
                                                 _mm256_mul_ps(_mm256_loadu_ps(x + k), vs)));
    }
    if (nt)
        _mm_sfence();
    cydrop__keep_tail_f32(x, o, keep, k, n, scale);
}

__attribute__((target("avx2")))
static void cydrop_keep_f64_avx2(const double *x, double *o, const uint8_t *keep, size_t n,
                                 double scale, int nt)
{
    const __m256d vs = _mm256_set1_pd(scale);
    const __m256i z = _mm256_setzero_si256();
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m128i b = _mm_loadl_epi64((const __m128i *)(keep + k));
        __m256i d0 = _mm256_cmpeq_epi64(_mm256_cvtepu8_epi64(b), z);
        __m256i d1 = _mm256_cmpeq_epi64(_mm256_cvtepu8_epi64(_mm_srli_si128(b, 4)), z);
        CYDROP_ST256_PD(nt, o + k, _mm256_andnot_pd(_mm256_castsi256_pd(d0),
                                                 _mm256_mul_pd(_mm256_loadu_pd(x + k), vs)));
        CYDROP_ST256_PD(nt, o + k + 4,
                         _mm256_andnot_pd(_mm256_castsi256_pd(d1),
                                          _mm256_mul_pd(_mm256_loadu_pd(x + k + 4), vs)));
    }
    if (nt)
        _mm_sfence();
    cydrop__keep_tail_f64(x, o, keep, k, n, scale);
}

__attribute__((target("avx2")))
static inline void cydrop__apply8_f32(const float *x, float *o, uint8_t *bits, __m256i w,
                                      __m256i t, __m256 vs, int nt)
{
    __m256 m = _mm256_castsi256_ps(CYDROP_GE8(w, t));
    __m256 r = _mm256_and_ps(m, _mm256_mul_ps(_mm256_loadu_ps(x), vs));
    if (bits)
        *bits = (uint8_t)_mm256_movemask_ps(m);
    CYDROP_ST256_PS(nt, o, r);
}

__attribute__((target("avx2")))
static inline void cydrop__apply8_f64(const double *x, double *o, uint8_t *bits, __m256i w,
                                      __m256i t, __m256d vs, int nt)
{
    __m256i m = CYDROP_GE8(w, t);
    if (bits)
        *bits = (uint8_t)_mm256_movemask_ps(_mm256_castsi256_ps(m));
    __m256i m0 = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(m));
    __m256i m1 = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(m, 1));
    __m256d r0 = _mm256_and_pd(_mm256_castsi256_pd(m0), _mm256_mul_pd(_mm256_loadu_pd(x), vs));
    __m256d r1 = _mm256_and_pd(_mm256_castsi256_pd(m1),
                               _mm256_mul_pd(_mm256_loadu_pd(x + 4), vs));
    CYDROP_ST256_PD(nt, o, r0);
    CYDROP_ST256_PD(nt, o + 4, r1);
}

/* The float16 and alpha-dropout applies.  float16: eight halves converted
 * with F16C (exact), the float32 product, rounded back to nearest even
 * (vcvtps2ph with the rounding in its immediate, whatever MXCSR says), as
 * the general path's conversions and float32 loop compute it.  Alpha: the
 * product, then the sum (two roundings: intrinsics, and -ffp-contract=off
 * besides), the dropped lanes blended to the fill. */
#define CYDROP_F16_RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define CYDROP_ST128_SI(nt, p, v) ((nt) ? _mm_stream_si128((p), (v)) : _mm_storeu_si128((p), (v)))

typedef struct {
    __m256 s, a, f;
} cydrop__aff8_f32;
typedef struct {
    __m256d s, a, f;
} cydrop__aff8_f64;

__attribute__((target("avx2")))
CYDROP_INLINE cydrop__aff8_f32 cydrop__aff8_f32_set(const cydrop_affine_f32 *c)
{
    cydrop__aff8_f32 v = {_mm256_set1_ps(c->scale), _mm256_set1_ps(c->add),
                          _mm256_set1_ps(c->fill)};
    return v;
}

__attribute__((target("avx2")))
CYDROP_INLINE cydrop__aff8_f64 cydrop__aff8_f64_set(const cydrop_affine_f64 *c)
{
    cydrop__aff8_f64 v = {_mm256_set1_pd(c->scale), _mm256_set1_pd(c->add),
                          _mm256_set1_pd(c->fill)};
    return v;
}

__attribute__((target("avx2,f16c")))
static inline void cydrop__apply8_f16(const uint16_t *x, uint16_t *o, uint8_t *bits, __m256i w,
                                      __m256i t, __m256 vs, int nt)
{
    __m256 m = _mm256_castsi256_ps(CYDROP_GE8(w, t));
    __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)x));
    __m256 r = _mm256_and_ps(m, _mm256_mul_ps(v, vs));
    if (bits)
        *bits = (uint8_t)_mm256_movemask_ps(m);
    CYDROP_ST128_SI(nt, (__m128i *)o, _mm256_cvtps_ph(r, CYDROP_F16_RNE));
}

__attribute__((target("avx2")))
static inline void cydrop__apply8_affine_f32(const float *x, float *o, uint8_t *bits,
                                             __m256i w, __m256i t, cydrop__aff8_f32 c, int nt)
{
    __m256 m = _mm256_castsi256_ps(CYDROP_GE8(w, t));
    __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x), c.s), c.a);
    if (bits)
        *bits = (uint8_t)_mm256_movemask_ps(m);
    CYDROP_ST256_PS(nt, o, _mm256_blendv_ps(c.f, v, m));
}

__attribute__((target("avx2")))
static inline void cydrop__apply8_affine_f64(const double *x, double *o, uint8_t *bits,
                                             __m256i w, __m256i t, cydrop__aff8_f64 c, int nt)
{
    __m256i m = CYDROP_GE8(w, t);
    if (bits)
        *bits = (uint8_t)_mm256_movemask_ps(_mm256_castsi256_ps(m));
    __m256d m0 = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(m)));
    __m256d m1 = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(m, 1)));
    __m256d v0 = _mm256_add_pd(_mm256_mul_pd(_mm256_loadu_pd(x), c.s), c.a);
    __m256d v1 = _mm256_add_pd(_mm256_mul_pd(_mm256_loadu_pd(x + 4), c.s), c.a);
    CYDROP_ST256_PD(nt, o, _mm256_blendv_pd(c.f, v0, m0));
    CYDROP_ST256_PD(nt, o + 4, _mm256_blendv_pd(c.f, v1, m1));
}

__attribute__((target("avx2,f16c")))
static inline void cydrop__apply8_affine_f16(const uint16_t *x, uint16_t *o, uint8_t *bits,
                                             __m256i w, __m256i t, cydrop__aff8_f32 c, int nt)
{
    __m256 m = _mm256_castsi256_ps(CYDROP_GE8(w, t));
    __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)x));
    v = _mm256_add_ps(_mm256_mul_ps(v, c.s), c.a);
    if (bits)
        *bits = (uint8_t)_mm256_movemask_ps(m);
    CYDROP_ST128_SI(nt, (__m128i *)o, _mm256_cvtps_ph(_mm256_blendv_ps(c.f, v, m),
                                                      CYDROP_F16_RNE));
}

/* The words and fused loops (words_simd.inc.h, fused_simd.inc.h), 8 elements
 * per apply: CYDROP_GROUPS groups of 8 blocks per step as in the fill.
 * float64 prefetches one step (1 KiB) ahead: there a step's 2 KiB of
 * traffic rivals its arithmetic. */
#define CYDROP_TARGET "avx2"
#define CYDROP_W 8
#define CYDROP_STATE cydrop_state8
#define CYDROP_INIT cydrop__init8
#define CYDROP_WORDS cydrop__words8
#define CYDROP_VEC __m256i
#define CYDROP_VEC_SET1 _mm256_set1_epi32
#define CYDROP_VEC_LOADU(p) _mm256_loadu_si256((const __m256i *)(p))
#define CYDROP_NG CYDROP_GROUPS

#define CYDROP_T float
#define CYDROP_COEF_T float
#define CYDROP_VS_T __m256
#define CYDROP_VS_SET1 _mm256_set1_ps
#define CYDROP_APPLY cydrop__apply8_f32
#define CYDROP_PF 0
#define CYDROP_WORDS_TAIL_FN cydrop__words_tail_f32
#define CYDROP_WORDS_FN cydrop_words_f32_avx2
#define CYDROP_FUSED_GROUP_FN cydrop__fused_group_f32_avx2
#define CYDROP_FUSED_FN cydrop_fused_f32_avx2
#include "words_simd.inc.h"
#include "fused_simd.inc.h"
#undef CYDROP_T
#undef CYDROP_COEF_T
#undef CYDROP_VS_T
#undef CYDROP_VS_SET1
#undef CYDROP_APPLY
#undef CYDROP_PF
#undef CYDROP_WORDS_TAIL_FN
#undef CYDROP_WORDS_FN
#undef CYDROP_FUSED_GROUP_FN
#undef CYDROP_FUSED_FN

#define CYDROP_T double
#define CYDROP_COEF_T double
#define CYDROP_VS_T __m256d
#define CYDROP_VS_SET1 _mm256_set1_pd
#define CYDROP_APPLY cydrop__apply8_f64
#define CYDROP_PF (32 * CYDROP_GROUPS * sizeof(double))
#define CYDROP_WORDS_TAIL_FN cydrop__words_tail_f64
#define CYDROP_WORDS_FN cydrop_words_f64_avx2
#define CYDROP_FUSED_GROUP_FN cydrop__fused_group_f64_avx2
#define CYDROP_FUSED_FN cydrop_fused_f64_avx2
#include "words_simd.inc.h"
#include "fused_simd.inc.h"
#undef CYDROP_T
#undef CYDROP_COEF_T
#undef CYDROP_VS_T
#undef CYDROP_VS_SET1
#undef CYDROP_APPLY
#undef CYDROP_PF
#undef CYDROP_WORDS_TAIL_FN
#undef CYDROP_WORDS_FN
#undef CYDROP_FUSED_GROUP_FN
#undef CYDROP_FUSED_FN

/* The float16 and alpha fused loops (fused_simd.inc.h alone): as float32's
 * (float64's for alpha's float64, prefetch included), with F16C in the
 * target where the elements are halves. */
#define CYDROP_T float
#define CYDROP_COEF_T const cydrop_affine_f32 *
#define CYDROP_VS_T cydrop__aff8_f32
#define CYDROP_VS_SET1 cydrop__aff8_f32_set
#define CYDROP_APPLY cydrop__apply8_affine_f32
#define CYDROP_PF 0
#define CYDROP_FUSED_GROUP_FN cydrop__fused_group_affine_f32_avx2
#define CYDROP_FUSED_FN cydrop_fused_affine_f32_avx2
#include "fused_simd.inc.h"
#undef CYDROP_T
#undef CYDROP_COEF_T
#undef CYDROP_VS_T
#undef CYDROP_VS_SET1
#undef CYDROP_APPLY
#undef CYDROP_PF
#undef CYDROP_FUSED_GROUP_FN
#undef CYDROP_FUSED_FN

#define CYDROP_T double
#define CYDROP_COEF_T const cydrop_affine_f64 *
#define CYDROP_VS_T cydrop__aff8_f64
#define CYDROP_VS_SET1 cydrop__aff8_f64_set
#define CYDROP_APPLY cydrop__apply8_affine_f64
#define CYDROP_PF (32 * CYDROP_GROUPS * sizeof(double))
#define CYDROP_FUSED_GROUP_FN cydrop__fused_group_affine_f64_avx2
#define CYDROP_FUSED_FN cydrop_fused_affine_f64_avx2
#include "fused_simd.inc.h"
#undef CYDROP_T
#undef CYDROP_COEF_T
#undef CYDROP_VS_T
#undef CYDROP_VS_SET1
#undef CYDROP_APPLY
#undef CYDROP_PF
#undef CYDROP_FUSED_GROUP_FN
#undef CYDROP_FUSED_FN

#undef CYDROP_TARGET
#define CYDROP_TARGET "avx2,f16c"
#define CYDROP_T uint16_t
#define CYDROP_PF 0
#define CYDROP_COEF_T float
#define CYDROP_VS_T __m256
#define CYDROP_VS_SET1 _mm256_set1_ps
#define CYDROP_APPLY cydrop__apply8_f16
#define CYDROP_FUSED_GROUP_FN cydrop__fused_group_f16_avx2
#define CYDROP_FUSED_FN cydrop_fused_f16_avx2
#include "fused_simd.inc.h"
#undef CYDROP_COEF_T
#undef CYDROP_VS_T
#undef CYDROP_VS_SET1
#undef CYDROP_APPLY
#undef CYDROP_FUSED_GROUP_FN
#undef CYDROP_FUSED_FN

#define CYDROP_COEF_T const cydrop_affine_f32 *
#define CYDROP_VS_T cydrop__aff8_f32
#define CYDROP_VS_SET1 cydrop__aff8_f32_set
#define CYDROP_APPLY cydrop__apply8_affine_f16
#define CYDROP_FUSED_GROUP_FN cydrop__fused_group_affine_f16_avx2
#define CYDROP_FUSED_FN cydrop_fused_affine_f16_avx2
#include "fused_simd.inc.h"
#undef CYDROP_COEF_T
#undef CYDROP_VS_T
#undef CYDROP_VS_SET1
#undef CYDROP_APPLY
#undef CYDROP_FUSED_GROUP_FN
#undef CYDROP_FUSED_FN
#undef CYDROP_T
#undef CYDROP_PF

#undef CYDROP_TARGET
#undef CYDROP_W
#undef CYDROP_STATE
#undef CYDROP_INIT
#undef CYDROP_WORDS
#undef CYDROP_VEC
#undef CYDROP_VEC_SET1
#undef CYDROP_VEC_LOADU
#undef CYDROP_NG

__attribute__((target("avx2")))
static void cydrop_bits_f32_avx2(const float *x, float *o, const uint8_t *bits, size_t n,
                                 float scale, int nt)
{
    const __m256 vs = _mm256_set1_ps(scale);
    const __m256i lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256i m = _mm256_set1_epi32(bits[k >> 3]);
        m = _mm256_cmpeq_epi32(_mm256_and_si256(m, lane), lane);
        CYDROP_ST256_PS(nt, o + k, _mm256_and_ps(_mm256_castsi256_ps(m),
                                              _mm256_mul_ps(_mm256_loadu_ps(x + k), vs)));
    }
    if (nt)
        _mm_sfence();
    cydrop__bits_tail_f32(x, o, bits, k, n, scale);
}

__attribute__((target("avx2")))
static void cydrop_bits_f64_avx2(const double *x, double *o, const uint8_t *bits, size_t n,
                                 double scale, int nt)
{
    const __m256d vs = _mm256_set1_pd(scale);
    const __m256i l0 = _mm256_setr_epi64x(1, 2, 4, 8), l1 = _mm256_setr_epi64x(16, 32, 64, 128);
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256i b = _mm256_set1_epi64x(bits[k >> 3]);
        __m256i m0 = _mm256_cmpeq_epi64(_mm256_and_si256(b, l0), l0);
        __m256i m1 = _mm256_cmpeq_epi64(_mm256_and_si256(b, l1), l1);
        CYDROP_ST256_PD(nt, o + k, _mm256_and_pd(_mm256_castsi256_pd(m0),
                                              _mm256_mul_pd(_mm256_loadu_pd(x + k), vs)));
        CYDROP_ST256_PD(nt, o + k + 4, _mm256_and_pd(_mm256_castsi256_pd(m1),
                                                  _mm256_mul_pd(_mm256_loadu_pd(x + k + 4), vs)));
    }
    if (nt)
        _mm_sfence();
    cydrop__bits_tail_f64(x, o, bits, k, n, scale);
}

__attribute__((target("avx2")))
static void cydrop_scale_f32_avx2(const float *x, float *o, size_t n, float scale, int nt)
{
    const __m256 vs = _mm256_set1_ps(scale);
    /* from the first element where o is 32-byte aligned: a store split
     * across two cache lines costs more than the scalar lead-in (nt: the
     * caller starts there already) */
    size_t k = cydrop__lead_in(o, n, sizeof(float), 32);
    cydrop__scale_tail_f32(x, o, 0, k, scale);
    for (; k + 16 <= n; k += 16) {
        CYDROP_ST256_PS(nt, o + k, _mm256_mul_ps(_mm256_loadu_ps(x + k), vs));
        CYDROP_ST256_PS(nt, o + k + 8, _mm256_mul_ps(_mm256_loadu_ps(x + k + 8), vs));
    }
    if (nt)
        _mm_sfence();
    cydrop__scale_tail_f32(x, o, k, n, scale);
}

__attribute__((target("avx2")))
static void cydrop_scale_f64_avx2(const double *x, double *o, size_t n, double scale, int nt)
{
    const __m256d vs = _mm256_set1_pd(scale);
    /* from the first element where o is 32-byte aligned: a store split
     * across two cache lines costs more than the scalar lead-in (nt: the
     * caller starts there already) */
    size_t k = cydrop__lead_in(o, n, sizeof(double), 32);
    cydrop__scale_tail_f64(x, o, 0, k, scale);
    for (; k + 8 <= n; k += 8) {
        CYDROP_ST256_PD(nt, o + k, _mm256_mul_pd(_mm256_loadu_pd(x + k), vs));
        CYDROP_ST256_PD(nt, o + k + 4, _mm256_mul_pd(_mm256_loadu_pd(x + k + 4), vs));
    }
    if (nt)
        _mm_sfence();
    cydrop__scale_tail_f64(x, o, k, n, scale);
}

static const cydrop_simd_table cydrop_table_avx2 = {
    .fused_f32 = cydrop_fused_f32_avx2,
    .fused_f64 = cydrop_fused_f64_avx2,
    .keep_f32 = cydrop_keep_f32_avx2,
    .keep_f64 = cydrop_keep_f64_avx2,
    .words_f32 = cydrop_words_f32_avx2,
    .words_f64 = cydrop_words_f64_avx2,
    .bits_f32 = cydrop_bits_f32_avx2,
    .bits_f64 = cydrop_bits_f64_avx2,
    .scale_f32 = cydrop_scale_f32_avx2,
    .scale_f64 = cydrop_scale_f64_avx2,
    .half_f16c = 1,
    .fused_f16 = cydrop_fused_f16_avx2,
    .fused_affine_f32 = cydrop_fused_affine_f32_avx2,
    .fused_affine_f64 = cydrop_fused_affine_f64_avx2,
    .fused_affine_f16 = cydrop_fused_affine_f16_avx2,
};


#endif /* CYDROP_HAVE_X86_SIMD */
#endif /* CYDROP_SIMD_LOOPS_AVX2_H */
