/*
 * IEEE binary16 (numpy.float16) <-> binary32 conversions for the float16
 * kernels, which compute in float32 and round once (docs/design.md, "float16").
 *
 * Two implementations give bit-identical results (tested exhaustively for
 * half -> float and on every float32 exponent for float -> half):
 *   portable - integer bit manipulation, round to nearest even, any CPU;
 *   f16c     - the x86 F16C instructions (vcvtph2ps / vcvtps2ph, 8 lanes),
 *              compiled with target("avx,f16c") and used only when the CPU has
 *              them (cydrop_f16c_supported) and the caller asks for them.
 * NaNs come out quiet, sign and (top) payload bits kept, as F16C does: half ->
 * float sets the quiet bit, float -> half keeps the top 10 payload bits and
 * sets it.
 */
#ifndef CYDROP_HALF_H
#define CYDROP_HALF_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__)) \
    && !defined(CYDROP_NO_SIMD)
#define CYDROP_HAVE_F16C_CODE 1
#include <immintrin.h>
#else
#define CYDROP_HAVE_F16C_CODE 0
#endif

/* Both directions without a branch: every case is computed and the
 * element's own picked by selects, so that a run of mixed values (a
 * dropout's zeros among normal numbers) costs no mispredictions and the
 * compiler vectorizes a contiguous run (SSE2 on any x86-64: four lanes of
 * integer ops and compares, all signed-safe, as ax < 2**31). */
static inline float cydrop_h2f_one(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    int32_t em = (int32_t)(h & 0x7fffu);                  /* exponent and mantissa */
    int32_t bits = (em << 13) + 0x38000000;               /* normal: rebias 15 -> 127 */
    float sub = (float)em * 0x1p-24f;                     /* zero, subnormal: exact */
    int32_t sbits;
    float f;
    memcpy(&sbits, &sub, 4);
    bits = em >= 0x7c00 ? bits + 0x38000000 : bits;       /* inf, NaN: exponent 255 */
    bits = em > 0x7c00 ? bits | 0x400000 : bits;          /* NaN quieted, as vcvtph2ps */
    bits = em < 0x400 ? sbits : bits;
    bits = (int32_t)((uint32_t)bits | sign);
    memcpy(&f, &bits, 4);
    return f;
}

/* Round to nearest even.  A subnormal half (|f| < 2**-14) is rounded by the
 * addition |f| + 0.5, whose unit in the last place is the subnormal half's
 * (2**-24): the sum's bits above 0.5's are the half's, rounded by the FPU to
 * nearest even in the default rounding mode (the mode every kernel's product
 * is computed in; F16C takes it from its immediate). */
static inline uint16_t cydrop_f2h_one(float f)
{
    uint32_t x, sign;
    int32_t ax, r, hn, hs;
    float s;
    memcpy(&x, &f, 4);
    sign = (x >> 16) & 0x8000u;                           /* 32-bit lanes to the end */
    ax = (int32_t)(x & 0x7fffffffu);
    /* normal half (>= 2**-14): rebias 127 -> 15, round to nearest even */
    r = (int32_t)((uint32_t)ax - 0x38000000u + 0xfffu + (((uint32_t)ax >> 13) & 1u));
    hn = (int32_t)((uint32_t)r >> 13);
    memcpy(&s, &ax, 4);
    s += 0.5f;                                            /* subnormal half or zero */
    memcpy(&hs, &s, 4);
    hs -= 0x3f000000;
    r = ax < 0x38800000 ? hs : hn;
    r = ax >= 0x477ff000 ? 0x7c00 : r;                    /* >= 65520: rounds to inf */
    r = ax > 0x7f800000 ? 0x7e00 | ((ax >> 13) & 0x3ff) : r;  /* NaN: quiet, top payload */
    return (uint16_t)(sign | (uint32_t)r);
}

#if defined(__SSE2__) && !defined(CYDROP_NO_SIMD)
#include <emmintrin.h>
#define CYDROP_HAVE_SSE2_HALF 1
/* cydrop_f2h_one on four lanes with SSE2 (baseline x86-64), the same steps;
 * written out because the compiler's own vectorization of it narrows the
 * 32-bit lanes to 16 bits with many shuffles (SSE2 has no unsigned pack) */
