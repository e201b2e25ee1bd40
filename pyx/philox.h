/*
 * Philox4x32-10 (Salmon, Moraes, Dror, Shaw, SC'11), the counter-based stream
 * behind every cydrop mask.  See docs/design.md "The random stream" (normative):
 *
 *   key     = (seed & 0xFFFFFFFF, seed >> 32)
 *   word j  = word (j % 4) of philox4x32_10(counter=(b & 0xFFFFFFFF, b >> 32, 0, 0), key),
 *             b = j / 4, for j in [0, 2**64): a call at offset uses word (offset + i) mod 2**64
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

/* words[4*i + k] = word k of block (b0 + i), for i < nblocks: one block at a time. */
static void cydrop_philox_fill_one(uint32_t *words, uint64_t b0, size_t nblocks,
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

/* The portable path: CYDROP_LANES blocks side by side (structure of arrays),
 * so that the rounds of independent blocks overlap in the pipeline and the
 * compiler can vectorize them with whatever the target has (SSE2's pmuludq
 * on baseline x86-64, NEON on aarch64). */
#define CYDROP_LANES 8

static void cydrop_philox_fill_scalar(uint32_t *words, uint64_t b0, size_t nblocks,
                                      uint64_t seed)
{
    size_t i = 0;
    for (; i + CYDROP_LANES <= nblocks; i += CYDROP_LANES) {
        uint32_t c0[CYDROP_LANES], c1[CYDROP_LANES], c2[CYDROP_LANES], c3[CYDROP_LANES];
        uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
        int l, r;
        for (l = 0; l < CYDROP_LANES; l++) {
            uint64_t b = b0 + i + (uint64_t)l;
            c0[l] = (uint32_t)b;
            c1[l] = (uint32_t)(b >> 32);
            c2[l] = 0;
            c3[l] = 0;
        }
        for (r = 0; r < 10; r++) {
            if (r > 0) {
                k0 += CYDROP_PHILOX_W0;
                k1 += CYDROP_PHILOX_W1;
            }
            for (l = 0; l < CYDROP_LANES; l++) {
                uint64_t p0 = (uint64_t)CYDROP_PHILOX_M0 * c0[l];
                uint64_t p1 = (uint64_t)CYDROP_PHILOX_M1 * c2[l];
                c0[l] = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0;
                c2[l] = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
                c1[l] = (uint32_t)p1;
                c3[l] = (uint32_t)p0;
            }
        }
        for (l = 0; l < CYDROP_LANES; l++) {
            words[4 * (i + l) + 0] = c0[l];
            words[4 * (i + l) + 1] = c1[l];
            words[4 * (i + l) + 2] = c2[l];
            words[4 * (i + l) + 3] = c3[l];
        }
    }
    if (i < nblocks)
        cydrop_philox_fill_one(words + 4 * i, b0 + i, nblocks - i, seed);
}

#if CYDROP_HAVE_X86_SIMD

/* Both SIMD paths run CYDROP_GROUPS independent groups of blocks at once:
 * one group's round is a chain of dependent multiplies, several groups keep
 * the multipliers busy. */
#define CYDROP_GROUPS 4

/* The ten rounds of NG groups of W-lane blocks, group g starting at block
 * b + W * g, the key bumped between rounds: the one loop behind the fills
 * below and the fused loops of simd.h.  VEC/SET1/INIT/ROUND are the
 * width's vector type, broadcast and state functions; used inside a
 * function compiled for that width (target attribute). */
#define CYDROP_ROUNDS_(W, VEC, SET1, INIT, ROUND, s, NG, b, seed)                      \
    do {                                                                               \
        uint32_t k0_ = (uint32_t)(seed), k1_ = (uint32_t)((seed) >> 32);               \
        int g_, r_;                                                                    \
        for (g_ = 0; g_ < (NG); g_++)                                                  \
            INIT(&(s)[g_], (b) + (uint64_t)(W) * (uint64_t)g_);                        \
        for (r_ = 0; r_ < 10; r_++) {                                                  \
            VEC vk0_, vk1_;                                                            \
            if (r_ > 0) {                                                              \
                k0_ += CYDROP_PHILOX_W0;                                               \
                k1_ += CYDROP_PHILOX_W1;                                               \
            }                                                                          \
            vk0_ = SET1((int)k0_);                                                     \
            vk1_ = SET1((int)k1_);                                                     \
            for (g_ = 0; g_ < (NG); g_++)                                              \
                ROUND(&(s)[g_], vk0_, vk1_);                                           \
        }                                                                              \
    } while (0)

/* ---- AVX2: 8 blocks per group ------------------------------------------ */

typedef struct { __m256i c0, c1, c2, c3; } cydrop_state8;

__attribute__((target("avx2")))
static inline void cydrop__init8(cydrop_state8 *s, uint64_t b)
{
    uint32_t lo = (uint32_t)b, hi = (uint32_t)(b >> 32);
    if (lo <= 0xFFFFFFFFu - 7u) {
        s->c0 = _mm256_add_epi32(_mm256_set1_epi32((int)lo),
                                 _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        s->c1 = _mm256_set1_epi32((int)hi);
    } else {               /* the low word wraps inside this group */
        uint32_t a0[8], a1[8];
        int l;
        for (l = 0; l < 8; l++) {
            uint64_t bl = b + (uint64_t)l;
            a0[l] = (uint32_t)bl;
            a1[l] = (uint32_t)(bl >> 32);
        }
        s->c0 = _mm256_loadu_si256((const __m256i *)a0);
        s->c1 = _mm256_loadu_si256((const __m256i *)a1);
    }
    s->c2 = _mm256_setzero_si256();
    s->c3 = _mm256_setzero_si256();
}

__attribute__((target("avx2")))
static inline void cydrop__round8(cydrop_state8 *s, __m256i k0, __m256i k1)
{
    const __m256i m0 = _mm256_set1_epi32((int)CYDROP_PHILOX_M0);
    const __m256i m1 = _mm256_set1_epi32((int)CYDROP_PHILOX_M1);
    /* _mm256_mul_epu32 multiplies the even 32-bit lanes into 64-bit products;
     * the odd lanes are swapped into place with a shuffle (not a shift: the
     * shuffle port is idle while the multiplier is busy). */
    __m256i pe0 = _mm256_mul_epu32(s->c0, m0);
    __m256i po0 = _mm256_mul_epu32(_mm256_shuffle_epi32(s->c0, 0xB1), m0);
    __m256i pe1 = _mm256_mul_epu32(s->c2, m1);
    __m256i po1 = _mm256_mul_epu32(_mm256_shuffle_epi32(s->c2, 0xB1), m1);
    __m256i lo0 = _mm256_blend_epi32(pe0, _mm256_shuffle_epi32(po0, 0xB1), 0xAA);
    __m256i hi0 = _mm256_blend_epi32(_mm256_shuffle_epi32(pe0, 0xB1), po0, 0xAA);
    __m256i lo1 = _mm256_blend_epi32(pe1, _mm256_shuffle_epi32(po1, 0xB1), 0xAA);
    __m256i hi1 = _mm256_blend_epi32(_mm256_shuffle_epi32(pe1, 0xB1), po1, 0xAA);
    s->c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, s->c1), k0);
    s->c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, s->c3), k1);
    s->c1 = lo1;
    s->c3 = lo0;
}

