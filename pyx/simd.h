/*
 * The element loops of cydrop's kernels, one version per instruction set,
 * picked with the Philox path (docs/design.md, "Kernels"):
 *
 *   keep   o[k] = keep[k] ? x[k] * scale : 0      (bool mask or keep flags)
 *   words  o[k] = w[k] >= thr ? x[k] * scale : 0  (stream words in a buffer)
 *   fused  the same with the words made as it goes: on the SIMD paths in
 *          registers (each group of Philox blocks is computed, transposed
 *          into stream order, compared and applied to the elements it
 *          covers, so that the arithmetic of the stream and the loads and
 *          stores of the array interleave in one instruction stream: no word
 *          buffer, no second pass); on the others CYDROP_PIECE words at a
 *          time through an L1 buffer.
 *
 * Every version computes the same products (one IEEE multiply per element,
 * no fma) and writes +0.0 where an element is dropped, so results are
 * bit-identical across versions.  `x` and `o` may be the same array (in
 * place); otherwise they must not overlap.
 *
 * Versions: plain C (any CPU; also the CYDROP_NO_SIMD build), SSE2 (baseline
 * x86-64: the scalar Philox path), AVX2 and AVX-512F (compiled with target
 * attributes, run only where the CPU has them).
 */
#ifndef CYDROP_SIMD_H
#define CYDROP_SIMD_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "philox.h"

#if defined(__SSE2__) && !defined(CYDROP_NO_SIMD)
#define CYDROP_HAVE_SSE2 1
#include <emmintrin.h>
#else
#define CYDROP_HAVE_SSE2 0
#endif

typedef size_t (*cydrop_fused_f32_fn)(const float *x, float *o, uint8_t *bits, size_t n,
                                      uint64_t b0, uint64_t seed, uint32_t thr, float scale,
                                      int nt);
typedef size_t (*cydrop_fused_f64_fn)(const double *x, double *o, uint8_t *bits, size_t n,
                                      uint64_t b0, uint64_t seed, uint32_t thr, double scale,
                                      int nt);
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
} cydrop_simd_table;

/* ---- plain C ------------------------------------------------------------ */

/* the product is unconditional: a branch-free select */
#define CYDROP_KEEP_TAIL(x, o, keep, k, n, scale, zero)        \
    for (; (k) < (n); (k)++)                                    \
        (o)[k] = (keep)[k] ? (x)[k] * (scale) : (zero);

#define CYDROP_WORDS_TAIL(x, o, w, thr, k, n, scale, zero)     \
    for (; (k) < (n); (k)++)                                    \
        (o)[k] = (w)[k] >= (thr) ? (x)[k] * (scale) : (zero);

#define CYDROP_BITS_TAIL(x, o, bits, k, n, scale, zero)                      \
    for (; (k) < (n); (k)++)                                                  \
        (o)[k] = ((bits)[(k) >> 3] >> ((k) & 7)) & 1 ? (x)[k] * (scale) : (zero);

static void cydrop_keep_f32_c(const float *x, float *o, const uint8_t *keep, size_t n,
                              float scale, int nt)
{
    (void)nt;
    size_t k = 0;
    CYDROP_KEEP_TAIL(x, o, keep, k, n, scale, 0.0f)
}

static void cydrop_keep_f64_c(const double *x, double *o, const uint8_t *keep, size_t n,
                              double scale, int nt)
{
    (void)nt;
    size_t k = 0;
    CYDROP_KEEP_TAIL(x, o, keep, k, n, scale, 0.0)
}

static void cydrop_words_f32_c(const float *x, float *o, const uint32_t *w, uint32_t thr,
                               size_t n, float scale)
{
    size_t k = 0;
    CYDROP_WORDS_TAIL(x, o, w, thr, k, n, scale, 0.0f)
}

static void cydrop_words_f64_c(const double *x, double *o, const uint32_t *w, uint32_t thr,
                               size_t n, double scale)
{
    size_t k = 0;
    CYDROP_WORDS_TAIL(x, o, w, thr, k, n, scale, 0.0)
}

static void cydrop_bits_f32_c(const float *x, float *o, const uint8_t *bits, size_t n,
                              float scale, int nt)
{
    (void)nt;
    size_t k = 0;
    CYDROP_BITS_TAIL(x, o, bits, k, n, scale, 0.0f)
}

static void cydrop_bits_f64_c(const double *x, double *o, const uint8_t *bits, size_t n,
                              double scale, int nt)
{
    (void)nt;
    size_t k = 0;
    CYDROP_BITS_TAIL(x, o, bits, k, n, scale, 0.0)
}

/* The fused loop of the paths without SIMD Philox: the words of
 * CYDROP_PIECE elements at a time into an L1 buffer, applied at once, the
 * next piece's elements requested before its words are computed; stores and
 * arithmetic interleave at that grain. */
#define CYDROP_PIECE 256

