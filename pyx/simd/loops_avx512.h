/*
 * The element loops with AVX-512F, compiled with target("avx512f") and run
 * with the avx512 Philox path (dispatch.h).  Keep masks are mask registers:
 * the unsigned compare's 16-bit mask drives a zero-masked multiply and is
 * itself the 16 elements' packed bits; packed bits load straight into one.
 */
#ifndef CYDROP_SIMD_LOOPS_AVX512_H
#define CYDROP_SIMD_LOOPS_AVX512_H

#include "common.h"

#if CYDROP_HAVE_X86_SIMD

/* a store of the element loops: non-temporal when nt (o then 64-byte
 * aligned: the caller starts the loop there), else an ordinary unaligned
 * store */
#define CYDROP_ST512_PS(nt, p, v) ((nt) ? _mm512_stream_ps((p), (v)) : _mm512_storeu_ps((p), (v)))
#define CYDROP_ST512_PD(nt, p, v) ((nt) ? _mm512_stream_pd((p), (v)) : _mm512_storeu_pd((p), (v)))

__attribute__((target("avx512f")))
static void cydrop_keep_f32_avx512(const float *x, float *o, const uint8_t *keep, size_t n,
                                   float scale, int nt)
{
    const __m512 vs = _mm512_set1_ps(scale);
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(keep + k)));
        CYDROP_ST512_PS(nt, o + k, _mm512_maskz_mul_ps(_mm512_test_epi32_mask(b, b),
                                                    _mm512_loadu_ps(x + k), vs));
    }
    if (nt)
        _mm_sfence();
    cydrop__keep_tail_f32(x, o, keep, k, n, scale);
}

__attribute__((target("avx512f")))
static void cydrop_keep_f64_avx512(const double *x, double *o, const uint8_t *keep, size_t n,
                                   double scale, int nt)
{
    const __m512d vs = _mm512_set1_pd(scale);
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m512i b = _mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *)(keep + k)));
        CYDROP_ST512_PD(nt, o + k, _mm512_maskz_mul_pd(_mm512_test_epi64_mask(b, b),
                                                    _mm512_loadu_pd(x + k), vs));
    }
    if (nt)
        _mm_sfence();
    cydrop__keep_tail_f64(x, o, keep, k, n, scale);
}

/* the compare's 16-bit mask is the 16 elements' packed bits, in order */
CYDROP_INLINE void cydrop__store_bits16(uint8_t *bits, uint16_t m)
{
    if (bits)
        memcpy(bits, &m, 2);
}

__attribute__((target("avx512f")))
static inline void cydrop__apply16_f32(const float *x, float *o, uint8_t *bits, __m512i w,
                                       __m512i t, __m512 vs, int nt)
{
    __mmask16 m = _mm512_cmp_epu32_mask(w, t, _MM_CMPINT_NLT);
    __m512 r = _mm512_maskz_mul_ps(m, _mm512_loadu_ps(x), vs);
    cydrop__store_bits16(bits, (uint16_t)m);
    CYDROP_ST512_PS(nt, o, r);
}

__attribute__((target("avx512f")))
static inline void cydrop__apply16_f64(const double *x, double *o, uint8_t *bits, __m512i w,
                                       __m512i t, __m512d vs, int nt)
{
    __mmask16 m = _mm512_cmp_epu32_mask(w, t, _MM_CMPINT_NLT);
    __m512d r0 = _mm512_maskz_mul_pd((__mmask8)m, _mm512_loadu_pd(x), vs);
    __m512d r1 = _mm512_maskz_mul_pd((__mmask8)(m >> 8), _mm512_loadu_pd(x + 8), vs);
    cydrop__store_bits16(bits, (uint16_t)m);
    CYDROP_ST512_PD(nt, o, r0);
    CYDROP_ST512_PD(nt, o + 8, r1);
}

/* The float16 and alpha-dropout applies.  float16: sixteen halves converted
 * with AVX-512F's vcvtph2ps (exact), the float32 product under the mask,
 * rounded back to nearest even (vcvtps2ph, the rounding in its immediate),
 * as the general path's conversions and float32 loop compute it.  Alpha:
 * the product, then the sum under the mask (two roundings), the fill
 * passed through where an element is dropped. */
#define CYDROP_F16_RNE_512 (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define CYDROP_ST256_SI(nt, p, v) \
    ((nt) ? _mm256_stream_si256((p), (v)) : _mm256_storeu_si256((p), (v)))

typedef struct {
    __m512 s, a, f;
} cydrop__aff16_f32;
typedef struct {
    __m512d s, a, f;
} cydrop__aff16_f64;

__attribute__((target("avx512f")))
CYDROP_INLINE cydrop__aff16_f32 cydrop__aff16_f32_set(const cydrop_affine_f32 *c)
{
    cydrop__aff16_f32 v = {_mm512_set1_ps(c->scale), _mm512_set1_ps(c->add),
                           _mm512_set1_ps(c->fill)};
    return v;
}

