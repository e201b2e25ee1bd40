/*
 * What every element-loop file shares: the function-pointer types and the
 * table of one instruction set's loops (dispatch.h picks a table), and the
 * element-at-a-time tails (tails.inc.h, once per float type).
 *
 *   keep   o[k] = keep[k] ? x[k] * scale : 0      (bool mask or keep flags)
 *   words  o[k] = w[k] >= thr ? x[k] * scale : 0  (stream words in a buffer)
 *   bits   o[k] = bit k ? x[k] * scale : 0        (packed bits)
 *   scale  o[k] = x[k] * scale                    (every element kept: vanilla
 *                                                 evaluation, a mask of one flag)
 *   fused  the words made as it goes (fused_simd.inc.h, fused_buffered.inc.h)
 *
 * and the fused loops for float16 (the halves converted, computed in
 * float32, rounded once) and for alpha dropout (o[k] = keep ? x[k] * scale
 * + add : fill, two roundings) in float32, float64 and float16: in
 * registers on the SIMD paths, through buffers on the others.
 */
#ifndef CYDROP_SIMD_COMMON_H
#define CYDROP_SIMD_COMMON_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "philox_dispatch.h"
#include "half.h"

typedef size_t (*cydrop_fused_f32_fn)(const float *x, float *o, uint8_t *bits, size_t n,
                                      uint64_t b0, uint64_t seed, uint32_t thr, float scale,
                                      int nt);
typedef size_t (*cydrop_fused_f64_fn)(const double *x, double *o, uint8_t *bits, size_t n,
                                      uint64_t b0, uint64_t seed, uint32_t thr, double scale,
                                      int nt);
/* alpha dropout's map, keep ? x * scale + add : fill, in the compute type
 * (float32 for float16 too) */
typedef struct {
    float scale, add, fill;
} cydrop_affine_f32;
typedef struct {
    double scale, add, fill;
} cydrop_affine_f64;
/* float16 elements are passed as their bits */
typedef size_t (*cydrop_fused_f16_fn)(const uint16_t *x, uint16_t *o, uint8_t *bits, size_t n,
                                      uint64_t b0, uint64_t seed, uint32_t thr, float scale,
                                      int nt);
typedef size_t (*cydrop_fused_affine_f32_fn)(const float *x, float *o, uint8_t *bits, size_t n,
                                             uint64_t b0, uint64_t seed, uint32_t thr,
                                             const cydrop_affine_f32 *c, int nt);
typedef size_t (*cydrop_fused_affine_f64_fn)(const double *x, double *o, uint8_t *bits,
                                             size_t n, uint64_t b0, uint64_t seed, uint32_t thr,
                                             const cydrop_affine_f64 *c, int nt);
typedef size_t (*cydrop_fused_affine_f16_fn)(const uint16_t *x, uint16_t *o, uint8_t *bits,
                                             size_t n, uint64_t b0, uint64_t seed, uint32_t thr,
                                             const cydrop_affine_f32 *c, int nt);
typedef void (*cydrop_keep_f32_fn)(const float *x, float *o, const uint8_t *keep, size_t n,
                                   float scale, int nt);
typedef void (*cydrop_keep_f64_fn)(const double *x, double *o, const uint8_t *keep, size_t n,
                                   double scale, int nt);
typedef void (*cydrop_words_f32_fn)(const float *x, float *o, const uint32_t *w, uint32_t thr,
                                    size_t n, float scale);
typedef void (*cydrop_words_f64_fn)(const double *x, double *o, const uint32_t *w, uint32_t thr,
                                    size_t n, double scale);
typedef void (*cydrop_bits_f32_fn)(const float *x, float *o, const uint8_t *bits, size_t n,
                                   float scale, int nt);
typedef void (*cydrop_bits_f64_fn)(const double *x, double *o, const uint8_t *bits, size_t n,
                                   double scale, int nt);
typedef void (*cydrop_scale_f32_fn)(const float *x, float *o, size_t n, float scale, int nt);
typedef void (*cydrop_scale_f64_fn)(const double *x, double *o, size_t n, double scale, int nt);

