/*
 * Philox4x32-10 (Salmon, Moraes, Dror, Shaw, SC'11), the counter-based stream
 * behind every cydrop mask.  See DESIGN.md "The random stream" (normative):
 *
 *   key     = (seed & 0xFFFFFFFF, seed >> 32)
 *   word j  = word (j % 4) of philox4x32_10(counter=(b & 0xFFFFFFFF, b >> 32, 0, 0), key),
 *             b = j / 4
 *
 * Three implementations of the block fill produce bit-identical words:
 *   scalar  - portable C, any CPU;
 *   avx2    - 8 blocks per step, compiled with target("avx2") and chosen at
 *             run time with __builtin_cpu_supports;
 *   avx512  - 16 blocks per step, target("avx512f").
 * The default build needs nothing beyond baseline x86-64 (or any other CPU:
 * the SIMD paths are compiled only for x86-64 with GCC or Clang).
 */
#ifndef CYDROP_PHILOX_H
#define CYDROP_PHILOX_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>

#define CYDROP_PHILOX_M0 0xD2511F53u
#define CYDROP_PHILOX_M1 0xCD9E8D57u
#define CYDROP_PHILOX_W0 0x9E3779B9u
#define CYDROP_PHILOX_W1 0xBB67AE85u

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__)) \
    && !defined(CYDROP_NO_SIMD)
#define CYDROP_HAVE_X86_SIMD 1
#include <immintrin.h>
#else
#define CYDROP_HAVE_X86_SIMD 0
#endif