__attribute__((target("avx512f")))
CYDROP_INLINE cydrop__aff16_f64 cydrop__aff16_f64_set(const cydrop_affine_f64 *c)
{
    cydrop__aff16_f64 v = {_mm512_set1_pd(c->scale), _mm512_set1_pd(c->add),
                           _mm512_set1_pd(c->fill)};
    return v;
}

__attribute__((target("avx512f")))
static inline void cydrop__apply16_f16(const uint16_t *x, uint16_t *o, uint8_t *bits, __m512i w,
                                       __m512i t, __m512 vs, int nt)
{
    __mmask16 m = _mm512_cmp_epu32_mask(w, t, _MM_CMPINT_NLT);
    __m512 v = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)x));
    __m512 r = _mm512_maskz_mul_ps(m, v, vs);
    cydrop__store_bits16(bits, (uint16_t)m);
    CYDROP_ST256_SI(nt, (__m256i *)o, _mm512_cvtps_ph(r, CYDROP_F16_RNE_512));
}

__attribute__((target("avx512f")))
static inline void cydrop__apply16_affine_f32(const float *x, float *o, uint8_t *bits,
                                              __m512i w, __m512i t, cydrop__aff16_f32 c, int nt)
{
    __mmask16 m = _mm512_cmp_epu32_mask(w, t, _MM_CMPINT_NLT);
    __m512 r = _mm512_mask_add_ps(c.f, m, _mm512_mul_ps(_mm512_loadu_ps(x), c.s), c.a);
    cydrop__store_bits16(bits, (uint16_t)m);
    CYDROP_ST512_PS(nt, o, r);
}

__attribute__((target("avx512f")))
static inline void cydrop__apply16_affine_f64(const double *x, double *o, uint8_t *bits,
                                              __m512i w, __m512i t, cydrop__aff16_f64 c, int nt)
{
    __mmask16 m = _mm512_cmp_epu32_mask(w, t, _MM_CMPINT_NLT);
    __m512d r0 = _mm512_mask_add_pd(c.f, (__mmask8)m,
                                    _mm512_mul_pd(_mm512_loadu_pd(x), c.s), c.a);
    __m512d r1 = _mm512_mask_add_pd(c.f, (__mmask8)(m >> 8),
                                    _mm512_mul_pd(_mm512_loadu_pd(x + 8), c.s), c.a);
    cydrop__store_bits16(bits, (uint16_t)m);
    CYDROP_ST512_PD(nt, o, r0);
    CYDROP_ST512_PD(nt, o + 8, r1);
}

__attribute__((target("avx512f")))
static inline void cydrop__apply16_affine_f16(const uint16_t *x, uint16_t *o, uint8_t *bits,
                                              __m512i w, __m512i t, cydrop__aff16_f32 c, int nt)
{
    __mmask16 m = _mm512_cmp_epu32_mask(w, t, _MM_CMPINT_NLT);
    __m512 v = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)x));
    __m512 r = _mm512_mask_add_ps(c.f, m, _mm512_mul_ps(v, c.s), c.a);
    cydrop__store_bits16(bits, (uint16_t)m);
    CYDROP_ST256_SI(nt, (__m256i *)o, _mm512_cvtps_ph(r, CYDROP_F16_RNE_512));
}

/* The words and fused loops (words_simd.inc.h, fused_simd.inc.h), 16
 * elements per apply: four groups of 16 blocks per step for float32 (as in
 * the fill), two for float64, whose apply moves twice the bytes per word. */
#define CYDROP_G32 4
#define CYDROP_G64 2

#define CYDROP_TARGET "avx512f"
#define CYDROP_W 16
#define CYDROP_STATE cydrop_state16
#define CYDROP_INIT cydrop__init16
#define CYDROP_WORDS cydrop__words16
#define CYDROP_VEC __m512i
#define CYDROP_VEC_SET1 _mm512_set1_epi32
#define CYDROP_VEC_LOADU(p) _mm512_loadu_si512((const void *)(p))
#define CYDROP_PF 0

#define CYDROP_T float
#define CYDROP_COEF_T float
#define CYDROP_VS_T __m512
#define CYDROP_VS_SET1 _mm512_set1_ps
#define CYDROP_APPLY cydrop__apply16_f32
#define CYDROP_NG CYDROP_G32
#define CYDROP_WORDS_TAIL_FN cydrop__words_tail_f32
#define CYDROP_WORDS_FN cydrop_words_f32_avx512
#define CYDROP_FUSED_GROUP_FN cydrop__fused_group_f32_avx512
#define CYDROP_FUSED_FN cydrop_fused_f32_avx512
#include "words_simd.inc.h"
#include "fused_simd.inc.h"
#undef CYDROP_T
#undef CYDROP_COEF_T
#undef CYDROP_VS_T
#undef CYDROP_VS_SET1
#undef CYDROP_APPLY
#undef CYDROP_NG
#undef CYDROP_WORDS_TAIL_FN
#undef CYDROP_WORDS_FN
#undef CYDROP_FUSED_GROUP_FN
#undef CYDROP_FUSED_FN