static inline __m128i cydrop__f2h4_sse2(__m128 f)
{
    const __m128i absmask = _mm_set1_epi32(0x7fffffff);
    __m128i x = _mm_castps_si128(f);
    __m128i ax = _mm_and_si128(x, absmask);
    __m128i sign = _mm_and_si128(_mm_srli_epi32(x, 16), _mm_set1_epi32(0x8000));
    __m128i odd = _mm_and_si128(_mm_srli_epi32(ax, 13), _mm_set1_epi32(1));
    __m128i hn = _mm_srli_epi32(_mm_add_epi32(_mm_add_epi32(ax, _mm_set1_epi32(
        (int)(0xfffu - 0x38000000u))), odd), 13);
    __m128i hs = _mm_sub_epi32(_mm_castps_si128(_mm_add_ps(_mm_castsi128_ps(ax),
                                                           _mm_set1_ps(0.5f))),
                               _mm_set1_epi32(0x3f000000));
    __m128i sub = _mm_cmplt_epi32(ax, _mm_set1_epi32(0x38800000));
    __m128i inf = _mm_cmpgt_epi32(ax, _mm_set1_epi32(0x477ff000 - 1));
    __m128i nan = _mm_cmpgt_epi32(ax, _mm_set1_epi32(0x7f800000));
    __m128i nanv = _mm_or_si128(_mm_set1_epi32(0x7e00),
                                _mm_and_si128(_mm_srli_epi32(ax, 13), _mm_set1_epi32(0x3ff)));
    __m128i r = _mm_or_si128(_mm_and_si128(sub, hs), _mm_andnot_si128(sub, hn));
    r = _mm_or_si128(_mm_and_si128(inf, _mm_set1_epi32(0x7c00)), _mm_andnot_si128(inf, r));
    r = _mm_or_si128(_mm_and_si128(nan, nanv), _mm_andnot_si128(nan, r));
    return _mm_or_si128(r, sign);
}

/* cydrop_h2f_one on four lanes (the halves zero-extended to 32 bits) */
static inline __m128 cydrop__h2f4_sse2(__m128i h)
{
    __m128i em = _mm_and_si128(h, _mm_set1_epi32(0x7fff));
    __m128i sign = _mm_slli_epi32(_mm_and_si128(h, _mm_set1_epi32(0x8000)), 16);
    __m128i bits = _mm_add_epi32(_mm_slli_epi32(em, 13), _mm_set1_epi32(0x38000000));
    __m128i sub = _mm_castps_si128(_mm_mul_ps(_mm_cvtepi32_ps(em), _mm_set1_ps(0x1p-24f)));
    __m128i infnan = _mm_cmpgt_epi32(em, _mm_set1_epi32(0x7c00 - 1));
    __m128i nan = _mm_cmpgt_epi32(em, _mm_set1_epi32(0x7c00));
    __m128i small = _mm_cmplt_epi32(em, _mm_set1_epi32(0x400));
    bits = _mm_add_epi32(bits, _mm_and_si128(infnan, _mm_set1_epi32(0x38000000)));
    bits = _mm_or_si128(bits, _mm_and_si128(nan, _mm_set1_epi32(0x400000)));
    bits = _mm_or_si128(_mm_and_si128(small, sub), _mm_andnot_si128(small, bits));
    return _mm_castsi128_ps(_mm_or_si128(bits, sign));
}

/* eight 32-bit lanes holding 16-bit values to eight 16-bit lanes: sign-extend
 * the low halves, then the signed pack saturates nothing */
static inline __m128i cydrop__narrow8_sse2(__m128i a, __m128i b)
{
    return _mm_packs_epi32(_mm_srai_epi32(_mm_slli_epi32(a, 16), 16),
                           _mm_srai_epi32(_mm_slli_epi32(b, 16), 16));
}
#else
#define CYDROP_HAVE_SSE2_HALF 0
#endif