/* One Philox4x32 block with an arbitrary number of rounds (10 for the stream). */
static inline void cydrop_philox4x32(const uint32_t ctr_in[4], const uint32_t key_in[2],
                                     int rounds, uint32_t out[4])
{
    uint32_t c0 = ctr_in[0], c1 = ctr_in[1], c2 = ctr_in[2], c3 = ctr_in[3];
    uint32_t k0 = key_in[0], k1 = key_in[1];
    int r;
    for (r = 0; r < rounds; r++) {
        uint64_t p0, p1;
        if (r > 0) {
            k0 += CYDROP_PHILOX_W0;
            k1 += CYDROP_PHILOX_W1;
        }
        p0 = (uint64_t)CYDROP_PHILOX_M0 * c0;
        p1 = (uint64_t)CYDROP_PHILOX_M1 * c2;
        c0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        c2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* words[4*i + k] = word k of block (b0 + i), for i < nblocks. */
static void cydrop_philox_fill_scalar(uint32_t *words, uint64_t b0, size_t nblocks,
                                      uint64_t seed)
{
    uint32_t key[2], ctr[4];
    size_t i;
    key[0] = (uint32_t)seed;
    key[1] = (uint32_t)(seed >> 32);
    ctr[2] = 0;
    ctr[3] = 0;
    for (i = 0; i < nblocks; i++) {
        uint64_t b = b0 + i;
        ctr[0] = (uint32_t)b;
        ctr[1] = (uint32_t)(b >> 32);
        cydrop_philox4x32(ctr, key, 10, words + 4 * i);
    }
}

#if CYDROP_HAVE_X86_SIMD

/* ---- AVX2: 8 blocks per step ------------------------------------------ */

__attribute__((target("avx2")))
static inline void cydrop__mulhilo_avx2(__m256i a, __m256i m, __m256i *hi, __m256i *lo)
{
    __m256i pe = _mm256_mul_epu32(a, m);                      /* lanes 0,2,4,6 */
    __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m); /* lanes 1,3,5,7 */
    *lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
}

__attribute__((target("avx2")))
static void cydrop_philox_fill_avx2(uint32_t *words, uint64_t b0, size_t nblocks,
                                    uint64_t seed)
{
    const __m256i m0 = _mm256_set1_epi32((int)CYDROP_PHILOX_M0);
    const __m256i m1 = _mm256_set1_epi32((int)CYDROP_PHILOX_M1);
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const uint32_t key0 = (uint32_t)seed, key1 = (uint32_t)(seed >> 32);
    size_t i = 0;
    for (; i + 8 <= nblocks; i += 8) {
        uint64_t b = b0 + i;
        uint32_t lo = (uint32_t)b, hi = (uint32_t)(b >> 32);
        __m256i c0, c1, c2, c3, h0, l0, h1, l1;
        __m256i t0, t1, t2, t3, u0, u1, u2, u3;
        uint32_t k0 = key0, k1 = key1;
        int r;
        if (lo <= 0xFFFFFFFFu - 7u) {
            c0 = _mm256_add_epi32(_mm256_set1_epi32((int)lo), iota);
            c1 = _mm256_set1_epi32((int)hi);
        } else {               /* the low word wraps inside this group */
            uint32_t a0[8], a1[8];
            int l;
            for (l = 0; l < 8; l++) {
                uint64_t bl = b + (uint64_t)l;
                a0[l] = (uint32_t)bl;
                a1[l] = (uint32_t)(bl >> 32);
            }
            c0 = _mm256_loadu_si256((const __m256i *)a0);
            c1 = _mm256_loadu_si256((const __m256i *)a1);
        }
        c2 = _mm256_setzero_si256();
        c3 = _mm256_setzero_si256();
        for (r = 0; r < 10; r++) {
            if (r > 0) {
                k0 += CYDROP_PHILOX_W0;
                k1 += CYDROP_PHILOX_W1;
            }
            cydrop__mulhilo_avx2(c0, m0, &h0, &l0);
            cydrop__mulhilo_avx2(c2, m1, &h1, &l1);
            c0 = _mm256_xor_si256(_mm256_xor_si256(h1, c1), _mm256_set1_epi32((int)k0));
            c2 = _mm256_xor_si256(_mm256_xor_si256(h0, c3), _mm256_set1_epi32((int)k1));
            c1 = l1;
            c3 = l0;
        }
        /* 4x8 transpose: structure of arrays -> four words per block. */
        t0 = _mm256_unpacklo_epi32(c0, c1);
        t1 = _mm256_unpackhi_epi32(c0, c1);
        t2 = _mm256_unpacklo_epi32(c2, c3);
        t3 = _mm256_unpackhi_epi32(c2, c3);
        u0 = _mm256_unpacklo_epi64(t0, t2);   /* blocks 0 | 4 */
        u1 = _mm256_unpackhi_epi64(t0, t2);   /* blocks 1 | 5 */
        u2 = _mm256_unpacklo_epi64(t1, t3);   /* blocks 2 | 6 */
        u3 = _mm256_unpackhi_epi64(t1, t3);   /* blocks 3 | 7 */
        _mm256_storeu_si256((__m256i *)(words + 4 * i + 0), _mm256_permute2x128_si256(u0, u1, 0x20));
        _mm256_storeu_si256((__m256i *)(words + 4 * i + 8), _mm256_permute2x128_si256(u2, u3, 0x20));
        _mm256_storeu_si256((__m256i *)(words + 4 * i + 16), _mm256_permute2x128_si256(u0, u1, 0x31));
        _mm256_storeu_si256((__m256i *)(words + 4 * i + 24), _mm256_permute2x128_si256(u2, u3, 0x31));
    }
    if (i < nblocks)
        cydrop_philox_fill_scalar(words + 4 * i, b0 + i, nblocks - i, seed);
}

/* ---- AVX-512: 16 blocks per step -------------------------------------- */

__attribute__((target("avx512f")))
static inline void cydrop__mulhilo_avx512(__m512i a, __m512i m, __m512i *hi, __m512i *lo)
{
    __m512i pe = _mm512_mul_epu32(a, m);
    __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
    *lo = _mm512_mask_blend_epi32((__mmask16)0xAAAA, pe, _mm512_slli_epi64(po, 32));
    *hi = _mm512_mask_blend_epi32((__mmask16)0xAAAA, _mm512_srli_epi64(pe, 32), po);
}

__attribute__((target("avx512f")))
static void cydrop_philox_fill_avx512(uint32_t *words, uint64_t b0, size_t nblocks,
                                      uint64_t seed)
{
    const __m512i m0 = _mm512_set1_epi32((int)CYDROP_PHILOX_M0);
    const __m512i m1 = _mm512_set1_epi32((int)CYDROP_PHILOX_M1);
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7,
                                           8, 9, 10, 11, 12, 13, 14, 15);
    const uint32_t key0 = (uint32_t)seed, key1 = (uint32_t)(seed >> 32);
    size_t i = 0;
    for (; i + 16 <= nblocks; i += 16) {
        uint64_t b = b0 + i;
        uint32_t lo = (uint32_t)b, hi = (uint32_t)(b >> 32);
        __m512i c0, c1, c2, c3, h0, l0, h1, l1;
        __m512i t0, t1, t2, t3, u0, u1, u2, u3, v0, v1, v2, v3;
        uint32_t k0 = key0, k1 = key1;
        int r;
        if (lo <= 0xFFFFFFFFu - 15u) {
            c0 = _mm512_add_epi32(_mm512_set1_epi32((int)lo), iota);
            c1 = _mm512_set1_epi32((int)hi);
        } else {
            uint32_t a0[16], a1[16];
            int l;
            for (l = 0; l < 16; l++) {
                uint64_t bl = b + (uint64_t)l;
                a0[l] = (uint32_t)bl;
                a1[l] = (uint32_t)(bl >> 32);
            }
            c0 = _mm512_loadu_si512((const void *)a0);
            c1 = _mm512_loadu_si512((const void *)a1);
        }
        c2 = _mm512_setzero_si512();
        c3 = _mm512_setzero_si512();
        for (r = 0; r < 10; r++) {
            if (r > 0) {
                k0 += CYDROP_PHILOX_W0;
                k1 += CYDROP_PHILOX_W1;
            }
            cydrop__mulhilo_avx512(c0, m0, &h0, &l0);
            cydrop__mulhilo_avx512(c2, m1, &h1, &l1);
            c0 = _mm512_xor_si512(_mm512_xor_si512(h1, c1), _mm512_set1_epi32((int)k0));
            c2 = _mm512_xor_si512(_mm512_xor_si512(h0, c3), _mm512_set1_epi32((int)k1));
            c1 = l1;
            c3 = l0;
        }
        t0 = _mm512_unpacklo_epi32(c0, c1);
        t1 = _mm512_unpackhi_epi32(c0, c1);
        t2 = _mm512_unpacklo_epi32(c2, c3);
        t3 = _mm512_unpackhi_epi32(c2, c3);
        u0 = _mm512_unpacklo_epi64(t0, t2);   /* blocks 0 | 4 | 8 | 12 */
        u1 = _mm512_unpackhi_epi64(t0, t2);   /* blocks 1 | 5 | 9 | 13 */
        u2 = _mm512_unpacklo_epi64(t1, t3);   /* blocks 2 | 6 | 10 | 14 */
        u3 = _mm512_unpackhi_epi64(t1, t3);   /* blocks 3 | 7 | 11 | 15 */
        v0 = _mm512_shuffle_i32x4(u0, u1, 0x44);  /* 0 4 1 5 */
        v1 = _mm512_shuffle_i32x4(u2, u3, 0x44);  /* 2 6 3 7 */
        v2 = _mm512_shuffle_i32x4(u0, u1, 0xEE);  /* 8 12 9 13 */
        v3 = _mm512_shuffle_i32x4(u2, u3, 0xEE);  /* 10 14 11 15 */
        _mm512_storeu_si512((void *)(words + 4 * i + 0), _mm512_shuffle_i32x4(v0, v1, 0x88));
        _mm512_storeu_si512((void *)(words + 4 * i + 16), _mm512_shuffle_i32x4(v0, v1, 0xDD));
        _mm512_storeu_si512((void *)(words + 4 * i + 32), _mm512_shuffle_i32x4(v2, v3, 0x88));
        _mm512_storeu_si512((void *)(words + 4 * i + 48), _mm512_shuffle_i32x4(v2, v3, 0xDD));
    }
    if (i < nblocks)
        cydrop_philox_fill_scalar(words + 4 * i, b0 + i, nblocks - i, seed);
}