#define CYDROP_T double
#define CYDROP_COEF_T double
#define CYDROP_VS_T __m512d
#define CYDROP_VS_SET1 _mm512_set1_pd
#define CYDROP_APPLY cydrop__apply16_f64
#define CYDROP_NG CYDROP_G64
#define CYDROP_WORDS_TAIL_FN cydrop__words_tail_f64
#define CYDROP_WORDS_FN cydrop_words_f64_avx512
#define CYDROP_FUSED_GROUP_FN cydrop__fused_group_f64_avx512
#define CYDROP_FUSED_FN cydrop_fused_f64_avx512
#include "words_simd.inc.h"
#include "fused_simd.inc.h"
#undef CYDROP_T
#undef CYDROP_COEF_T
#undef CYDROP_VS_T
#undef CYDROP_VS_SET1
#undef CYDROP_APPLY
#undef CYDROP_NG
#undef CYDROP_WORDS_TAIL_FN
#undef CYDROP_WORDS_FN
#undef CYDROP_FUSED_GROUP_FN
#undef CYDROP_FUSED_FN


/* The float16 and alpha fused loops (fused_simd.inc.h alone): the group
 * counts of the element type computed in (float32's for float16). */
#define CYDROP_T float
#define CYDROP_COEF_T const cydrop_affine_f32 *
#define CYDROP_VS_T cydrop__aff16_f32
#define CYDROP_VS_SET1 cydrop__aff16_f32_set
#define CYDROP_APPLY cydrop__apply16_affine_f32
#define CYDROP_NG CYDROP_G32
#define CYDROP_FUSED_GROUP_FN cydrop__fused_group_affine_f32_avx512
#define CYDROP_FUSED_FN cydrop_fused_affine_f32_avx512
#include "fused_simd.inc.h"
#undef CYDROP_T
#undef CYDROP_COEF_T
#undef CYDROP_VS_T
#undef CYDROP_VS_SET1
#undef CYDROP_APPLY
#undef CYDROP_NG
#undef CYDROP_FUSED_GROUP_FN
#undef CYDROP_FUSED_FN

#define CYDROP_T double
#define CYDROP_COEF_T const cydrop_affine_f64 *
#define CYDROP_VS_T cydrop__aff16_f64
#define CYDROP_VS_SET1 cydrop__aff16_f64_set
#define CYDROP_APPLY cydrop__apply16_affine_f64
#define CYDROP_NG CYDROP_G64
#define CYDROP_FUSED_GROUP_FN cydrop__fused_group_affine_f64_avx512
#define CYDROP_FUSED_FN cydrop_fused_affine_f64_avx512
#include "fused_simd.inc.h"
#undef CYDROP_T
#undef CYDROP_COEF_T
#undef CYDROP_VS_T
#undef CYDROP_VS_SET1
#undef CYDROP_APPLY
#undef CYDROP_NG
#undef CYDROP_FUSED_GROUP_FN
#undef CYDROP_FUSED_FN

#define CYDROP_T uint16_t
#define CYDROP_COEF_T float
#define CYDROP_VS_T __m512
#define CYDROP_VS_SET1 _mm512_set1_ps
#define CYDROP_APPLY cydrop__apply16_f16
#define CYDROP_NG CYDROP_G32
#define CYDROP_FUSED_GROUP_FN cydrop__fused_group_f16_avx512
#define CYDROP_FUSED_FN cydrop_fused_f16_avx512
#include "fused_simd.inc.h"
#undef CYDROP_T
#undef CYDROP_COEF_T
#undef CYDROP_VS_T
#undef CYDROP_VS_SET1
#undef CYDROP_APPLY
#undef CYDROP_NG
#undef CYDROP_FUSED_GROUP_FN
#undef CYDROP_FUSED_FN

#define CYDROP_T uint16_t
#define CYDROP_COEF_T const cydrop_affine_f32 *
#define CYDROP_VS_T cydrop__aff16_f32
#define CYDROP_VS_SET1 cydrop__aff16_f32_set
#define CYDROP_APPLY cydrop__apply16_affine_f16
#define CYDROP_NG CYDROP_G32
#define CYDROP_FUSED_GROUP_FN cydrop__fused_group_affine_f16_avx512
#define CYDROP_FUSED_FN cydrop_fused_affine_f16_avx512
#include "fused_simd.inc.h"
#undef CYDROP_T
#undef CYDROP_COEF_T
#undef CYDROP_VS_T
#undef CYDROP_VS_SET1
#undef CYDROP_APPLY
#undef CYDROP_NG
#undef CYDROP_FUSED_GROUP_FN
#undef CYDROP_FUSED_FN

