/*
 * The fused loop of a SIMD path: the stream's words made in registers and
 * applied as they are made.  A step computes the ten rounds of CYDROP_NG
 * groups of CYDROP_W blocks (philox_rounds.inc.h, by the constants'
 * values: CYDROP_ROUNDS_FN), transposes each group's
 * 4 * CYDROP_W words into stream order and applies them to the elements
 * they cover, CYDROP_W at a time (the width's apply: compare with the
 * threshold, scale or zero, store, and the packed bits when asked); then
 * single groups; returns how many leading elements it wrote (whole groups;
 * the caller's general path does the rest).  With CYDROP_PF nonzero each
 * step first requests the elements CYDROP_PF bytes ahead into L1, so that
 * their loads overlap this step's rounds.
 *
 * Included once per float type by loops_avx2.h and loops_avx512.h (with
 * words_simd.inc.h), which #define before the #include and #undef after it:
 *
 *   CYDROP_TARGET     the target attribute's string ("avx2", "avx512f";
 *                     "avx2,f16c" for AVX2's float16 loops)
 *   CYDROP_T          the element as stored: float, double, or uint16_t
 *                     (float16's bits)
 *   CYDROP_COEF_T     the loop's coefficients: the scale (float or double),
 *                     or a pointer to alpha dropout's map
 *                     (cydrop_affine_f32, cydrop_affine_f64)
 *   CYDROP_W          Philox blocks per group = elements per apply (8, 16)
 *   CYDROP_STATE      a group's Philox state (philox_avx2.h, philox_avx512.h)
 *   CYDROP_INIT       its counters from the group's first block
 *   CYDROP_WORDS      a group's words in stream order, 4 vectors
 *   CYDROP_VEC        the vector of CYDROP_W 32-bit words
 *   CYDROP_VEC_SET1   its broadcast
 *   CYDROP_VEC_LOADU  its unaligned load (words_simd.inc.h)
 *   CYDROP_VS_T       the coefficients in vectors (the scale's vector, or a
 *                     struct of the map's three), CYDROP_VS_SET1 their
 *                     broadcast from a CYDROP_COEF_T
 *   CYDROP_APPLY      the width's apply (x, o, bits or NULL, words, threshold,
 *                     coefficient vectors, nt) for CYDROP_W elements
 *   CYDROP_NG         groups per step (CYDROP_GROUPS, CYDROP_G32, CYDROP_G64)
 *   CYDROP_PF         prefetch distance in bytes, or 0
 *   CYDROP_WORDS_TAIL_FN  the scalar tail (words_simd.inc.h)
 *
 * (the float16 and alpha loops include this file alone: they have no words
 * loop, the general path covering what they leave)
 * and the names of what they define:
 *
 *   CYDROP_FUSED_GROUP_FN  the apply of one group's words (inlined)
 *   CYDROP_FUSED_FN       the fused loop (a table entry)
 *   CYDROP_WORDS_FN       the words loop (words_simd.inc.h; a table entry)
 */

/* one group's 4 * W words in stream order, applied to the 4 * W elements
 * from element e0, W at a time */
__attribute__((target(CYDROP_TARGET)))
CYDROP_INLINE void CYDROP_FUSED_GROUP_FN(const CYDROP_T *x, CYDROP_T *o, uint8_t *bits,
                                         size_t e0, const CYDROP_STATE *s, CYDROP_VEC t,
                                         CYDROP_VS_T vs, int nt)
{
    CYDROP_VEC w[4];
    int j;
    CYDROP_WORDS(s, w);
    for (j = 0; j < 4; j++) {
        size_t e = e0 + CYDROP_W * (size_t)j;
        CYDROP_APPLY(x + e, o + e, bits ? bits + e / 8 : NULL, w[j], t, vs, nt);
    }
}

__attribute__((target(CYDROP_TARGET)))
static size_t CYDROP_FUSED_FN(const CYDROP_T *x, CYDROP_T *o, uint8_t *bits, size_t n,
                              uint64_t b0, uint64_t seed, uint32_t thr, CYDROP_COEF_T coef,
                              int nt)
{
    const CYDROP_VS_T vs = CYDROP_VS_SET1(coef);
    const CYDROP_VEC t = CYDROP_VEC_SET1((int)thr);
    size_t i = 0;
    for (; i + 4 * CYDROP_W * CYDROP_NG <= n; i += 4 * CYDROP_W * CYDROP_NG) {
        CYDROP_STATE s[CYDROP_NG];
        int g;
        if (CYDROP_PF) {
            size_t q;
            for (q = 0; q < 4 * CYDROP_W * CYDROP_NG * sizeof(*x); q += 64)
                CYDROP_PREFETCH_L1((const char *)(x + i) + (CYDROP_PF) + q);
        }
        for (g = 0; g < CYDROP_NG; g++)
            CYDROP_INIT(&s[g], b0 + i / 4 + CYDROP_W * (uint64_t)g);
        CYDROP_ROUNDS_FN(CYDROP_W, CYDROP_NG)(s, seed);
        for (g = 0; g < CYDROP_NG; g++)
            CYDROP_FUSED_GROUP_FN(x, o, bits, i + 4 * CYDROP_W * (size_t)g, &s[g], t, vs, nt);
    }
    for (; i + 4 * CYDROP_W <= n; i += 4 * CYDROP_W) {
        CYDROP_STATE s[1];
        CYDROP_INIT(&s[0], b0 + i / 4);
        CYDROP_ROUNDS_FN(CYDROP_W, 1)(s, seed);
        CYDROP_FUSED_GROUP_FN(x, o, bits, i, &s[0], t, vs, nt);
    }
    if (nt)             /* streaming stores are weakly ordered */
        _mm_sfence();
    return i;
}