#define CYDROP_ROUNDS8(s, NG, b, seed) \
    CYDROP_ROUNDS_(8, __m256i, _mm256_set1_epi32, cydrop__init8, cydrop__round8, s, NG, b, seed)

/* 4x8 transpose: structure of arrays -> the group's 32 words in stream
 * order, eight per vector (four words per block, blocks in order). */
__attribute__((target("avx2")))
static inline void cydrop__words8(const cydrop_state8 *s, __m256i w[4])
{
    __m256i t0 = _mm256_unpacklo_epi32(s->c0, s->c1);
    __m256i t1 = _mm256_unpackhi_epi32(s->c0, s->c1);
    __m256i t2 = _mm256_unpacklo_epi32(s->c2, s->c3);
    __m256i t3 = _mm256_unpackhi_epi32(s->c2, s->c3);
    __m256i u0 = _mm256_unpacklo_epi64(t0, t2);   /* blocks 0 | 4 */
    __m256i u1 = _mm256_unpackhi_epi64(t0, t2);   /* blocks 1 | 5 */
    __m256i u2 = _mm256_unpacklo_epi64(t1, t3);   /* blocks 2 | 6 */
    __m256i u3 = _mm256_unpackhi_epi64(t1, t3);   /* blocks 3 | 7 */
    w[0] = _mm256_permute2x128_si256(u0, u1, 0x20);
    w[1] = _mm256_permute2x128_si256(u2, u3, 0x20);
    w[2] = _mm256_permute2x128_si256(u0, u1, 0x31);
    w[3] = _mm256_permute2x128_si256(u2, u3, 0x31);
}

