/*
 * The element loops with SSE2, baseline x86-64 (every x86-64 CPU): the
 * loops of the scalar Philox path there.  Byte and nibble tables of lane
 * masks where SSE2 alone would unpack bits in many instructions.
 */
#ifndef CYDROP_SIMD_LOOPS_SSE2_H
#define CYDROP_SIMD_LOOPS_SSE2_H

#include "common.h"

#if CYDROP_HAVE_SSE2

/* w >= thr unsigned, with SSE2's signed compare: flip the sign bits;
 * dropped where thr > w */
static void cydrop_words_f32_sse2(const float *x, float *o, const uint32_t *w, uint32_t thr,
                                  size_t n, float scale)
{
    const __m128 vs = _mm_set1_ps(scale);
    const __m128i sign = _mm_set1_epi32((int)0x80000000u);
    const __m128i t = _mm_set1_epi32((int)(thr ^ 0x80000000u));
    size_t k = 0;
    for (; k + 4 <= n; k += 4) {
        __m128i d = _mm_cmpgt_epi32(t, _mm_xor_si128(_mm_loadu_si128((const __m128i *)(w + k)),
                                                     sign));
        _mm_storeu_ps(o + k, _mm_andnot_ps(_mm_castsi128_ps(d),
                                           _mm_mul_ps(_mm_loadu_ps(x + k), vs)));
    }
    cydrop__words_tail_f32(x, o, w, thr, k, n, scale);
}

static void cydrop_words_f64_sse2(const double *x, double *o, const uint32_t *w, uint32_t thr,
                                  size_t n, double scale)
{
    const __m128d vs = _mm_set1_pd(scale);
    const __m128i sign = _mm_set1_epi32((int)0x80000000u);
    const __m128i t = _mm_set1_epi32((int)(thr ^ 0x80000000u));
    size_t k = 0;
    for (; k + 4 <= n; k += 4) {
        __m128i d = _mm_cmpgt_epi32(t, _mm_xor_si128(_mm_loadu_si128((const __m128i *)(w + k)),
                                                     sign));
        __m128i d0 = _mm_unpacklo_epi32(d, d), d1 = _mm_unpackhi_epi32(d, d);
        _mm_storeu_pd(o + k, _mm_andnot_pd(_mm_castsi128_pd(d0),
                                           _mm_mul_pd(_mm_loadu_pd(x + k), vs)));
        _mm_storeu_pd(o + k + 2, _mm_andnot_pd(_mm_castsi128_pd(d1),
                                               _mm_mul_pd(_mm_loadu_pd(x + k + 2), vs)));
    }
    cydrop__words_tail_f64(x, o, w, thr, k, n, scale);
}

/* bit j of a byte as lane j's and-mask (all ones or zero), for every byte:
 * 8 KiB, built by the compiler.  With SSE2 alone, unpacking the bits in
 * registers (broadcast, and, compare) costs about 14 instructions per 8
 * floats, more than the memory system needs for them at L2/L3 speed; the
 * table costs one index and two and-with-memory. */
#define CYDROP_LUT_M(i, j) ((((i) >> (j)) & 1) ? 0xFFFFFFFFu : 0u)
#define CYDROP_LUT_R(i) {CYDROP_LUT_M(i, 0), CYDROP_LUT_M(i, 1), CYDROP_LUT_M(i, 2),       \
                         CYDROP_LUT_M(i, 3), CYDROP_LUT_M(i, 4), CYDROP_LUT_M(i, 5),       \
                         CYDROP_LUT_M(i, 6), CYDROP_LUT_M(i, 7)}
#define CYDROP_LUT_R4(i) CYDROP_LUT_R(i), CYDROP_LUT_R((i) + 1), CYDROP_LUT_R((i) + 2),     \
                         CYDROP_LUT_R((i) + 3)
#define CYDROP_LUT_R16(i) CYDROP_LUT_R4(i), CYDROP_LUT_R4((i) + 4), CYDROP_LUT_R4((i) + 8), \
                          CYDROP_LUT_R4((i) + 12)