#if defined(__GNUC__) || defined(__clang__)
#define CYDROP_PREFETCH(p) __builtin_prefetch((p), 0, 2)
#define CYDROP_PREFETCH_L1(p) __builtin_prefetch((p), 0, 3)
#else
#define CYDROP_PREFETCH(p) ((void)(p))
#define CYDROP_PREFETCH_L1(p) ((void)(p))
#endif

#define CYDROP_FUSED_BUFFERED(NAME, FLOAT, WORDS)                                      \
static size_t NAME(const FLOAT *x, FLOAT *o, uint8_t *bits, size_t n, uint64_t b0,      \
                   uint64_t seed, uint32_t thr, FLOAT scale, int nt)                   \
{                                                                                      \
    uint32_t w[CYDROP_PIECE];                                                          \
    size_t i = 0, m, k;                                                                \
    (void)nt;                                                                          \
    if (bits)           /* packed bits: the general path writes them */                \
        return 0;                                                                      \
    for (; i + 32 <= n; i += m) {                                                      \
        m = n - i < CYDROP_PIECE ? (n - i) & ~(size_t)31 : CYDROP_PIECE;               \
        for (k = 0; k < m * sizeof(FLOAT); k += 64)                                    \
            CYDROP_PREFETCH((const char *)(x + i + m) + k);                            \
        cydrop_philox_fill_scalar(w, b0 + i / 4, m / 4, seed);                         \
        WORDS(x + i, o + i, w, thr, m, scale);                                         \
    }                                                                                  \
    return i;                                                                          \
}

CYDROP_FUSED_BUFFERED(cydrop_fused_f32_c, float, cydrop_words_f32_c)
CYDROP_FUSED_BUFFERED(cydrop_fused_f64_c, double, cydrop_words_f64_c)

static const cydrop_simd_table cydrop_table_c = {
    cydrop_fused_f32_c, cydrop_fused_f64_c, cydrop_keep_f32_c, cydrop_keep_f64_c, cydrop_words_f32_c, cydrop_words_f64_c,
    cydrop_bits_f32_c, cydrop_bits_f64_c,
};

/* ---- SSE2 (every x86-64 CPU) -------------------------------------------- */
#if CYDROP_HAVE_SSE2

/* w >= thr unsigned, with SSE2's signed compare: flip the sign bits;
 * dropped where thr > w */
static void cydrop_words_f32_sse2(const float *x, float *o, const uint32_t *w, uint32_t thr,
                                  size_t n, float scale)
{
    const __m128 vs = _mm_set1_ps(scale);
    const __m128i sign = _mm_set1_epi32((int)0x80000000u);
    const __m128i t = _mm_set1_epi32((int)(thr ^ 0x80000000u));
    size_t k = 0;
    for (; k + 4 <= n; k += 4) {
        __m128i d = _mm_cmpgt_epi32(t, _mm_xor_si128(_mm_loadu_si128((const __m128i *)(w + k)),
                                                     sign));
        _mm_storeu_ps(o + k, _mm_andnot_ps(_mm_castsi128_ps(d),
                                           _mm_mul_ps(_mm_loadu_ps(x + k), vs)));
    }
    CYDROP_WORDS_TAIL(x, o, w, thr, k, n, scale, 0.0f)
}

static void cydrop_words_f64_sse2(const double *x, double *o, const uint32_t *w, uint32_t thr,
                                  size_t n, double scale)
{
    const __m128d vs = _mm_set1_pd(scale);
    const __m128i sign = _mm_set1_epi32((int)0x80000000u);
    const __m128i t = _mm_set1_epi32((int)(thr ^ 0x80000000u));
    size_t k = 0;
    for (; k + 4 <= n; k += 4) {
        __m128i d = _mm_cmpgt_epi32(t, _mm_xor_si128(_mm_loadu_si128((const __m128i *)(w + k)),
                                                     sign));
        __m128i d0 = _mm_unpacklo_epi32(d, d), d1 = _mm_unpackhi_epi32(d, d);
        _mm_storeu_pd(o + k, _mm_andnot_pd(_mm_castsi128_pd(d0),
                                           _mm_mul_pd(_mm_loadu_pd(x + k), vs)));
        _mm_storeu_pd(o + k + 2, _mm_andnot_pd(_mm_castsi128_pd(d1),
                                               _mm_mul_pd(_mm_loadu_pd(x + k + 2), vs)));
    }
    CYDROP_WORDS_TAIL(x, o, w, thr, k, n, scale, 0.0)
}

/* bit j of a byte as lane j's and-mask (all ones or zero), for every byte:
 * 8 KiB, built by the compiler.  With SSE2 alone, unpacking the bits in
 * registers (broadcast, and, compare) costs about 14 instructions per 8
 * floats, more than the memory system needs for them at L2/L3 speed; the
 * table costs one index and two and-with-memory. */
