/*
 * Philox with AVX-512F: groups of 16 blocks, CYDROP_GROUPS groups per step
 * of the fill, then single groups.  Compiled with target("avx512f"), run
 * only where the CPU has it (philox_dispatch.h).  The width-independent
 * parts are philox_width.inc.h's; this file has the round (masked shuffles,
 * vpternlogd) and the transpose of this width.
 */
#ifndef CYDROP_PHILOX_AVX512_H
#define CYDROP_PHILOX_AVX512_H

#include "philox_scalar.h"

#if CYDROP_HAVE_X86_SIMD

typedef struct { __m512i c0, c1, c2, c3; } cydrop_state16;

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

#define CYDROP_W 16
#define CYDROP_W_TARGET "avx512f"
#define CYDROP_W_VEC __m512i
#define CYDROP_W_STATE cydrop_state16
#define CYDROP_W_SET1 _mm512_set1_epi32
#define CYDROP_W_ADD _mm512_add_epi32
#define CYDROP_W_IOTA _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#define CYDROP_W_LOADU(p) _mm512_loadu_si512((const void *)(p))
#define CYDROP_W_STOREU(p, v) _mm512_storeu_si512((void *)(p), (v))
#define CYDROP_W_ZERO _mm512_setzero_si512()
#define CYDROP_W_ROUND cydrop__round16
#define CYDROP_W_WORDS cydrop__words16
#define CYDROP_W_INIT_FN cydrop__init16
#define CYDROP_W_STORE_FN cydrop__store16
#include "philox_width.inc.h"

/* the rounds, once per group count the loops use (CYDROP_ROUNDS_FN finds
 * them by value: a count without its instance does not compile) */
#define CYDROP_W_NG 4         /* CYDROP_GROUPS (the fill), CYDROP_G32 (fused float32) */
#define CYDROP_W_ROUNDS_FN cydrop__rounds16x4
#include "philox_rounds.inc.h"
#undef CYDROP_W_NG
#undef CYDROP_W_ROUNDS_FN
#define CYDROP_W_NG 2         /* CYDROP_G64 (fused float64) */
#define CYDROP_W_ROUNDS_FN cydrop__rounds16x2
#include "philox_rounds.inc.h"
#undef CYDROP_W_NG
#undef CYDROP_W_ROUNDS_FN
#define CYDROP_W_NG 1         /* single groups */
#define CYDROP_W_ROUNDS_FN cydrop__rounds16x1
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

__attribute__((target("avx512f")))
static void cydrop_philox_fill_avx512(uint32_t *words, uint64_t b0, size_t nblocks,
                                      uint64_t seed)
{
    size_t i = 0;
    int g;
    for (; i + 16 * CYDROP_GROUPS <= nblocks; i += 16 * CYDROP_GROUPS) {
        cydrop_state16 s[CYDROP_GROUPS];
        for (g = 0; g < CYDROP_GROUPS; g++)
            cydrop__init16(&s[g], b0 + i + 16 * (uint64_t)g);
        CYDROP_ROUNDS_FN(16, CYDROP_GROUPS)(s, seed);
        for (g = 0; g < CYDROP_GROUPS; g++)
            cydrop__store16(&s[g], words + 4 * (i + 16 * (size_t)g));
    }
    for (; i + 16 <= nblocks; i += 16) {
        cydrop_state16 s[1];
        cydrop__init16(&s[0], b0 + i);
        CYDROP_ROUNDS_FN(16, 1)(s, seed);
        cydrop__store16(&s[0], words + 4 * i);
    }
    if (i < nblocks)
        cydrop_philox_fill_scalar(words + 4 * i, b0 + i, nblocks - i, seed);
}

#endif /* CYDROP_HAVE_X86_SIMD */
#endif /* CYDROP_PHILOX_AVX512_H */
