/*
 * The element-at-a-time loops, for one float type: the plain-C loops
 * (loops_c.h runs them from element 0) and every SIMD loop's tail (from the
 * first element its vectors did not cover).  Included by common.h once per
 * type, which #defines before the #include and #undefs after it:
 *
 *   CYDROP_T              float or double
 *   CYDROP_KEEP_TAIL_FN   o[k] = keep[k] ? x[k] * scale : 0
 *   CYDROP_WORDS_TAIL_FN  o[k] = w[k] >= thr ? x[k] * scale : 0
 *   CYDROP_BITS_TAIL_FN   o[k] = bit k of bits ? x[k] * scale : 0
 *   CYDROP_SCALE_TAIL_FN  o[k] = x[k] * scale
 *   CYDROP_AFFINE_T       alpha dropout's map for CYDROP_T (cydrop_affine_f32/f64)
 *   CYDROP_WORDS_AFFINE_TAIL_FN  o[k] = w[k] >= thr ? x[k] * c.scale + c.add : c.fill
 *
 * for k from k (the first element not yet written) to n.  The product is
 * unconditional: a branch-free select.
 */

CYDROP_INLINE void CYDROP_KEEP_TAIL_FN(const CYDROP_T *x, CYDROP_T *o, const uint8_t *keep,
                                       size_t k, size_t n, CYDROP_T scale)
{
    for (; k < n; k++)
        o[k] = keep[k] ? x[k] * scale : (CYDROP_T)0;
}

CYDROP_INLINE void CYDROP_WORDS_TAIL_FN(const CYDROP_T *x, CYDROP_T *o, const uint32_t *w,
                                        uint32_t thr, size_t k, size_t n, CYDROP_T scale)
{
    for (; k < n; k++)
        o[k] = w[k] >= thr ? x[k] * scale : (CYDROP_T)0;
}

CYDROP_INLINE void CYDROP_BITS_TAIL_FN(const CYDROP_T *x, CYDROP_T *o, const uint8_t *bits,
                                       size_t k, size_t n, CYDROP_T scale)
{
    for (; k < n; k++)
        o[k] = (bits[k >> 3] >> (k & 7)) & 1 ? x[k] * scale : (CYDROP_T)0;
}

CYDROP_INLINE void CYDROP_SCALE_TAIL_FN(const CYDROP_T *x, CYDROP_T *o, size_t k, size_t n,
                                        CYDROP_T scale)
{
    for (; k < n; k++)
        o[k] = x[k] * scale;
}

CYDROP_INLINE void CYDROP_WORDS_AFFINE_TAIL_FN(const CYDROP_T *x, CYDROP_T *o, const uint32_t *w,
                                               uint32_t thr, size_t k, size_t n,
                                               const CYDROP_AFFINE_T *c)
{
    const CYDROP_T scale = c->scale, add = c->add, fill = c->fill;
    for (; k < n; k++) {
        CYDROP_T v = x[k] * scale + add;       /* two roundings: -ffp-contract=off */
        o[k] = w[k] >= thr ? v : fill;
    }
}
