/*
 * Philox for one SIMD width: W blocks per group, one block per 32-bit lane
 * (structure of arrays: c0..c3 each hold word k of the W blocks).  Included
 * once per width by philox_avx2.h (W = 8) and philox_avx512.h (W = 16),
 * which #define before the #include, and #undef after it:
 *
 *   CYDROP_W            lanes per vector (blocks per group)
 *   CYDROP_W_TARGET     the target attribute's string ("avx2", "avx512f")
 *   CYDROP_W_VEC        the vector of W 32-bit lanes
 *   CYDROP_W_STATE      a group's state (struct of c0, c1, c2, c3)
 *   CYDROP_W_SET1(v)    broadcast a 32-bit value
 *   CYDROP_W_ADD(a, b)  lane-wise 32-bit add
 *   CYDROP_W_IOTA       the vector 0, 1, ..., W - 1
 *   CYDROP_W_LOADU(p)   load W words from p (unaligned)
 *   CYDROP_W_STOREU(p, v)  store W words to p (unaligned)
 *   CYDROP_W_ZERO       the zero vector
 *   CYDROP_W_ROUND      one round of a group (the width's own code)
 *   CYDROP_W_WORDS      a group's words, transposed into stream order
 *
 * and the names of what this file defines:
 *
 *   CYDROP_W_INIT_FN    a group's counters from its first block
 *   CYDROP_W_STORE_FN   a group's 4 * W words to memory in stream order
 *
 * (the rounds are philox_rounds.inc.h's, once per group count).  Written
 * once here so that the two widths cannot drift apart; what truly differs
 * per width (the round's multiply and shuffles, the transpose, how many
 * groups a fill or a fused loop runs) stays in the width's file.
 */

/* counters of blocks b, b + 1, ..., b + W - 1 */
__attribute__((target(CYDROP_W_TARGET)))
static inline void CYDROP_W_INIT_FN(CYDROP_W_STATE *s, uint64_t b)
{
    uint32_t lo = (uint32_t)b, hi = (uint32_t)(b >> 32);
    if (lo <= 0xFFFFFFFFu - (CYDROP_W - 1u)) {
        s->c0 = CYDROP_W_ADD(CYDROP_W_SET1((int)lo), CYDROP_W_IOTA);
        s->c1 = CYDROP_W_SET1((int)hi);
    } else {               /* the low word wraps inside this group */
        uint32_t a0[CYDROP_W], a1[CYDROP_W];
        int l;
        for (l = 0; l < CYDROP_W; l++) {
            uint64_t bl = b + (uint64_t)l;
            a0[l] = (uint32_t)bl;
            a1[l] = (uint32_t)(bl >> 32);
        }
        s->c0 = CYDROP_W_LOADU(a0);
        s->c1 = CYDROP_W_LOADU(a1);
    }
    s->c2 = CYDROP_W_ZERO;
    s->c3 = CYDROP_W_ZERO;
}

__attribute__((target(CYDROP_W_TARGET)))
static inline void CYDROP_W_STORE_FN(const CYDROP_W_STATE *s, uint32_t *words)
{
    CYDROP_W_VEC w[4];
    int j;
    CYDROP_W_WORDS(s, w);
    for (j = 0; j < 4; j++)
        CYDROP_W_STOREU(words + CYDROP_W * j, w[j]);
}