#define CYDROP_LUT_R64(i) CYDROP_LUT_R16(i), CYDROP_LUT_R16((i) + 16),                      \
                          CYDROP_LUT_R16((i) + 32), CYDROP_LUT_R16((i) + 48)
#if defined(__GNUC__) || defined(__clang__)
#define CYDROP_LUT_ALIGN __attribute__((aligned(64)))
#define CYDROP_LUT_LOAD(p) _mm_load_ps((const float *)(p))
#define CYDROP_LUT_LOADD(p) _mm_load_pd((const double *)(p))
#else
#define CYDROP_LUT_ALIGN
#define CYDROP_LUT_LOAD(p) _mm_loadu_ps((const float *)(p))
#define CYDROP_LUT_LOADD(p) _mm_loadu_pd((const double *)(p))
#endif
CYDROP_LUT_ALIGN
static const uint32_t cydrop_bits_lut32[256][8] = {
    CYDROP_LUT_R64(0), CYDROP_LUT_R64(64), CYDROP_LUT_R64(128), CYDROP_LUT_R64(192)};

/* o[0..8) = x[0..8) * scale where bit j of byte is set, else +0.0 */
CYDROP_INLINE void cydrop__lut_apply8_sse2(const float *x, float *o, unsigned byte, __m128 vs)
{
    const uint32_t *m = cydrop_bits_lut32[byte];
    _mm_storeu_ps(o, _mm_and_ps(CYDROP_LUT_LOAD(m), _mm_mul_ps(_mm_loadu_ps(x), vs)));
    _mm_storeu_ps(o + 4, _mm_and_ps(CYDROP_LUT_LOAD(m + 4), _mm_mul_ps(_mm_loadu_ps(x + 4), vs)));
}

static void cydrop_bits_f32_sse2(const float *x, float *o, const uint8_t *bits, size_t n,
                                 float scale, int nt)
{
    (void)nt;
    const __m128 vs = _mm_set1_ps(scale);
    size_t k = 0;
    for (; k + 32 <= n; k += 32, x += 32, o += 32, bits += 4) {
        cydrop__lut_apply8_sse2(x, o, bits[0], vs);
        cydrop__lut_apply8_sse2(x + 8, o + 8, bits[1], vs);
        cydrop__lut_apply8_sse2(x + 16, o + 16, bits[2], vs);
        cydrop__lut_apply8_sse2(x + 24, o + 24, bits[3], vs);
    }
    n -= k;
    k = 0;
    for (; k + 8 <= n; k += 8)
        cydrop__lut_apply8_sse2(x + k, o + k, bits[k >> 3], vs);
    cydrop__bits_tail_f32(x, o, bits, k, n, scale);
}

/* four bits as four float64 lanes' and-masks (512 bytes) */
CYDROP_LUT_ALIGN
static const uint64_t cydrop_nibble_lut64[16][4] = {
#define CYDROP_NIB_M(i, j) ((((i) >> (j)) & 1) ? ~(uint64_t)0 : (uint64_t)0)
#define CYDROP_NIB_R(i) {CYDROP_NIB_M(i, 0), CYDROP_NIB_M(i, 1), CYDROP_NIB_M(i, 2), CYDROP_NIB_M(i, 3)}
    CYDROP_NIB_R(0), CYDROP_NIB_R(1), CYDROP_NIB_R(2), CYDROP_NIB_R(3), CYDROP_NIB_R(4),
    CYDROP_NIB_R(5), CYDROP_NIB_R(6), CYDROP_NIB_R(7), CYDROP_NIB_R(8), CYDROP_NIB_R(9),
    CYDROP_NIB_R(10), CYDROP_NIB_R(11), CYDROP_NIB_R(12), CYDROP_NIB_R(13), CYDROP_NIB_R(14),
    CYDROP_NIB_R(15)};

/* float64 keep flags, 16 at a time: compare with zero, gather the 16
 * answers into a word (pmovmskb), and take each four lanes' and-masks from
 * the nibble table (any nonzero byte keeps).  float32 unpacks the compare in
 * registers instead (below): through the byte table it measured slower. */