#define CYDROP_LUT_M(i, j) ((((i) >> (j)) & 1) ? 0xFFFFFFFFu : 0u)
#define CYDROP_LUT_R(i) {CYDROP_LUT_M(i, 0), CYDROP_LUT_M(i, 1), CYDROP_LUT_M(i, 2),       \
                         CYDROP_LUT_M(i, 3), CYDROP_LUT_M(i, 4), CYDROP_LUT_M(i, 5),       \
                         CYDROP_LUT_M(i, 6), CYDROP_LUT_M(i, 7)}
#define CYDROP_LUT_R4(i) CYDROP_LUT_R(i), CYDROP_LUT_R((i) + 1), CYDROP_LUT_R((i) + 2),     \
                         CYDROP_LUT_R((i) + 3)
#define CYDROP_LUT_R16(i) CYDROP_LUT_R4(i), CYDROP_LUT_R4((i) + 4), CYDROP_LUT_R4((i) + 8), \
                          CYDROP_LUT_R4((i) + 12)
#define CYDROP_LUT_R64(i) CYDROP_LUT_R16(i), CYDROP_LUT_R16((i) + 16),                      \
                          CYDROP_LUT_R16((i) + 32), CYDROP_LUT_R16((i) + 48)
#if defined(__GNUC__) || defined(__clang__)
__attribute__((aligned(64)))
#define CYDROP_LUT_LOAD(p) _mm_load_ps((const float *)(p))
#define CYDROP_LUT_LOADD(p) _mm_load_pd((const double *)(p))
#else
#define CYDROP_LUT_LOAD(p) _mm_loadu_ps((const float *)(p))
#define CYDROP_LUT_LOADD(p) _mm_loadu_pd((const double *)(p))
#endif
static const uint32_t cydrop_bits_lut32[256][8] = {
    CYDROP_LUT_R64(0), CYDROP_LUT_R64(64), CYDROP_LUT_R64(128), CYDROP_LUT_R64(192)};

#define CYDROP_LUT_APPLY8(xp, op, byte)                                                \
    do {                                                                               \
        const uint32_t *m_ = cydrop_bits_lut32[byte];                                  \
        _mm_storeu_ps((op), _mm_and_ps(CYDROP_LUT_LOAD(m_), _mm_mul_ps(_mm_loadu_ps(xp), vs))); \
        _mm_storeu_ps((op) + 4, _mm_and_ps(CYDROP_LUT_LOAD(m_ + 4),                    \
                                           _mm_mul_ps(_mm_loadu_ps((xp) + 4), vs)));   \
    } while (0)

static void cydrop_bits_f32_sse2(const float *x, float *o, const uint8_t *bits, size_t n,
                                 float scale, int nt)
{
    (void)nt;
    const __m128 vs = _mm_set1_ps(scale);
    size_t k = 0;
    for (; k + 32 <= n; k += 32, x += 32, o += 32, bits += 4) {
        CYDROP_LUT_APPLY8(x, o, bits[0]);
        CYDROP_LUT_APPLY8(x + 8, o + 8, bits[1]);
        CYDROP_LUT_APPLY8(x + 16, o + 16, bits[2]);
        CYDROP_LUT_APPLY8(x + 24, o + 24, bits[3]);
    }
    n -= k;
    k = 0;
    for (; k + 8 <= n; k += 8)
        CYDROP_LUT_APPLY8(x + k, o + k, bits[k >> 3]);
    CYDROP_BITS_TAIL(x, o, bits, k, n, scale, 0.0f)
}

/* four bits as four float64 lanes' and-masks (512 bytes) */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((aligned(64)))
#endif
static const uint64_t cydrop_nibble_lut64[16][4] = {
#define CYDROP_NIB_M(i, j) ((((i) >> (j)) & 1) ? ~(uint64_t)0 : (uint64_t)0)
#define CYDROP_NIB_R(i) {CYDROP_NIB_M(i, 0), CYDROP_NIB_M(i, 1), CYDROP_NIB_M(i, 2), CYDROP_NIB_M(i, 3)}
    CYDROP_NIB_R(0), CYDROP_NIB_R(1), CYDROP_NIB_R(2), CYDROP_NIB_R(3), CYDROP_NIB_R(4),
    CYDROP_NIB_R(5), CYDROP_NIB_R(6), CYDROP_NIB_R(7), CYDROP_NIB_R(8), CYDROP_NIB_R(9),
    CYDROP_NIB_R(10), CYDROP_NIB_R(11), CYDROP_NIB_R(12), CYDROP_NIB_R(13), CYDROP_NIB_R(14),
    CYDROP_NIB_R(15)};

/* float64 keep flags, 16 at a time: compare with zero, gather the 16
 * answers into a word (pmovmskb), and take each four lanes' and-masks from
 * the nibble table (any nonzero byte keeps).  float32 unpacks the compare in
 * registers instead (below): through the byte table it measured slower. */