#endif /* CYDROP_HAVE_X86_SIMD */

/* ---- run-time dispatch ------------------------------------------------- */

#define CYDROP_IMPL_SCALAR 0
#define CYDROP_IMPL_AVX2 1
#define CYDROP_IMPL_AVX512 2

typedef void (*cydrop_fill_fn)(uint32_t *, uint64_t, size_t, uint64_t);

/* 1 if implementation `impl` can run on this CPU. */
static int cydrop_impl_supported(int impl)
{
    if (impl == CYDROP_IMPL_SCALAR)
        return 1;
#if CYDROP_HAVE_X86_SIMD
    __builtin_cpu_init();
    if (impl == CYDROP_IMPL_AVX2)
        return __builtin_cpu_supports("avx2") ? 1 : 0;
    if (impl == CYDROP_IMPL_AVX512)
        return __builtin_cpu_supports("avx512f") ? 1 : 0;
#endif
    return 0;
}

static cydrop_fill_fn cydrop_impl_fn(int impl)
{
#if CYDROP_HAVE_X86_SIMD
    if (impl == CYDROP_IMPL_AVX512)
        return cydrop_philox_fill_avx512;
    if (impl == CYDROP_IMPL_AVX2)
        return cydrop_philox_fill_avx2;
#endif
    (void)impl;
    return cydrop_philox_fill_scalar;
}

/* The best implementation this CPU runs. */
static int cydrop_best_impl(void)
{
    if (cydrop_impl_supported(CYDROP_IMPL_AVX512))
        return CYDROP_IMPL_AVX512;
    if (cydrop_impl_supported(CYDROP_IMPL_AVX2))
        return CYDROP_IMPL_AVX2;
    return CYDROP_IMPL_SCALAR;
}

#endif /* CYDROP_PHILOX_H */
