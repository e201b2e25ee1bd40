/*
 * The words loop of a SIMD path: o[k] = w[k] >= thr ? x[k] * scale : 0 for
 * stream words already in a buffer, CYDROP_W elements per apply, then the
 * scalar tail.  Included once per float type by loops_avx2.h and
 * loops_avx512.h, with fused_simd.inc.h under the same #defines (listed
 * there); this file uses CYDROP_TARGET, CYDROP_T, CYDROP_W, CYDROP_VEC,
 * CYDROP_VEC_SET1, CYDROP_VEC_LOADU, CYDROP_VS_T, CYDROP_VS_SET1,
 * CYDROP_APPLY, CYDROP_WORDS_TAIL_FN and defines CYDROP_WORDS_FN.
 */

__attribute__((target(CYDROP_TARGET)))
static void CYDROP_WORDS_FN(const CYDROP_T *x, CYDROP_T *o, const uint32_t *w, uint32_t thr,
                            size_t n, CYDROP_T scale)
{
    const CYDROP_VS_T vs = CYDROP_VS_SET1(scale);
    const CYDROP_VEC t = CYDROP_VEC_SET1((int)thr);
    size_t k = 0;
    for (; k + CYDROP_W <= n; k += CYDROP_W)
        CYDROP_APPLY(x + k, o + k, NULL, CYDROP_VEC_LOADU(w + k), t, vs, 0);
    CYDROP_WORDS_TAIL_FN(x, o, w, thr, k, n, scale);
}