#define CYDROP_NIB_APPLY4(xp, op, nib)                                                 \
    do {                                                                               \
        const uint64_t *m_ = cydrop_nibble_lut64[nib];                                 \
        _mm_storeu_pd((op), _mm_and_pd(CYDROP_LUT_LOADD(m_), _mm_mul_pd(_mm_loadu_pd(xp), vs))); \
        _mm_storeu_pd((op) + 2, _mm_and_pd(CYDROP_LUT_LOADD(m_ + 2),                   \
                                           _mm_mul_pd(_mm_loadu_pd((xp) + 2), vs)));   \
    } while (0)

static void cydrop_keep_f64_sse2(const double *x, double *o, const uint8_t *keep, size_t n,
                                 double scale, int nt)
{
    (void)nt;
    const __m128d vs = _mm_set1_pd(scale);
    const __m128i z = _mm_setzero_si128();
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        unsigned kb = ~(unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(keep + k)), z));
        CYDROP_NIB_APPLY4(x + k, o + k, kb & 15);
        CYDROP_NIB_APPLY4(x + k + 4, o + k + 4, (kb >> 4) & 15);
        CYDROP_NIB_APPLY4(x + k + 8, o + k + 8, (kb >> 8) & 15);
        CYDROP_NIB_APPLY4(x + k + 12, o + k + 12, (kb >> 12) & 15);
    }
    CYDROP_KEEP_TAIL(x, o, keep, k, n, scale, 0.0)
}

/* d: 0xFF.. where an element is dropped; andnot keeps x * scale elsewhere */
static void cydrop_keep_f32_sse2(const float *x, float *o, const uint8_t *keep, size_t n,
                                 float scale, int nt)
{
    (void)nt;
    const __m128 vs = _mm_set1_ps(scale);
    const __m128i z = _mm_setzero_si128();
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        __m128i d = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(keep + k)), z);
        __m128i lo = _mm_unpacklo_epi8(d, d), hi = _mm_unpackhi_epi8(d, d);
        __m128i m[4];
        int j;
        m[0] = _mm_unpacklo_epi16(lo, lo);
        m[1] = _mm_unpackhi_epi16(lo, lo);
        m[2] = _mm_unpacklo_epi16(hi, hi);
        m[3] = _mm_unpackhi_epi16(hi, hi);
        for (j = 0; j < 4; j++)
            _mm_storeu_ps(o + k + 4 * j,
                          _mm_andnot_ps(_mm_castsi128_ps(m[j]),
                                        _mm_mul_ps(_mm_loadu_ps(x + k + 4 * j), vs)));
    }
    CYDROP_KEEP_TAIL(x, o, keep, k, n, scale, 0.0f)
}

static void cydrop_bits_f64_sse2(const double *x, double *o, const uint8_t *bits, size_t n,
                                 double scale, int nt)
{
    (void)nt;
    const __m128d vs = _mm_set1_pd(scale);
    /* 64-bit lanes as pairs of 32-bit ones: both halves test the same bit */
    const __m128i l0 = _mm_setr_epi32(1, 1, 2, 2), l1 = _mm_setr_epi32(4, 4, 8, 8);
    const __m128i l2 = _mm_setr_epi32(16, 16, 32, 32), l3 = _mm_setr_epi32(64, 64, 128, 128);
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m128i b = _mm_set1_epi32(bits[k >> 3]);
        __m128i m0 = _mm_cmpeq_epi32(_mm_and_si128(b, l0), l0);
        __m128i m1 = _mm_cmpeq_epi32(_mm_and_si128(b, l1), l1);
        __m128i m2 = _mm_cmpeq_epi32(_mm_and_si128(b, l2), l2);
        __m128i m3 = _mm_cmpeq_epi32(_mm_and_si128(b, l3), l3);
        _mm_storeu_pd(o + k, _mm_and_pd(_mm_castsi128_pd(m0), _mm_mul_pd(_mm_loadu_pd(x + k), vs)));
        _mm_storeu_pd(o + k + 2, _mm_and_pd(_mm_castsi128_pd(m1),
                                            _mm_mul_pd(_mm_loadu_pd(x + k + 2), vs)));
        _mm_storeu_pd(o + k + 4, _mm_and_pd(_mm_castsi128_pd(m2),
                                            _mm_mul_pd(_mm_loadu_pd(x + k + 4), vs)));
        _mm_storeu_pd(o + k + 6, _mm_and_pd(_mm_castsi128_pd(m3),
                                            _mm_mul_pd(_mm_loadu_pd(x + k + 6), vs)));
    }
    CYDROP_BITS_TAIL(x, o, bits, k, n, scale, 0.0)
}

CYDROP_FUSED_BUFFERED(cydrop_fused_f32_sse2, float, cydrop_words_f32_sse2)
CYDROP_FUSED_BUFFERED(cydrop_fused_f64_sse2, double, cydrop_words_f64_sse2)