CYDROP_INLINE void cydrop__nib_apply4_sse2(const double *x, double *o, unsigned nib, __m128d vs)
{
    const uint64_t *m = cydrop_nibble_lut64[nib];
    _mm_storeu_pd(o, _mm_and_pd(CYDROP_LUT_LOADD(m), _mm_mul_pd(_mm_loadu_pd(x), vs)));
    _mm_storeu_pd(o + 2, _mm_and_pd(CYDROP_LUT_LOADD(m + 2), _mm_mul_pd(_mm_loadu_pd(x + 2), vs)));
}

static void cydrop_keep_f64_sse2(const double *x, double *o, const uint8_t *keep, size_t n,
                                 double scale, int nt)
{
    (void)nt;
    const __m128d vs = _mm_set1_pd(scale);
    const __m128i z = _mm_setzero_si128();
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        unsigned kb = ~(unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(keep + k)), z));
        cydrop__nib_apply4_sse2(x + k, o + k, kb & 15, vs);
        cydrop__nib_apply4_sse2(x + k + 4, o + k + 4, (kb >> 4) & 15, vs);
        cydrop__nib_apply4_sse2(x + k + 8, o + k + 8, (kb >> 8) & 15, vs);
        cydrop__nib_apply4_sse2(x + k + 12, o + k + 12, (kb >> 12) & 15, vs);
    }
    cydrop__keep_tail_f64(x, o, keep, k, n, scale);
}

/* d: 0xFF.. where an element is dropped; andnot keeps x * scale elsewhere */
static void cydrop_keep_f32_sse2(const float *x, float *o, const uint8_t *keep, size_t n,
                                 float scale, int nt)
{
    (void)nt;
    const __m128 vs = _mm_set1_ps(scale);
    const __m128i z = _mm_setzero_si128();
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        __m128i d = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(keep + k)), z);
        __m128i lo = _mm_unpacklo_epi8(d, d), hi = _mm_unpackhi_epi8(d, d);
        __m128i m[4];
        int j;
        m[0] = _mm_unpacklo_epi16(lo, lo);
        m[1] = _mm_unpackhi_epi16(lo, lo);
        m[2] = _mm_unpacklo_epi16(hi, hi);
        m[3] = _mm_unpackhi_epi16(hi, hi);
        for (j = 0; j < 4; j++)
            _mm_storeu_ps(o + k + 4 * j,
                          _mm_andnot_ps(_mm_castsi128_ps(m[j]),
                                        _mm_mul_ps(_mm_loadu_ps(x + k + 4 * j), vs)));
    }
    cydrop__keep_tail_f32(x, o, keep, k, n, scale);
}

static void cydrop_bits_f64_sse2(const double *x, double *o, const uint8_t *bits, size_t n,
                                 double scale, int nt)
{
    (void)nt;
    const __m128d vs = _mm_set1_pd(scale);
    /* 64-bit lanes as pairs of 32-bit ones: both halves test the same bit */
    const __m128i l0 = _mm_setr_epi32(1, 1, 2, 2), l1 = _mm_setr_epi32(4, 4, 8, 8);
    const __m128i l2 = _mm_setr_epi32(16, 16, 32, 32), l3 = _mm_setr_epi32(64, 64, 128, 128);
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m128i b = _mm_set1_epi32(bits[k >> 3]);
        __m128i m0 = _mm_cmpeq_epi32(_mm_and_si128(b, l0), l0);
        __m128i m1 = _mm_cmpeq_epi32(_mm_and_si128(b, l1), l1);
        __m128i m2 = _mm_cmpeq_epi32(_mm_and_si128(b, l2), l2);
        __m128i m3 = _mm_cmpeq_epi32(_mm_and_si128(b, l3), l3);
        _mm_storeu_pd(o + k, _mm_and_pd(_mm_castsi128_pd(m0), _mm_mul_pd(_mm_loadu_pd(x + k), vs)));
        _mm_storeu_pd(o + k + 2, _mm_and_pd(_mm_castsi128_pd(m1),
                                            _mm_mul_pd(_mm_loadu_pd(x + k + 2), vs)));
        _mm_storeu_pd(o + k + 4, _mm_and_pd(_mm_castsi128_pd(m2),
                                            _mm_mul_pd(_mm_loadu_pd(x + k + 4), vs)));
        _mm_storeu_pd(o + k + 6, _mm_and_pd(_mm_castsi128_pd(m3),
                                            _mm_mul_pd(_mm_loadu_pd(x + k + 6), vs)));
    }
    cydrop__bits_tail_f64(x, o, bits, k, n, scale);
}

