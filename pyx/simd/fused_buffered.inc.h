/*
 * The fused loop of the paths without SIMD Philox (plain C and SSE2): the
 * words of CYDROP_PIECE elements at a time into an L1 buffer by the
 * portable fill, applied at once by the path's words loop, the next piece's
 * elements requested before its words are computed; stores and arithmetic
 * interleave at that grain.  Returns how many leading elements it wrote
 * (whole groups of 32); 0 when packed bits are asked for (the general path
 * writes them).  Included once per path and float type (loops_c.h,
 * loops_sse2.h), which #define before the #include and #undef after it:
 *
 *   CYDROP_T         float or double
 *   CYDROP_COEF_T    the scale (CYDROP_T), or a pointer to alpha dropout's
 *                    map (cydrop_affine_f32/f64), passed on to
 *   CYDROP_WORDS_FN  the path's words loop for CYDROP_T (plain or alpha's)
 *   CYDROP_FUSED_FN  the name of the function defined here
 */

static size_t CYDROP_FUSED_FN(const CYDROP_T *x, CYDROP_T *o, uint8_t *bits, size_t n,
                              uint64_t b0, uint64_t seed, uint32_t thr, CYDROP_COEF_T coef,
                              int nt)
{
    uint32_t w[CYDROP_PIECE];
    size_t i = 0, m, k;
    (void)nt;
    if (bits)           /* packed bits: the general path writes them */
        return 0;
    for (; i + 32 <= n; i += m) {
        m = n - i < CYDROP_PIECE ? (n - i) & ~(size_t)31 : CYDROP_PIECE;
        for (k = 0; k < m * sizeof(CYDROP_T); k += 64)
            CYDROP_PREFETCH((const char *)(x + i + m) + k);
        cydrop_philox_fill_scalar(w, b0 + i / 4, m / 4, seed);
        CYDROP_WORDS_FN(x + i, o + i, w, thr, m, coef);
    }
    return i;
}