#undef CYDROP_TARGET
#undef CYDROP_W
#undef CYDROP_STATE
#undef CYDROP_INIT
#undef CYDROP_WORDS
#undef CYDROP_VEC
#undef CYDROP_VEC_SET1
#undef CYDROP_VEC_LOADU
#undef CYDROP_PF

__attribute__((target("avx512f")))
static void cydrop_bits_f32_avx512(const float *x, float *o, const uint8_t *bits, size_t n,
                                   float scale, int nt)
{
    const __m512 vs = _mm512_set1_ps(scale);
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        uint16_t m;
        memcpy(&m, bits + (k >> 3), 2);
        CYDROP_ST512_PS(nt, o + k, _mm512_maskz_mul_ps((__mmask16)m, _mm512_loadu_ps(x + k), vs));
    }
    if (nt)
        _mm_sfence();
    cydrop__bits_tail_f32(x, o, bits, k, n, scale);
}

__attribute__((target("avx512f")))
static void cydrop_bits_f64_avx512(const double *x, double *o, const uint8_t *bits, size_t n,
                                   double scale, int nt)
{
    const __m512d vs = _mm512_set1_pd(scale);
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        CYDROP_ST512_PD(nt, o + k, _mm512_maskz_mul_pd((__mmask8)bits[k >> 3],
                                                    _mm512_loadu_pd(x + k), vs));
    if (nt)
        _mm_sfence();
    cydrop__bits_tail_f64(x, o, bits, k, n, scale);
}

__attribute__((target("avx512f")))
static void cydrop_scale_f32_avx512(const float *x, float *o, size_t n, float scale, int nt)
{
    const __m512 vs = _mm512_set1_ps(scale);
    /* from the first element where o is 64-byte aligned: a store split
     * across two cache lines costs more than the scalar lead-in (nt: the
     * caller starts there already) */
    size_t k = cydrop__lead_in(o, n, sizeof(float), 64);
    cydrop__scale_tail_f32(x, o, 0, k, scale);
    for (; k + 32 <= n; k += 32) {
        CYDROP_ST512_PS(nt, o + k, _mm512_mul_ps(_mm512_loadu_ps(x + k), vs));
        CYDROP_ST512_PS(nt, o + k + 16, _mm512_mul_ps(_mm512_loadu_ps(x + k + 16), vs));
    }
    if (nt)
        _mm_sfence();
    cydrop__scale_tail_f32(x, o, k, n, scale);
}

__attribute__((target("avx512f")))
static void cydrop_scale_f64_avx512(const double *x, double *o, size_t n, double scale, int nt)
{
    const __m512d vs = _mm512_set1_pd(scale);
    /* from the first element where o is 64-byte aligned: a store split
     * across two cache lines costs more than the scalar lead-in (nt: the
     * caller starts there already) */
    size_t k = cydrop__lead_in(o, n, sizeof(double), 64);
    cydrop__scale_tail_f64(x, o, 0, k, scale);
    for (; k + 16 <= n; k += 16) {
        CYDROP_ST512_PD(nt, o + k, _mm512_mul_pd(_mm512_loadu_pd(x + k), vs));
        CYDROP_ST512_PD(nt, o + k + 8, _mm512_mul_pd(_mm512_loadu_pd(x + k + 8), vs));
    }
    if (nt)
        _mm_sfence();
    cydrop__scale_tail_f64(x, o, k, n, scale);
}

static const cydrop_simd_table cydrop_table_avx512 = {
    .fused_f32 = cydrop_fused_f32_avx512,
    .fused_f64 = cydrop_fused_f64_avx512,
    .keep_f32 = cydrop_keep_f32_avx512,
    .keep_f64 = cydrop_keep_f64_avx512,
    .words_f32 = cydrop_words_f32_avx512,
    .words_f64 = cydrop_words_f64_avx512,
    .bits_f32 = cydrop_bits_f32_avx512,
    .bits_f64 = cydrop_bits_f64_avx512,
    .scale_f32 = cydrop_scale_f32_avx512,
    .scale_f64 = cydrop_scale_f64_avx512,
    .half_f16c = 1,
    .fused_f16 = cydrop_fused_f16_avx512,
    .fused_affine_f32 = cydrop_fused_affine_f32_avx512,
    .fused_affine_f64 = cydrop_fused_affine_f64_avx512,
    .fused_affine_f16 = cydrop_fused_affine_f16_avx512,
};


#endif /* CYDROP_HAVE_X86_SIMD */
#endif /* CYDROP_SIMD_LOOPS_AVX512_H */