typedef struct {
    /* x, o: n elements from stream block b0 (word 4 * b0 for element 0; the
     * caller keeps b0 + n / 4 within the 2**62 blocks); bits (or NULL): the
     * keep flags packed, bit k % 8 of byte k / 8 for element k; nt: write o
     * with non-temporal (streaming) stores, o then 64-byte aligned (only the
     * SIMD paths stream; the others ignore it); returns how many leading
     * elements it wrote (whole groups of 32 or 64, maybe 0). */
    cydrop_fused_f32_fn fused_f32;
    cydrop_fused_f64_fn fused_f64;
    cydrop_keep_f32_fn keep_f32;
    cydrop_keep_f64_fn keep_f64;
    cydrop_words_f32_fn words_f32;
    cydrop_words_f64_fn words_f64;
    /* o = bit k ? x * scale : 0, bits as above (element 0 at bit 0).  The
     * keep-flag and bit loops take nt as the fused ones do (o 64-byte
     * aligned when set). */
    cydrop_bits_f32_fn bits_f32;
    cydrop_bits_f64_fn bits_f64;
    /* o = x * scale, every element kept (nt as above) */
    cydrop_scale_f32_fn scale_f32;
    cydrop_scale_f64_fn scale_f64;
    /* The fused loop for float16 and alpha dropout's, as fused_f32 and
     * fused_f64 otherwise.  float16's converts with F16C where half_f16c is
     * set (the SIMD paths: the caller runs it only where the CPU has F16C),
     * else with half.h's portable conversions (C, SSE2). */
    int half_f16c;
    cydrop_fused_f16_fn fused_f16;
    cydrop_fused_affine_f32_fn fused_affine_f32;
    cydrop_fused_affine_f64_fn fused_affine_f64;
    cydrop_fused_affine_f16_fn fused_affine_f16;
} cydrop_simd_table;

#define CYDROP_T float
#define CYDROP_KEEP_TAIL_FN cydrop__keep_tail_f32
#define CYDROP_WORDS_TAIL_FN cydrop__words_tail_f32
#define CYDROP_BITS_TAIL_FN cydrop__bits_tail_f32
#define CYDROP_SCALE_TAIL_FN cydrop__scale_tail_f32
#define CYDROP_AFFINE_T cydrop_affine_f32
#define CYDROP_WORDS_AFFINE_TAIL_FN cydrop__words_affine_tail_f32
#include "tails.inc.h"
#undef CYDROP_T
#undef CYDROP_KEEP_TAIL_FN
#undef CYDROP_WORDS_TAIL_FN
#undef CYDROP_BITS_TAIL_FN
#undef CYDROP_SCALE_TAIL_FN
#undef CYDROP_AFFINE_T
#undef CYDROP_WORDS_AFFINE_TAIL_FN

#define CYDROP_T double
#define CYDROP_KEEP_TAIL_FN cydrop__keep_tail_f64
#define CYDROP_WORDS_TAIL_FN cydrop__words_tail_f64
#define CYDROP_BITS_TAIL_FN cydrop__bits_tail_f64
#define CYDROP_SCALE_TAIL_FN cydrop__scale_tail_f64
#define CYDROP_AFFINE_T cydrop_affine_f64
#define CYDROP_WORDS_AFFINE_TAIL_FN cydrop__words_affine_tail_f64
#include "tails.inc.h"
#undef CYDROP_T
#undef CYDROP_KEEP_TAIL_FN
#undef CYDROP_WORDS_TAIL_FN
#undef CYDROP_BITS_TAIL_FN
#undef CYDROP_SCALE_TAIL_FN
#undef CYDROP_AFFINE_T
#undef CYDROP_WORDS_AFFINE_TAIL_FN

/* How many leading elements of o (elements of `item` bytes, o aligned to
 * its element) come before the first `align`-byte aligned one, at most n. */
CYDROP_INLINE size_t cydrop__lead_in(const void *o, size_t n, size_t item, size_t align)
{
    size_t k = (((align - (uintptr_t)o % align)) % align) / item;
    return k < n ? k : n;
}

/* The fused loop of the paths without SIMD Philox (fused_buffered.inc.h)
 * takes the words of CYDROP_PIECE elements at a time. */
#define CYDROP_PIECE 256

#endif /* CYDROP_SIMD_COMMON_H */