__attribute__((target("avx2")))
static inline void cydrop__store8(const cydrop_state8 *s, uint32_t *words)
{
    __m256i w[4];
    int j;
    cydrop__words8(s, w);
    for (j = 0; j < 4; j++)
        _mm256_storeu_si256((__m256i *)(words + 8 * j), w[j]);
}

__attribute__((target("avx2")))
static void cydrop_philox_fill_avx2(uint32_t *words, uint64_t b0, size_t nblocks,
                                    uint64_t seed)
{
    size_t i = 0;
    int g;
    for (; i + 8 * CYDROP_GROUPS <= nblocks; i += 8 * CYDROP_GROUPS) {
        cydrop_state8 s[CYDROP_GROUPS];
        CYDROP_ROUNDS8(s, CYDROP_GROUPS, b0 + i, seed);
        for (g = 0; g < CYDROP_GROUPS; g++)
            cydrop__store8(&s[g], words + 4 * (i + 8 * (size_t)g));
    }
    if (i < nblocks)
        cydrop_philox_fill_scalar(words + 4 * i, b0 + i, nblocks - i, seed);
}

/* ---- AVX-512: 16 blocks per group --------------------------------------- */

typedef struct { __m512i c0, c1, c2, c3; } cydrop_state16;

__attribute__((target("avx512f")))
static inline void cydrop__init16(cydrop_state16 *s, uint64_t b)
{
    uint32_t lo = (uint32_t)b, hi = (uint32_t)(b >> 32);
    if (lo <= 0xFFFFFFFFu - 15u) {
        s->c0 = _mm512_add_epi32(_mm512_set1_epi32((int)lo),
                                 _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7,
                                                   8, 9, 10, 11, 12, 13, 14, 15));
        s->c1 = _mm512_set1_epi32((int)hi);
    } else {
        uint32_t a0[16], a1[16];
        int l;
        for (l = 0; l < 16; l++) {
            uint64_t bl = b + (uint64_t)l;
            a0[l] = (uint32_t)bl;
            a1[l] = (uint32_t)(bl >> 32);
        }
        s->c0 = _mm512_loadu_si512((const void *)a0);
        s->c1 = _mm512_loadu_si512((const void *)a1);
    }
    s->c2 = _mm512_setzero_si512();
    s->c3 = _mm512_setzero_si512();
}

__attribute__((target("avx512f")))
static inline void cydrop__round16(cydrop_state16 *s, __m512i k0, __m512i k1)
{
    const __m512i m0 = _mm512_set1_epi32((int)CYDROP_PHILOX_M0);
    const __m512i m1 = _mm512_set1_epi32((int)CYDROP_PHILOX_M1);
    const __mmask16 odd = (__mmask16)0xAAAA, even = (__mmask16)0x5555;
    /* even lanes multiply in place, odd lanes after a pair swap; low and high
     * halves are put back with masked swaps (shuffle port, not the shifter,
     * which shares the multiplier's port) */
    __m512i pe0 = _mm512_mul_epu32(s->c0, m0);
    __m512i po0 = _mm512_mul_epu32(_mm512_shuffle_epi32(s->c0, _MM_PERM_CDAB), m0);
    __m512i pe1 = _mm512_mul_epu32(s->c2, m1);
    __m512i po1 = _mm512_mul_epu32(_mm512_shuffle_epi32(s->c2, _MM_PERM_CDAB), m1);
    __m512i lo0 = _mm512_mask_shuffle_epi32(pe0, odd, po0, _MM_PERM_CDAB);
    __m512i hi0 = _mm512_mask_shuffle_epi32(po0, even, pe0, _MM_PERM_CDAB);
    __m512i lo1 = _mm512_mask_shuffle_epi32(pe1, odd, po1, _MM_PERM_CDAB);
    __m512i hi1 = _mm512_mask_shuffle_epi32(po1, even, pe1, _MM_PERM_CDAB);
    /* c0' = hi1 ^ c1 ^ k0, c2' = hi0 ^ c3 ^ k1: one vpternlogd each (0x96 = a^b^c) */
    s->c0 = _mm512_ternarylogic_epi32(hi1, s->c1, k0, 0x96);
    s->c2 = _mm512_ternarylogic_epi32(hi0, s->c3, k1, 0x96);
    s->c1 = lo1;
    s->c3 = lo0;
}