/* alpha dropout's words loops: the product, then the sum (two roundings),
 * the fill where the element is dropped (d: thr > w, as above) */
static void cydrop_words_affine_f32_sse2(const float *x, float *o, const uint32_t *w,
                                         uint32_t thr, size_t n, const cydrop_affine_f32 *c)
{
    const __m128 vs = _mm_set1_ps(c->scale), va = _mm_set1_ps(c->add), vf = _mm_set1_ps(c->fill);
    const __m128i sign = _mm_set1_epi32((int)0x80000000u);
    const __m128i t = _mm_set1_epi32((int)(thr ^ 0x80000000u));
    size_t k = 0;
    for (; k + 4 <= n; k += 4) {
        __m128 d = _mm_castsi128_ps(_mm_cmpgt_epi32(
            t, _mm_xor_si128(_mm_loadu_si128((const __m128i *)(w + k)), sign)));
        __m128 v = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(x + k), vs), va);
        _mm_storeu_ps(o + k, _mm_or_ps(_mm_and_ps(d, vf), _mm_andnot_ps(d, v)));
    }
    cydrop__words_affine_tail_f32(x, o, w, thr, k, n, c);
}

static void cydrop_words_affine_f64_sse2(const double *x, double *o, const uint32_t *w,
                                         uint32_t thr, size_t n, const cydrop_affine_f64 *c)
{
    const __m128d vs = _mm_set1_pd(c->scale), va = _mm_set1_pd(c->add);
    const __m128d vf = _mm_set1_pd(c->fill);
    const __m128i sign = _mm_set1_epi32((int)0x80000000u);
    const __m128i t = _mm_set1_epi32((int)(thr ^ 0x80000000u));
    size_t k = 0;
    for (; k + 4 <= n; k += 4) {
        __m128i d = _mm_cmpgt_epi32(t, _mm_xor_si128(_mm_loadu_si128((const __m128i *)(w + k)),
                                                     sign));
        __m128d d0 = _mm_castsi128_pd(_mm_unpacklo_epi32(d, d));
        __m128d d1 = _mm_castsi128_pd(_mm_unpackhi_epi32(d, d));
        __m128d v0 = _mm_add_pd(_mm_mul_pd(_mm_loadu_pd(x + k), vs), va);
        __m128d v1 = _mm_add_pd(_mm_mul_pd(_mm_loadu_pd(x + k + 2), vs), va);
        _mm_storeu_pd(o + k, _mm_or_pd(_mm_and_pd(d0, vf), _mm_andnot_pd(d0, v0)));
        _mm_storeu_pd(o + k + 2, _mm_or_pd(_mm_and_pd(d1, vf), _mm_andnot_pd(d1, v1)));
    }
    cydrop__words_affine_tail_f64(x, o, w, thr, k, n, c);
}

#define CYDROP_T float
#define CYDROP_COEF_T float
#define CYDROP_WORDS_FN cydrop_words_f32_sse2
#define CYDROP_FUSED_FN cydrop_fused_f32_sse2
#include "fused_buffered.inc.h"
#undef CYDROP_T
#undef CYDROP_COEF_T
#undef CYDROP_WORDS_FN
#undef CYDROP_FUSED_FN

#define CYDROP_T double
#define CYDROP_COEF_T double
#define CYDROP_WORDS_FN cydrop_words_f64_sse2
#define CYDROP_FUSED_FN cydrop_fused_f64_sse2
#include "fused_buffered.inc.h"
#undef CYDROP_T
#undef CYDROP_COEF_T
#undef CYDROP_WORDS_FN
#undef CYDROP_FUSED_FN

