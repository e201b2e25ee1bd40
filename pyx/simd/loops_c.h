/*
 * The element loops in plain C: any CPU (x86-64 uses the SSE2 ones of
 * loops_sse2.h instead; the CYDROP_NO_SIMD build and other CPUs these).
 */
#ifndef CYDROP_SIMD_LOOPS_C_H
#define CYDROP_SIMD_LOOPS_C_H

#include "common.h"

static void cydrop_keep_f32_c(const float *x, float *o, const uint8_t *keep, size_t n,
                              float scale, int nt)
{
    (void)nt;
    cydrop__keep_tail_f32(x, o, keep, 0, n, scale);
}

static void cydrop_keep_f64_c(const double *x, double *o, const uint8_t *keep, size_t n,
                              double scale, int nt)
{
    (void)nt;
    cydrop__keep_tail_f64(x, o, keep, 0, n, scale);
}

static void cydrop_words_f32_c(const float *x, float *o, const uint32_t *w, uint32_t thr,
                               size_t n, float scale)
{
    cydrop__words_tail_f32(x, o, w, thr, 0, n, scale);
}

static void cydrop_words_f64_c(const double *x, double *o, const uint32_t *w, uint32_t thr,
                               size_t n, double scale)
{
    cydrop__words_tail_f64(x, o, w, thr, 0, n, scale);
}

static void cydrop_bits_f32_c(const float *x, float *o, const uint8_t *bits, size_t n,
                              float scale, int nt)
{
    (void)nt;
    cydrop__bits_tail_f32(x, o, bits, 0, n, scale);
}

static void cydrop_bits_f64_c(const double *x, double *o, const uint8_t *bits, size_t n,
                              double scale, int nt)
{
    (void)nt;
    cydrop__bits_tail_f64(x, o, bits, 0, n, scale);
}

static void cydrop_scale_f32_c(const float *x, float *o, size_t n, float scale, int nt)
{
    (void)nt;
    cydrop__scale_tail_f32(x, o, 0, n, scale);
}

static void cydrop_scale_f64_c(const double *x, double *o, size_t n, double scale, int nt)
{
    (void)nt;
    cydrop__scale_tail_f64(x, o, 0, n, scale);
}

static void cydrop_words_affine_f32_c(const float *x, float *o, const uint32_t *w, uint32_t thr,
                                      size_t n, const cydrop_affine_f32 *c)
{
    cydrop__words_affine_tail_f32(x, o, w, thr, 0, n, c);
}

static void cydrop_words_affine_f64_c(const double *x, double *o, const uint32_t *w,
                                      uint32_t thr, size_t n, const cydrop_affine_f64 *c)
{
    cydrop__words_affine_tail_f64(x, o, w, thr, 0, n, c);
}

#define CYDROP_T float
#define CYDROP_COEF_T float
#define CYDROP_WORDS_FN cydrop_words_f32_c
#define CYDROP_FUSED_FN cydrop_fused_f32_c
#include "fused_buffered.inc.h"
#undef CYDROP_T
#undef CYDROP_COEF_T
#undef CYDROP_WORDS_FN
#undef CYDROP_FUSED_FN

#define CYDROP_T double
#define CYDROP_COEF_T double
#define CYDROP_WORDS_FN cydrop_words_f64_c
#define CYDROP_FUSED_FN cydrop_fused_f64_c
#include "fused_buffered.inc.h"
#undef CYDROP_T
#undef CYDROP_COEF_T
#undef CYDROP_WORDS_FN
#undef CYDROP_FUSED_FN

#define CYDROP_T float
#define CYDROP_COEF_T const cydrop_affine_f32 *
#define CYDROP_WORDS_FN cydrop_words_affine_f32_c
#define CYDROP_FUSED_FN cydrop_fused_affine_f32_c
#include "fused_buffered.inc.h"
#undef CYDROP_T
#undef CYDROP_COEF_T
#undef CYDROP_WORDS_FN
#undef CYDROP_FUSED_FN

#define CYDROP_T double
#define CYDROP_COEF_T const cydrop_affine_f64 *
#define CYDROP_WORDS_FN cydrop_words_affine_f64_c
#define CYDROP_FUSED_FN cydrop_fused_affine_f64_c
#include "fused_buffered.inc.h"
#undef CYDROP_T
#undef CYDROP_COEF_T
#undef CYDROP_WORDS_FN
#undef CYDROP_FUSED_FN

#define CYDROP_COEF_T float
#define CYDROP_WORDS_F32_FN cydrop_words_f32_c
#define CYDROP_FUSED_F16_FN cydrop_fused_f16_c
#include "fused_buffered_f16.inc.h"
#undef CYDROP_COEF_T
#undef CYDROP_WORDS_F32_FN
#undef CYDROP_FUSED_F16_FN

#define CYDROP_COEF_T const cydrop_affine_f32 *
#define CYDROP_WORDS_F32_FN cydrop_words_affine_f32_c
#define CYDROP_FUSED_F16_FN cydrop_fused_affine_f16_c
#include "fused_buffered_f16.inc.h"
#undef CYDROP_COEF_T
#undef CYDROP_WORDS_F32_FN
#undef CYDROP_FUSED_F16_FN

static const cydrop_simd_table cydrop_table_c = {
    .fused_f32 = cydrop_fused_f32_c,
    .fused_f64 = cydrop_fused_f64_c,
    .keep_f32 = cydrop_keep_f32_c,
    .keep_f64 = cydrop_keep_f64_c,
    .words_f32 = cydrop_words_f32_c,
    .words_f64 = cydrop_words_f64_c,
    .bits_f32 = cydrop_bits_f32_c,
    .bits_f64 = cydrop_bits_f64_c,
    .scale_f32 = cydrop_scale_f32_c,
    .scale_f64 = cydrop_scale_f64_c,
    .half_f16c = 0,
    .fused_f16 = cydrop_fused_f16_c,
    .fused_affine_f32 = cydrop_fused_affine_f32_c,
    .fused_affine_f64 = cydrop_fused_affine_f64_c,
    .fused_affine_f16 = cydrop_fused_affine_f16_c,
};

#endif /* CYDROP_SIMD_LOOPS_C_H */
