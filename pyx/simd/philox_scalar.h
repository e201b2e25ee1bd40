/*
 * Philox4x32-10 in portable C: the reference block function, a
 * block-at-a-time fill and the portable fill of CYDROP_LANES blocks side by
 * side (the scalar path).  The stream is defined in docs/design.md, "The
 * random stream (normative)"; the SIMD fills (philox_avx2.h,
 * philox_avx512.h) produce the same words.
 */
#ifndef CYDROP_PHILOX_SCALAR_H
#define CYDROP_PHILOX_SCALAR_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "compiler.h"

#define CYDROP_PHILOX_M0 0xD2511F53u
#define CYDROP_PHILOX_M1 0xCD9E8D57u
#define CYDROP_PHILOX_W0 0x9E3779B9u
#define CYDROP_PHILOX_W1 0xBB67AE85u

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

/* Both SIMD paths run CYDROP_GROUPS independent groups of blocks at once:
 * one group's round is a chain of dependent multiplies, several groups keep
 * the multipliers busy. */
#define CYDROP_GROUPS 4

/* The rounds of NG groups of W blocks, cydrop__rounds<W>x<NG>
 * (philox_rounds.inc.h, instantiated per width in philox_avx2.h and
 * philox_avx512.h for the group counts the loops use), named by the
 * constants' values: CYDROP_ROUNDS_FN(16, CYDROP_G64) is cydrop__rounds16x2,
 * and a group count nobody instantiated is a compile error. */
#define CYDROP_ROUNDS_FN(W, NG) CYDROP_ROUNDS_FN_(W, NG)
#define CYDROP_ROUNDS_FN_(W, NG) cydrop__rounds##W##x##NG

#endif /* CYDROP_PHILOX_SCALAR_H */
