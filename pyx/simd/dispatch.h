/*
 * The element loops' dispatch: one table of loops per instruction set
 * (cydrop_simd_table, common.h), and the table that goes with a Philox path.
 *
 *   loops_c.h       plain C: any CPU; the CYDROP_NO_SIMD build
 *   loops_sse2.h    SSE2, baseline x86-64: with the scalar Philox path
 *   loops_avx2.h    AVX2 (target attribute): with the avx2 path
 *   loops_avx512.h  AVX-512F (target attribute): with the avx512 path
 *
 * Loops that are the same at every width are written once and included per
 * width and type: tails.inc.h (the scalar loops and tails),
 * fused_buffered.inc.h and fused_buffered_f16.inc.h (C, SSE2),
 * words_simd.inc.h and fused_simd.inc.h
 * (AVX2, AVX-512), philox_width.inc.h (the SIMD Philox rounds).
 */
#ifndef CYDROP_SIMD_DISPATCH_H
#define CYDROP_SIMD_DISPATCH_H

#include "common.h"
#include "loops_c.h"
#include "loops_sse2.h"
#include "loops_avx2.h"
#include "loops_avx512.h"

/* The loops that go with Philox path `impl` (CYDROP_IMPL_*). */
static const cydrop_simd_table *cydrop_simd_for(int impl)
{
#if CYDROP_HAVE_X86_SIMD
    if (impl == CYDROP_IMPL_AVX512)
        return &cydrop_table_avx512;
    if (impl == CYDROP_IMPL_AVX2)
        return &cydrop_table_avx2;
#endif
    (void)impl;
#if CYDROP_HAVE_SSE2
    return &cydrop_table_sse2;
#else
    return &cydrop_table_c;
#endif
}

/* Which loops those are, for the bench header and tests. */
static const char *cydrop_simd_name(int impl)
{
    const cydrop_simd_table *t = cydrop_simd_for(impl);
#if CYDROP_HAVE_X86_SIMD
    if (t == &cydrop_table_avx512)
        return "avx512";
    if (t == &cydrop_table_avx2)
        return "avx2";
#endif
#if CYDROP_HAVE_SSE2
    if (t == &cydrop_table_sse2)
        return "sse2";
#endif
    return t == &cydrop_table_c ? "c" : "?";
}

#endif /* CYDROP_SIMD_DISPATCH_H */