static const cydrop_simd_table cydrop_table_sse2 = {
    cydrop_fused_f32_sse2, cydrop_fused_f64_sse2, cydrop_keep_f32_sse2, cydrop_keep_f64_sse2,
    cydrop_words_f32_sse2, cydrop_words_f64_sse2, cydrop_bits_f32_sse2, cydrop_bits_f64_sse2,
};

#endif /* CYDROP_HAVE_SSE2 */

#if CYDROP_HAVE_X86_SIMD

/* ---- AVX2 ---------------------------------------------------------------- */

/* a store of the element loops: non-temporal when nt (o then 64-byte
 * aligned: the caller starts the loop there), else an ordinary unaligned
 * store */
#define CYDROP_ST256_PS(nt, p, v) ((nt) ? _mm256_stream_ps((p), (v)) : _mm256_storeu_ps((p), (v)))
#define CYDROP_ST256_PD(nt, p, v) ((nt) ? _mm256_stream_pd((p), (v)) : _mm256_storeu_pd((p), (v)))
#define CYDROP_ST512_PS(nt, p, v) ((nt) ? _mm512_stream_ps((p), (v)) : _mm512_storeu_ps((p), (v)))
#define CYDROP_ST512_PD(nt, p, v) ((nt) ? _mm512_stream_pd((p), (v)) : _mm512_storeu_pd((p), (v)))

/* keep mask (all ones where w >= thr): AVX2 has no unsigned compare */
#define CYDROP_GE8(w, t) _mm256_cmpeq_epi32(_mm256_max_epu32((w), (t)), (w))

__attribute__((target("avx2")))
static void cydrop_keep_f32_avx2(const float *x, float *o, const uint8_t *keep, size_t n,
                                 float scale, int nt)
{
    const __m256 vs = _mm256_set1_ps(scale);
    const __m256i z = _mm256_setzero_si256();
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256i d = _mm256_cmpeq_epi32(
            _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(keep + k))), z);
        CYDROP_ST256_PS(nt, o + k, _mm256_andnot_ps(_mm256_castsi256_ps(d),
                                                 _mm256_mul_ps(_mm256_loadu_ps(x + k), vs)));
    }
    if (nt)
        _mm_sfence();
    CYDROP_KEEP_TAIL(x, o, keep, k, n, scale, 0.0f)
}

__attribute__((target("avx2")))
static void cydrop_keep_f64_avx2(const double *x, double *o, const uint8_t *keep, size_t n,
                                 double scale, int nt)
{
    const __m256d vs = _mm256_set1_pd(scale);
    const __m256i z = _mm256_setzero_si256();
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m128i b = _mm_loadl_epi64((const __m128i *)(keep + k));
        __m256i d0 = _mm256_cmpeq_epi64(_mm256_cvtepu8_epi64(b), z);
        __m256i d1 = _mm256_cmpeq_epi64(_mm256_cvtepu8_epi64(_mm_srli_si128(b, 4)), z);
        CYDROP_ST256_PD(nt, o + k, _mm256_andnot_pd(_mm256_castsi256_pd(d0),
                                                 _mm256_mul_pd(_mm256_loadu_pd(x + k), vs)));
        CYDROP_ST256_PD(nt, o + k + 4,
                         _mm256_andnot_pd(_mm256_castsi256_pd(d1),
                                          _mm256_mul_pd(_mm256_loadu_pd(x + k + 4), vs)));
    }
    if (nt)
        _mm_sfence();
    CYDROP_KEEP_TAIL(x, o, keep, k, n, scale, 0.0)
}

__attribute__((target("avx2")))
static inline void cydrop__apply8_f32(const float *x, float *o, uint8_t *bits, __m256i w,
                                      __m256i t, __m256 vs, int nt)
{
    __m256 m = _mm256_castsi256_ps(CYDROP_GE8(w, t));
    __m256 r = _mm256_and_ps(m, _mm256_mul_ps(_mm256_loadu_ps(x), vs));
    if (bits)
        *bits = (uint8_t)_mm256_movemask_ps(m);
    CYDROP_ST256_PS(nt, o, r);
}

__attribute__((target("avx2")))
static inline void cydrop__apply8_f64(const double *x, double *o, uint8_t *bits, __m256i w,
                                      __m256i t, __m256d vs, int nt)
{
    __m256i m = CYDROP_GE8(w, t);
    if (bits)
        *bits = (uint8_t)_mm256_movemask_ps(_mm256_castsi256_ps(m));
    __m256i m0 = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(m));
    __m256i m1 = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(m, 1));
    __m256d r0 = _mm256_and_pd(_mm256_castsi256_pd(m0), _mm256_mul_pd(_mm256_loadu_pd(x), vs));
    __m256d r1 = _mm256_and_pd(_mm256_castsi256_pd(m1),
                               _mm256_mul_pd(_mm256_loadu_pd(x + 4), vs));
    CYDROP_ST256_PD(nt, o, r0);
    CYDROP_ST256_PD(nt, o + 4, r1);
}