/* SSE2 streams no stores (nt ignored), as its other loops */
static void cydrop_scale_f32_sse2(const float *x, float *o, size_t n, float scale, int nt)
{
    (void)nt;
    const __m128 vs = _mm_set1_ps(scale);
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        _mm_storeu_ps(o + k, _mm_mul_ps(_mm_loadu_ps(x + k), vs));
        _mm_storeu_ps(o + k + 4, _mm_mul_ps(_mm_loadu_ps(x + k + 4), vs));
    }
    cydrop__scale_tail_f32(x, o, k, n, scale);
}

static void cydrop_scale_f64_sse2(const double *x, double *o, size_t n, double scale, int nt)
{
    (void)nt;
    const __m128d vs = _mm_set1_pd(scale);
    size_t k = 0;
    for (; k + 4 <= n; k += 4) {
        _mm_storeu_pd(o + k, _mm_mul_pd(_mm_loadu_pd(x + k), vs));
        _mm_storeu_pd(o + k + 2, _mm_mul_pd(_mm_loadu_pd(x + k + 2), vs));
    }
    cydrop__scale_tail_f64(x, o, k, n, scale);
}
#define CYDROP_T float
#define CYDROP_COEF_T const cydrop_affine_f32 *
#define CYDROP_WORDS_FN cydrop_words_affine_f32_sse2
#define CYDROP_FUSED_FN cydrop_fused_affine_f32_sse2
#include "fused_buffered.inc.h"
#undef CYDROP_T
#undef CYDROP_COEF_T
#undef CYDROP_WORDS_FN
#undef CYDROP_FUSED_FN

#define CYDROP_T double
#define CYDROP_COEF_T const cydrop_affine_f64 *
#define CYDROP_WORDS_FN cydrop_words_affine_f64_sse2
#define CYDROP_FUSED_FN cydrop_fused_affine_f64_sse2
#include "fused_buffered.inc.h"
#undef CYDROP_T
#undef CYDROP_COEF_T
#undef CYDROP_WORDS_FN
#undef CYDROP_FUSED_FN

#define CYDROP_COEF_T float
#define CYDROP_WORDS_F32_FN cydrop_words_f32_sse2
#define CYDROP_FUSED_F16_FN cydrop_fused_f16_sse2
#include "fused_buffered_f16.inc.h"
#undef CYDROP_COEF_T
#undef CYDROP_WORDS_F32_FN
#undef CYDROP_FUSED_F16_FN

#define CYDROP_COEF_T const cydrop_affine_f32 *
#define CYDROP_WORDS_F32_FN cydrop_words_affine_f32_sse2
#define CYDROP_FUSED_F16_FN cydrop_fused_affine_f16_sse2
#include "fused_buffered_f16.inc.h"
#undef CYDROP_COEF_T
#undef CYDROP_WORDS_F32_FN
#undef CYDROP_FUSED_F16_FN

static const cydrop_simd_table cydrop_table_sse2 = {
    .fused_f32 = cydrop_fused_f32_sse2,
    .fused_f64 = cydrop_fused_f64_sse2,
    .keep_f32 = cydrop_keep_f32_sse2,
    .keep_f64 = cydrop_keep_f64_sse2,
    .words_f32 = cydrop_words_f32_sse2,
    .words_f64 = cydrop_words_f64_sse2,
    .bits_f32 = cydrop_bits_f32_sse2,
    .bits_f64 = cydrop_bits_f64_sse2,
    .scale_f32 = cydrop_scale_f32_sse2,
    .scale_f64 = cydrop_scale_f64_sse2,
    .half_f16c = 0,
    .fused_f16 = cydrop_fused_f16_sse2,
    .fused_affine_f32 = cydrop_fused_affine_f32_sse2,
    .fused_affine_f64 = cydrop_fused_affine_f64_sse2,
    .fused_affine_f16 = cydrop_fused_affine_f16_sse2,
};

#endif /* CYDROP_HAVE_SSE2 */

#endif /* CYDROP_SIMD_LOOPS_SSE2_H */
