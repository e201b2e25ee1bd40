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

static inline float cydrop_h2f_one(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
    float f;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {                       /* subnormal: mant * 2**-24, normalised */
            int e = 0;
            while (!(mant & 0x400u)) {
                mant <<= 1;
                e++;
            }
            bits = sign | ((uint32_t)(113 - e) << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        /* inf; NaN quieted, payload kept (as vcvtph2ps) */
        bits = sign | 0x7f800000u | (mant << 13) | (mant ? 0x400000u : 0u);
    } else {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t cydrop_f2h_one(float f)
{
    uint32_t x, ax;
    uint16_t sign;
    memcpy(&x, &f, 4);
    sign = (uint16_t)((x >> 16) & 0x8000u);
    ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {                              /* inf, NaN */
        if (ax == 0x7f800000u)
            return sign | 0x7c00u;
        return sign | 0x7e00u | (uint16_t)((ax >> 13) & 0x3ffu);
    }
    if (ax >= 0x477ff000u)                                /* >= 65520: rounds to inf */
        return sign | 0x7c00u;
    if (ax >= 0x38800000u) {                              /* normal half: >= 2**-14 */
        uint32_t r = ax - 0x38000000u;                    /* rebias 127 -> 15 */
        r += 0xfffu + ((r >> 13) & 1u);                   /* round to nearest even */
        return sign | (uint16_t)(r >> 13);
    }
    if (ax > 0x33000000u) {                               /* subnormal half (> 2**-25) */
        uint32_t e = ax >> 23;                            /* 102 .. 112 */
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e;                        /* 14 .. 24 */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1u);
        uint32_t halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (q & 1u)))
            q++;                                          /* may carry into 2**-14: right */
        return sign | (uint16_t)q;
    }
    return sign;                                          /* <= 2**-25: to (signed) zero */
}

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
    for (k = 0; k < n; k++) {
        uint16_t h = cydrop_f2h_one(src[k]);
        memcpy(dst + k * stride, &h, 2);
    }
}

#endif /* CYDROP_HALF_H */