__attribute__((target("avx2")))
static void cydrop_words_f32_avx2(const float *x, float *o, const uint32_t *w, uint32_t thr,
                                  size_t n, float scale)
{
    const __m256 vs = _mm256_set1_ps(scale);
    const __m256i t = _mm256_set1_epi32((int)thr);
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        cydrop__apply8_f32(x + k, o + k, NULL, _mm256_loadu_si256((const __m256i *)(w + k)), t,
                           vs, 0);
    CYDROP_WORDS_TAIL(x, o, w, thr, k, n, scale, 0.0f)
}

__attribute__((target("avx2")))
static void cydrop_words_f64_avx2(const double *x, double *o, const uint32_t *w, uint32_t thr,
                                  size_t n, double scale)
{
    const __m256d vs = _mm256_set1_pd(scale);
    const __m256i t = _mm256_set1_epi32((int)thr);
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        cydrop__apply8_f64(x + k, o + k, NULL, _mm256_loadu_si256((const __m256i *)(w + k)), t,
                           vs, 0);
    CYDROP_WORDS_TAIL(x, o, w, thr, k, n, scale, 0.0)
}

/* The fused loop of the SIMD paths, for a width of W blocks (8 with AVX2,
 * 16 with AVX-512): NG groups of W blocks (4 * W words and elements each)
 * per step through CYDROP_ROUNDS8/16 of philox.h, the words transposed into
 * stream order and applied at once; then single groups.  APPLY is the
 * width's W-element apply (x, o, bits or NULL, words, threshold, scale, nt),
 * VS its scale vector.  PF != 0: each step first requests the next step's
 * elements of x into L1 (a read prefetch, PF bytes ahead), so that their
 * loads overlap this step's rounds. */
#define CYDROP_FUSED_LOOP(W, STATE, VEC, WORDS, ROUNDS, APPLY, VS, NG, PF)            \
    for (; i + 4 * (W) * (NG) <= n; i += 4 * (W) * (NG)) {                             \
        STATE s[NG];                                                                   \
        int g, j;                                                                      \
        if (PF) {                                                                      \
            size_t q_;                                                                 \
            for (q_ = 0; q_ < 4 * (W) * (NG) * sizeof(*x); q_ += 64)                   \
                CYDROP_PREFETCH_L1((const char *)(x + i) + (PF) + q_);                 \
        }                                                                              \
        ROUNDS(s, NG, b0 + i / 4, seed);                                               \
        for (g = 0; g < (NG); g++) {                                                   \
            VEC w[4];                                                                  \
            WORDS(&s[g], w);                                                           \
            for (j = 0; j < 4; j++) {                                                  \
                size_t e_ = i + 4 * (W) * (size_t)g + (W) * (size_t)j;                 \
                APPLY(x + e_, o + e_, bits ? bits + e_ / 8 : NULL, w[j], t, VS, nt);   \
            }                                                                          \
        }                                                                              \
    }

#define CYDROP_FUSED_BODY(W, STATE, VEC, SET1, WORDS, ROUNDS, APPLY, VS, NG, PF)       \
    const VEC t = SET1((int)thr);                                                      \
    size_t i = 0;                                                                      \
    CYDROP_FUSED_LOOP(W, STATE, VEC, WORDS, ROUNDS, APPLY, VS, NG, PF)                 \
    CYDROP_FUSED_LOOP(W, STATE, VEC, WORDS, ROUNDS, APPLY, VS, 1, 0)                   \
    if (nt)             /* streaming stores are weakly ordered */                      \
        _mm_sfence();                                                                  \
    return i;

/* AVX2: CYDROP_GROUPS groups as in the fill.  float64 prefetches one step
 * (1 KiB) ahead: there a step's 2 KiB of traffic rivals its arithmetic. */
#define CYDROP_FUSED8_BODY(APPLY, VS, PF)                                              \
    CYDROP_FUSED_BODY(8, cydrop_state8, __m256i, _mm256_set1_epi32, cydrop__words8,    \
                      CYDROP_ROUNDS8, APPLY, VS, CYDROP_GROUPS, PF)

__attribute__((target("avx2")))
static size_t cydrop_fused_f32_avx2(const float *x, float *o, uint8_t *bits, size_t n,
                                    uint64_t b0, uint64_t seed, uint32_t thr, float scale,
                                    int nt)
{
    const __m256 vs = _mm256_set1_ps(scale);
    CYDROP_FUSED8_BODY(cydrop__apply8_f32, vs, 0)
}

__attribute__((target("avx2")))
static size_t cydrop_fused_f64_avx2(const double *x, double *o, uint8_t *bits, size_t n,
                                    uint64_t b0, uint64_t seed, uint32_t thr, double scale,
                                    int nt)
{
    const __m256d vs = _mm256_set1_pd(scale);
    CYDROP_FUSED8_BODY(cydrop__apply8_f64, vs, 32 * CYDROP_GROUPS * sizeof(double))
}