#if CYDROP_HAVE_F16C_CODE
__attribute__((target("avx,f16c")))
static void cydrop_h2f_f16c(const char *src, ptrdiff_t stride, float *dst, ptrdiff_t n)
{
    ptrdiff_t k = 0;
    if (stride == 2) {
        for (; k + 8 <= n; k += 8)
            _mm256_storeu_ps(dst + k, _mm256_cvtph_ps(
                _mm_loadu_si128((const __m128i *)(src + 2 * k))));
    }
    for (; k < n; k++) {
        uint16_t h;
        memcpy(&h, src + k * stride, 2);
        dst[k] = _cvtsh_ss(h);
    }
}

__attribute__((target("avx,f16c")))
static void cydrop_f2h_f16c(const float *src, char *dst, ptrdiff_t stride, ptrdiff_t n)
{
    ptrdiff_t k = 0;
    if (stride == 2) {
        for (; k + 8 <= n; k += 8)
            _mm_storeu_si128((__m128i *)(dst + 2 * k), _mm256_cvtps_ph(
                _mm256_loadu_ps(src + k), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    for (; k < n; k++) {
        uint16_t h = _cvtss_sh(src[k], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        memcpy(dst + k * stride, &h, 2);
    }
}
#endif

static int cydrop_f16c_supported(void)
{
#if CYDROP_HAVE_F16C_CODE
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
#else
    return 0;
#endif
}

/* dst[k] = src[k * stride] (bytes) as float, k < n */
static inline void cydrop_h2f(int f16c, const char *src, ptrdiff_t stride, float *dst,
                              ptrdiff_t n)
{
    ptrdiff_t k;
#if CYDROP_HAVE_F16C_CODE
    if (f16c) {
        cydrop_h2f_f16c(src, stride, dst, n);
        return;
    }
#else
    (void)f16c;
#endif
    if (stride == 2) {          /* contiguous (aligned to 2): vectorized */
        const uint16_t *s = (const uint16_t *)(const void *)src;
        k = 0;
#if CYDROP_HAVE_SSE2_HALF
        for (; k + 8 <= n; k += 8) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + k));
            __m128i z = _mm_setzero_si128();
            _mm_storeu_ps(dst + k, cydrop__h2f4_sse2(_mm_unpacklo_epi16(v, z)));
            _mm_storeu_ps(dst + k + 4, cydrop__h2f4_sse2(_mm_unpackhi_epi16(v, z)));
        }
#endif
        for (; k < n; k++)
            dst[k] = cydrop_h2f_one(s[k]);
        return;
    }
    for (k = 0; k < n; k++) {
        uint16_t h;
        memcpy(&h, src + k * stride, 2);
        dst[k] = cydrop_h2f_one(h);
    }
}

/* dst[k * stride] (bytes) = src[k] rounded to half, k < n */
static inline void cydrop_f2h(int f16c, const float *src, char *dst, ptrdiff_t stride,
                              ptrdiff_t n)
{
    ptrdiff_t k;
#if CYDROP_HAVE_F16C_CODE
    if (f16c) {
        cydrop_f2h_f16c(src, dst, stride, n);
        return;
    }
#else
    (void)f16c;
#endif
    if (stride == 2) {          /* contiguous (aligned to 2): vectorized */
        uint16_t *d = (uint16_t *)(void *)dst;
        k = 0;
#if CYDROP_HAVE_SSE2_HALF
        for (; k + 8 <= n; k += 8)
            _mm_storeu_si128((__m128i *)(void *)(d + k), cydrop__narrow8_sse2(
                cydrop__f2h4_sse2(_mm_loadu_ps(src + k)),
                cydrop__f2h4_sse2(_mm_loadu_ps(src + k + 4))));
#endif
        for (; k < n; k++)
            d[k] = cydrop_f2h_one(src[k]);
        return;
    }
    for (k = 0; k < n; k++) {
        uint16_t h = cydrop_f2h_one(src[k]);
        memcpy(dst + k * stride, &h, 2);
    }
}

#endif /* CYDROP_HALF_H */
