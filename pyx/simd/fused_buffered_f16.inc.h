/*
 * The float16 fused loops (plain and alpha's) of the paths without SIMD Philox (plain C and
 * SSE2): as fused_buffered.inc.h, CYDROP_PIECE elements at a time, their
 * words into an L1 buffer by the portable fill, the halves converted into a
 * float32 buffer (half.h's portable conversions: SSE2 on x86-64), the path's
 * float32 words loop run there, the results rounded back into o.  The
 * general path's arithmetic exactly (its float16 item does the same three
 * steps on a work item), without its walk.  Returns how many leading
 * elements it wrote (whole groups of 32); 0 when packed bits are asked for.
 * Included once per path (loops_c.h, loops_sse2.h), which #define before the
 * #include and #undef after it:
 *
 *   CYDROP_COEF_T        the scale (float), or a pointer to alpha dropout's
 *                        map (cydrop_affine_f32), passed on to
 *   CYDROP_WORDS_F32_FN  the path's words loop for float (plain or alpha's)
 *   CYDROP_FUSED_F16_FN  the name of the function defined here
 */

static size_t CYDROP_FUSED_F16_FN(const uint16_t *x, uint16_t *o, uint8_t *bits, size_t n,
                                  uint64_t b0, uint64_t seed, uint32_t thr, CYDROP_COEF_T coef,
                                  int nt)
{
    uint32_t w[CYDROP_PIECE];
    float buf[CYDROP_PIECE];
    size_t i = 0, m, k;
    (void)nt;
    if (bits)           /* packed bits: the general path writes them */
        return 0;
    for (; i + 32 <= n; i += m) {
        m = n - i < CYDROP_PIECE ? (n - i) & ~(size_t)31 : CYDROP_PIECE;
        for (k = 0; k < m * sizeof(*x); k += 64)
            CYDROP_PREFETCH((const char *)(x + i + m) + k);
        cydrop_philox_fill_scalar(w, b0 + i / 4, m / 4, seed);
        cydrop_h2f(0, (const char *)(x + i), 2, buf, (ptrdiff_t)m);
        CYDROP_WORDS_F32_FN(buf, buf, w, thr, m, coef);
        cydrop_f2h(0, buf, (char *)(o + i), 2, (ptrdiff_t)m);
    }
    return i;
}