__attribute__((target("avx2")))
static void cydrop_bits_f32_avx2(const float *x, float *o, const uint8_t *bits, size_t n,
                                 float scale, int nt)
{
    const __m256 vs = _mm256_set1_ps(scale);
    const __m256i lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256i m = _mm256_set1_epi32(bits[k >> 3]);
        m = _mm256_cmpeq_epi32(_mm256_and_si256(m, lane), lane);
        CYDROP_ST256_PS(nt, o + k, _mm256_and_ps(_mm256_castsi256_ps(m),
                                              _mm256_mul_ps(_mm256_loadu_ps(x + k), vs)));
    }
    if (nt)
        _mm_sfence();
    CYDROP_BITS_TAIL(x, o, bits, k, n, scale, 0.0f)
}

__attribute__((target("avx2")))
static void cydrop_bits_f64_avx2(const double *x, double *o, const uint8_t *bits, size_t n,
                                 double scale, int nt)
{
    const __m256d vs = _mm256_set1_pd(scale);
    const __m256i l0 = _mm256_setr_epi64x(1, 2, 4, 8), l1 = _mm256_setr_epi64x(16, 32, 64, 128);
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256i b = _mm256_set1_epi64x(bits[k >> 3]);
        __m256i m0 = _mm256_cmpeq_epi64(_mm256_and_si256(b, l0), l0);
        __m256i m1 = _mm256_cmpeq_epi64(_mm256_and_si256(b, l1), l1);
        CYDROP_ST256_PD(nt, o + k, _mm256_and_pd(_mm256_castsi256_pd(m0),
                                              _mm256_mul_pd(_mm256_loadu_pd(x + k), vs)));
        CYDROP_ST256_PD(nt, o + k + 4, _mm256_and_pd(_mm256_castsi256_pd(m1),
                                                  _mm256_mul_pd(_mm256_loadu_pd(x + k + 4), vs)));
    }
    if (nt)
        _mm_sfence();
    CYDROP_BITS_TAIL(x, o, bits, k, n, scale, 0.0)
}

static const cydrop_simd_table cydrop_table_avx2 = {
    cydrop_fused_f32_avx2, cydrop_fused_f64_avx2, cydrop_keep_f32_avx2, cydrop_keep_f64_avx2,
    cydrop_words_f32_avx2, cydrop_words_f64_avx2, cydrop_bits_f32_avx2, cydrop_bits_f64_avx2,
};

/* ---- AVX-512F ------------------------------------------------------------ */

__attribute__((target("avx512f")))
static void cydrop_keep_f32_avx512(const float *x, float *o, const uint8_t *keep, size_t n,
                                   float scale, int nt)
{
    const __m512 vs = _mm512_set1_ps(scale);
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(keep + k)));
        CYDROP_ST512_PS(nt, o + k, _mm512_maskz_mul_ps(_mm512_test_epi32_mask(b, b),
                                                    _mm512_loadu_ps(x + k), vs));
    }
    if (nt)
        _mm_sfence();
    CYDROP_KEEP_TAIL(x, o, keep, k, n, scale, 0.0f)
}

__attribute__((target("avx512f")))
static void cydrop_keep_f64_avx512(const double *x, double *o, const uint8_t *keep, size_t n,
                                   double scale, int nt)
{
    const __m512d vs = _mm512_set1_pd(scale);
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m512i b = _mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *)(keep + k)));
        CYDROP_ST512_PD(nt, o + k, _mm512_maskz_mul_pd(_mm512_test_epi64_mask(b, b),
                                                    _mm512_loadu_pd(x + k), vs));
    }
    if (nt)
        _mm_sfence();
    CYDROP_KEEP_TAIL(x, o, keep, k, n, scale, 0.0)
}

/* the compare's 16-bit mask is the 16 elements' packed bits, in order */
#define CYDROP_STORE_BITS16(bits, m)                    \
    if (bits) {                                         \
        uint16_t m_ = (uint16_t)(m);                    \
        memcpy((bits), &m_, 2);                         \
    }

__attribute__((target("avx512f")))
static inline void cydrop__apply16_f32(const float *x, float *o, uint8_t *bits, __m512i w,
                                       __m512i t, __m512 vs, int nt)
{
    __mmask16 m = _mm512_cmp_epu32_mask(w, t, _MM_CMPINT_NLT);
    __m512 r = _mm512_maskz_mul_ps(m, _mm512_loadu_ps(x), vs);
    CYDROP_STORE_BITS16(bits, m)
    CYDROP_ST512_PS(nt, o, r);
}

