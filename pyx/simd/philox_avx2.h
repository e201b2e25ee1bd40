/*
 * Philox with AVX2: groups of 8 blocks, CYDROP_GROUPS groups per step of the
 * fill.  Compiled with target("avx2"), run only where the CPU has it
 * (philox_dispatch.h).  The width-independent parts (counters, the ten
 * rounds, the store) are philox_width.inc.h's; this file has the round and
 * the transpose of this width.
 */
#ifndef CYDROP_PHILOX_AVX2_H
#define CYDROP_PHILOX_AVX2_H

#include "philox_scalar.h"

#if CYDROP_HAVE_X86_SIMD

typedef struct { __m256i c0, c1, c2, c3; } cydrop_state8;

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

#define CYDROP_W 8
#define CYDROP_W_TARGET "avx2"
#define CYDROP_W_VEC __m256i
#define CYDROP_W_STATE cydrop_state8
#define CYDROP_W_SET1 _mm256_set1_epi32
#define CYDROP_W_ADD _mm256_add_epi32
#define CYDROP_W_IOTA _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)
#define CYDROP_W_LOADU(p) _mm256_loadu_si256((const __m256i *)(p))
#define CYDROP_W_STOREU(p, v) _mm256_storeu_si256((__m256i *)(p), (v))
#define CYDROP_W_ZERO _mm256_setzero_si256()
#define CYDROP_W_ROUND cydrop__round8
#define CYDROP_W_WORDS cydrop__words8
#define CYDROP_W_INIT_FN cydrop__init8
#define CYDROP_W_STORE_FN cydrop__store8
#include "philox_width.inc.h"

/* the rounds, once per group count the loops use (CYDROP_ROUNDS_FN finds
 * them by value: a count without its instance does not compile) */
#define CYDROP_W_NG 4         /* CYDROP_GROUPS: the fill and both fused loops */
#define CYDROP_W_ROUNDS_FN cydrop__rounds8x4
#include "philox_rounds.inc.h"
#undef CYDROP_W_NG
#undef CYDROP_W_ROUNDS_FN
#define CYDROP_W_NG 1         /* single groups */
#define CYDROP_W_ROUNDS_FN cydrop__rounds8x1
#include "philox_rounds.inc.h"
#undef CYDROP_W_NG
#undef CYDROP_W_ROUNDS_FN

#undef CYDROP_W
#undef CYDROP_W_TARGET
#undef CYDROP_W_VEC
#undef CYDROP_W_STATE
#undef CYDROP_W_SET1
#undef CYDROP_W_ADD
#undef CYDROP_W_IOTA
#undef CYDROP_W_LOADU
#undef CYDROP_W_STOREU
#undef CYDROP_W_ZERO
#undef CYDROP_W_ROUND
#undef CYDROP_W_WORDS
#undef CYDROP_W_INIT_FN
#undef CYDROP_W_STORE_FN

__attribute__((target("avx2")))
static void cydrop_philox_fill_avx2(uint32_t *words, uint64_t b0, size_t nblocks,
                                    uint64_t seed)
{
    size_t i = 0;
    int g;
    for (; i + 8 * CYDROP_GROUPS <= nblocks; i += 8 * CYDROP_GROUPS) {
        cydrop_state8 s[CYDROP_GROUPS];
        for (g = 0; g < CYDROP_GROUPS; g++)
            cydrop__init8(&s[g], b0 + i + 8 * (uint64_t)g);
        CYDROP_ROUNDS_FN(8, CYDROP_GROUPS)(s, seed);
        for (g = 0; g < CYDROP_GROUPS; g++)
            cydrop__store8(&s[g], words + 4 * (i + 8 * (size_t)g));
    }
    if (i < nblocks)
        cydrop_philox_fill_scalar(words + 4 * i, b0 + i, nblocks - i, seed);
}

#endif /* CYDROP_HAVE_X86_SIMD */
#endif /* CYDROP_PHILOX_AVX2_H */