#define CYDROP_ROUNDS16(s, NG, b, seed) \
    CYDROP_ROUNDS_(16, __m512i, _mm512_set1_epi32, cydrop__init16, cydrop__round16, s, NG, b, seed)

/* 4x16 transpose: the group's 64 words in stream order, 16 per vector. */
__attribute__((target("avx512f")))
static inline void cydrop__words16(const cydrop_state16 *s, __m512i w[4])
{
    __m512i t0 = _mm512_unpacklo_epi32(s->c0, s->c1);
    __m512i t1 = _mm512_unpackhi_epi32(s->c0, s->c1);
    __m512i t2 = _mm512_unpacklo_epi32(s->c2, s->c3);
    __m512i t3 = _mm512_unpackhi_epi32(s->c2, s->c3);
    __m512i u0 = _mm512_unpacklo_epi64(t0, t2);   /* blocks 0 | 4 | 8 | 12 */
    __m512i u1 = _mm512_unpackhi_epi64(t0, t2);   /* blocks 1 | 5 | 9 | 13 */
    __m512i u2 = _mm512_unpacklo_epi64(t1, t3);   /* blocks 2 | 6 | 10 | 14 */
    __m512i u3 = _mm512_unpackhi_epi64(t1, t3);   /* blocks 3 | 7 | 11 | 15 */
    __m512i v0 = _mm512_shuffle_i32x4(u0, u1, 0x44);  /* 0 4 1 5 */
    __m512i v1 = _mm512_shuffle_i32x4(u2, u3, 0x44);  /* 2 6 3 7 */
    __m512i v2 = _mm512_shuffle_i32x4(u0, u1, 0xEE);  /* 8 12 9 13 */
    __m512i v3 = _mm512_shuffle_i32x4(u2, u3, 0xEE);  /* 10 14 11 15 */
    w[0] = _mm512_shuffle_i32x4(v0, v1, 0x88);
    w[1] = _mm512_shuffle_i32x4(v0, v1, 0xDD);
    w[2] = _mm512_shuffle_i32x4(v2, v3, 0x88);
    w[3] = _mm512_shuffle_i32x4(v2, v3, 0xDD);
}

__attribute__((target("avx512f")))
static inline void cydrop__store16(const cydrop_state16 *s, uint32_t *words)
{
    __m512i w[4];
    int j;
    cydrop__words16(s, w);
    for (j = 0; j < 4; j++)
        _mm512_storeu_si512((void *)(words + 16 * j), w[j]);
}

__attribute__((target("avx512f")))
static void cydrop_philox_fill_avx512(uint32_t *words, uint64_t b0, size_t nblocks,
                                      uint64_t seed)
{
    size_t i = 0;
    int g;
    for (; i + 16 * CYDROP_GROUPS <= nblocks; i += 16 * CYDROP_GROUPS) {
        cydrop_state16 s[CYDROP_GROUPS];
        CYDROP_ROUNDS16(s, CYDROP_GROUPS, b0 + i, seed);
        for (g = 0; g < CYDROP_GROUPS; g++)
            cydrop__store16(&s[g], words + 4 * (i + 16 * (size_t)g));
    }
    for (; i + 16 <= nblocks; i += 16) {
        cydrop_state16 s[1];
        CYDROP_ROUNDS16(s, 1, b0 + i, seed);
        cydrop__store16(&s[0], words + 4 * i);
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