__attribute__((target("avx512f")))
static inline void cydrop__apply16_f64(const double *x, double *o, uint8_t *bits, __m512i w,
                                       __m512i t, __m512d vs, int nt)
{
    __mmask16 m = _mm512_cmp_epu32_mask(w, t, _MM_CMPINT_NLT);
    __m512d r0 = _mm512_maskz_mul_pd((__mmask8)m, _mm512_loadu_pd(x), vs);
    __m512d r1 = _mm512_maskz_mul_pd((__mmask8)(m >> 8), _mm512_loadu_pd(x + 8), vs);
    CYDROP_STORE_BITS16(bits, m)
    CYDROP_ST512_PD(nt, o, r0);
    CYDROP_ST512_PD(nt, o + 8, r1);
}

__attribute__((target("avx512f")))
static void cydrop_words_f32_avx512(const float *x, float *o, const uint32_t *w, uint32_t thr,
                                    size_t n, float scale)
{
    const __m512 vs = _mm512_set1_ps(scale);
    const __m512i t = _mm512_set1_epi32((int)thr);
    size_t k = 0;
    for (; k + 16 <= n; k += 16)
        cydrop__apply16_f32(x + k, o + k, NULL, _mm512_loadu_si512((const void *)(w + k)), t, vs,
                            0);
    CYDROP_WORDS_TAIL(x, o, w, thr, k, n, scale, 0.0f)
}

__attribute__((target("avx512f")))
static void cydrop_words_f64_avx512(const double *x, double *o, const uint32_t *w, uint32_t thr,
                                    size_t n, double scale)
{
    const __m512d vs = _mm512_set1_pd(scale);
    const __m512i t = _mm512_set1_epi32((int)thr);
    size_t k = 0;
    for (; k + 16 <= n; k += 16)
        cydrop__apply16_f64(x + k, o + k, NULL, _mm512_loadu_si512((const void *)(w + k)), t, vs,
                            0);
    CYDROP_WORDS_TAIL(x, o, w, thr, k, n, scale, 0.0)
}

/* AVX-512: four groups of 16 blocks for float32 (as in the fill), two for
 * float64, whose apply moves twice the bytes per word. */
#define CYDROP_G32 4
#define CYDROP_G64 2
#define CYDROP_FUSED16_BODY(APPLY, VS, NG)                                             \
    CYDROP_FUSED_BODY(16, cydrop_state16, __m512i, _mm512_set1_epi32, cydrop__words16, \
                      CYDROP_ROUNDS16, APPLY, VS, NG, 0)

__attribute__((target("avx512f")))
static size_t cydrop_fused_f32_avx512(const float *x, float *o, uint8_t *bits, size_t n,
                                      uint64_t b0, uint64_t seed, uint32_t thr, float scale,
                                      int nt)
{
    const __m512 vs = _mm512_set1_ps(scale);
    CYDROP_FUSED16_BODY(cydrop__apply16_f32, vs, CYDROP_G32)
}

__attribute__((target("avx512f")))
static size_t cydrop_fused_f64_avx512(const double *x, double *o, uint8_t *bits, size_t n,
                                      uint64_t b0, uint64_t seed, uint32_t thr, double scale,
                                      int nt)
{
    const __m512d vs = _mm512_set1_pd(scale);
    CYDROP_FUSED16_BODY(cydrop__apply16_f64, vs, CYDROP_G64)
}

__attribute__((target("avx512f")))
static void cydrop_bits_f32_avx512(const float *x, float *o, const uint8_t *bits, size_t n,
                                   float scale, int nt)
{
    const __m512 vs = _mm512_set1_ps(scale);
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        uint16_t m;
        memcpy(&m, bits + (k >> 3), 2);
        CYDROP_ST512_PS(nt, o + k, _mm512_maskz_mul_ps((__mmask16)m, _mm512_loadu_ps(x + k), vs));
    }
    if (nt)
        _mm_sfence();
    CYDROP_BITS_TAIL(x, o, bits, k, n, scale, 0.0f)
}

__attribute__((target("avx512f")))
static void cydrop_bits_f64_avx512(const double *x, double *o, const uint8_t *bits, size_t n,
                                   double scale, int nt)
{
    const __m512d vs = _mm512_set1_pd(scale);
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        CYDROP_ST512_PD(nt, o + k, _mm512_maskz_mul_pd((__mmask8)bits[k >> 3],
                                                    _mm512_loadu_pd(x + k), vs));
    if (nt)
        _mm_sfence();
    CYDROP_BITS_TAIL(x, o, bits, k, n, scale, 0.0)
}

static const cydrop_simd_table cydrop_table_avx512 = {
    cydrop_fused_f32_avx512, cydrop_fused_f64_avx512, cydrop_keep_f32_avx512,
    cydrop_keep_f64_avx512, cydrop_words_f32_avx512, cydrop_words_f64_avx512,
    cydrop_bits_f32_avx512, cydrop_bits_f64_avx512,
};

#endif /* CYDROP_HAVE_X86_SIMD */

/* The loops that go with Philox path `impl` (philox.h's CYDROP_IMPL_*). */
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

#endif /* CYDROP_SIMD_H */
