/*
 * The C layer without x86 intrinsics: a standalone check that pyx/'s headers
 * (philox.h, simd.h, half.h, bits.h, omp_compat.h) compile for any target
 * (aarch64 through a cross compiler, x86-64 with or without CYDROP_NO_SIMD)
 * and give the stream of docs/design.md "The random stream (normative)".
 *
 * stdout is a text that must be byte-identical on every target and equal to
 * what tests/portable/expected.py prints from the Python reference
 * (cydrop.stream_words, checked against tests/_reference.py):
 *
 *   kat K w0 w1 w2 w3          Random123 known answers, philox4x32 10 rounds
 *   words SEED OFFSET N        then the N stream words, 8 hex words a line
 *   apply float|double SEED B0 N THR kept=K fnv=H
 *                              o[k] = word(4*B0 + k) >= THR ? x[k] * scale : 0
 *                              (x, scale as in expected.py), FNV-1a 64 of o's
 *                              bits (little-endian)
 *   half h2f fnv=H             all 65536 halves -> float32 bits
 *   half f2h N fnv=H           N float32 bit patterns -> half bits
 *
 * The words and results printed are those of the portable paths (the scalar
 * Philox fill, the plain-C element loops, the portable half conversions);
 * every other implementation this build has and this CPU runs (fill_one,
 * SSE2 / AVX2 / AVX-512 loops and fills, F16C) is compared with them here,
 * and a difference prints a MISMATCH line (so the diff fails too) and makes
 * the exit status 1.  Which implementations ran goes to stderr.
 *
 * Build: cc -O2 -I pyx tests/portable/stream_check.c -o stream_check
 *        (optionally -DCYDROP_NO_SIMD; for aarch64: aarch64-linux-gnu-gcc
 *        -O2 -static ..., run with qemu-aarch64).
 */
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

#include "philox.h"
#include "simd.h"
#include "half.h"
#include "bits.h"
#include "omp_compat.h"

#define NBLOCKS_LOG2 62     /* the stream has 2**62 blocks of 4 words */

static int n_ok = 0, n_bad = 0;

static void check(int ok, const char *what)
{
    if (ok) {
        n_ok++;
    } else {
        n_bad++;
        printf("MISMATCH %s\n", what);
    }
}

/* ---- FNV-1a 64 over explicit little-endian bytes ----------------------- */

#define FNV_INIT 0xcbf29ce484222325ULL

static uint64_t fnv_u8(uint64_t h, uint8_t b)
{
    return (h ^ b) * 0x100000001b3ULL;
}

static uint64_t fnv_u16(uint64_t h, uint16_t v)
{
    h = fnv_u8(h, (uint8_t)v);
    return fnv_u8(h, (uint8_t)(v >> 8));
}

static uint64_t fnv_u32(uint64_t h, uint32_t v)
{
    int k;
    for (k = 0; k < 4; k++)
        h = fnv_u8(h, (uint8_t)(v >> (8 * k)));
    return h;
}

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
    int k;
    for (k = 0; k < 8; k++)
        h = fnv_u8(h, (uint8_t)(v >> (8 * k)));
    return h;
}

/* ---- the stream through a fill function ------------------------------- */

/* out[i] = word (offset + i) mod 2**64 of seed's stream, i < n, through
 * `fill` (blocks b0 .. b0 + nb - 1 with b0 + nb <= 2**62: split where the
 * stream wraps, as the kernels do). */
static void stream_via(cydrop_fill_fn fill, uint64_t seed, uint64_t offset, size_t n,
                       uint32_t *out)
{
    const uint64_t nblocks_total = (uint64_t)1 << NBLOCKS_LOG2;
    uint64_t b = offset >> 2;
    size_t phase = (size_t)(offset & 3), nb = (phase + n + 3) / 4, done = 0;
    uint32_t *w = (uint32_t *)malloc(4 * sizeof(uint32_t) * (nb + 1));
    if (!w) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    while (done < nb) {
        uint64_t room = nblocks_total - b;
        size_t m = (uint64_t)(nb - done) < room ? nb - done : (size_t)room;
        fill(w + 4 * done, b, m, seed);
        done += m;
        b = (b + m) & (nblocks_total - 1);
    }
    memcpy(out, w + phase, n * sizeof(uint32_t));
    free(w);
}

/* every Philox implementation of this build that this CPU runs */
typedef struct {
    const char *name;
    cydrop_fill_fn fn;
} fill_impl;

static int fill_impls(fill_impl *impls)
{
    int k = 0;
    impls[k].name = "fill_one";
    impls[k++].fn = cydrop_philox_fill_one;
    impls[k].name = "fill_scalar";
    impls[k++].fn = cydrop_philox_fill_scalar;
    if (cydrop_impl_supported(CYDROP_IMPL_AVX2)) {
        impls[k].name = "avx2";
        impls[k++].fn = cydrop_impl_fn(CYDROP_IMPL_AVX2);
    }
    if (cydrop_impl_supported(CYDROP_IMPL_AVX512)) {
        impls[k].name = "avx512";
        impls[k++].fn = cydrop_impl_fn(CYDROP_IMPL_AVX512);
    }
    return k;
}

static void words_case(uint64_t seed, uint64_t offset, size_t n)
{
    fill_impl impls[4];
    int ni = fill_impls(impls), k;
    uint32_t *ref = (uint32_t *)malloc(n * sizeof(uint32_t) + 4);
    uint32_t *alt = (uint32_t *)malloc(n * sizeof(uint32_t) + 4);
    size_t i;
    char what[160];
    if (!ref || !alt)
        exit(2);
    /* the portable path, as the dispatcher hands it out */
    stream_via(cydrop_impl_fn(CYDROP_IMPL_SCALAR), seed, offset, n, ref);
    printf("words %" PRIu64 " %" PRIu64 " %zu\n", seed, offset, n);
    for (i = 0; i < n; i++)
        printf("%08" PRIx32 "%s", ref[i], (i % 8 == 7 || i + 1 == n) ? "\n" : " ");
    for (k = 0; k < ni; k++) {
        stream_via(impls[k].fn, seed, offset, n, alt);
        snprintf(what, sizeof what, "words %s seed=%" PRIu64 " offset=%" PRIu64 " n=%zu",
                 impls[k].name, seed, offset, n);
        check(memcmp(ref, alt, n * sizeof(uint32_t)) == 0, what);
    }
    free(ref);
    free(alt);
}

/* ---- element loops ------------------------------------------------------ */

/* the inputs expected.py rebuilds: full mantissas in [1, 2), every third
 * element negative */
static float x32(size_t k)
{
    uint32_t u = 0x3F800000u | ((uint32_t)((uint32_t)k * 2654435761u) >> 9);
    float f;
    if (k % 3 == 0)
        u |= 0x80000000u;
    memcpy(&f, &u, 4);
    return f;
}

static double x64(size_t k)
{
    uint64_t u = 0x3FF0000000000000ULL | (((uint64_t)k * 0x9E3779B97F4A7C15ULL) >> 12);
    double d;
    if (k % 3 == 0)
        u |= 0x8000000000000000ULL;
    memcpy(&d, &u, 8);
    return d;
}

/* every element-loop table of this build that this CPU runs, the plain-C
 * one first */
typedef struct {
    const char *name;
    const cydrop_simd_table *t;
} loop_impl;

static int loop_impls(loop_impl *impls)
{
    int k = 0, impl;
    impls[k].name = "c";
    impls[k++].t = &cydrop_table_c;
    for (impl = CYDROP_IMPL_SCALAR; impl <= CYDROP_IMPL_AVX512; impl++) {
        const cydrop_simd_table *t;
        if (!cydrop_impl_supported(impl))
            continue;
        t = cydrop_simd_for(impl);
        if (t == &cydrop_table_c)
            continue;
        impls[k].name = cydrop_simd_name(impl);
        impls[k++].t = t;
    }
    return k;
}

/* One float type's case: the plain reference, then each table's fused,
 * words, keep and bits loops (fused: its whole groups, the rest through the
 * words loop, as the kernels do; with and without packed bits). */
#define APPLY_CASE(NAME, FLOAT, XGEN, FUSED, WORDS, KEEP, BITS, HASHT, UINT)            \
static void NAME(uint64_t seed, uint64_t b0, size_t n, double p)                        \
{                                                                                       \
    loop_impl impls[4];                                                                 \
    int ni = loop_impls(impls), li;                                                     \
    uint32_t thr = (uint32_t)(p * 4294967296.0);                                        \
    FLOAT scale = (FLOAT)(1.0 / (1.0 - p));                                             \
    FLOAT *x = (FLOAT *)malloc(n * sizeof(FLOAT) + 8);                                  \
    FLOAT *ref = (FLOAT *)malloc(n * sizeof(FLOAT) + 8);                                \
    FLOAT *o = (FLOAT *)malloc(n * sizeof(FLOAT) + 8);                                  \
    uint32_t *w = (uint32_t *)malloc(n * sizeof(uint32_t) + 8);                         \
    uint8_t *keep = (uint8_t *)malloc(n + 8);                                           \
    uint8_t *bits = (uint8_t *)calloc(n / 8 + 8, 1);                                    \
    uint8_t *fbits = (uint8_t *)calloc(n / 8 + 8, 1);                                   \
    size_t k, kept = 0;                                                                 \
    uint64_t h = FNV_INIT;                                                              \
    char what[200];                                                                     \
    if (!x || !ref || !o || !w || !keep || !bits || !fbits)                             \
        exit(2);                                                                        \
    stream_via(cydrop_philox_fill_scalar, seed, 4 * b0, n, w);                          \
    for (k = 0; k < n; k++) {                                                           \
        x[k] = XGEN(k);                                                                 \
        keep[k] = w[k] >= thr;                                                          \
        ref[k] = keep[k] ? x[k] * scale : (FLOAT)0;                                     \
        kept += keep[k];                                                                \
    }                                                                                   \
    for (k = 0; k + 8 <= n; k += 8) {   /* bits.h: pack, and back */                    \
        uint8_t back[8];                                                                \
        bits[k / 8] = cydrop_pack8(keep + k);                                           \
        cydrop_unpack8(bits[k / 8], back);                                              \
        snprintf(what, sizeof what, "bits.h pack8/unpack8 at %zu", k);                  \
        check(memcmp(back, keep + k, 8) == 0, what);                                    \
    }                                                                                   \
    for (; k < n; k++)                                                                  \
        bits[k / 8] |= (uint8_t)(keep[k] << (k % 8));                                   \
    for (li = 0; li < ni; li++) {                                                       \
        const cydrop_simd_table *t = impls[li].t;                                       \
        size_t done;                                                                    \
        int pass;                                                                       \
        for (pass = 0; pass < 2; pass++) {  /* without, then with packed bits */        \
            memset(o, 0xA5, n * sizeof(FLOAT));                                        \
            memset(fbits, 0, n / 8 + 8);                                                \
            done = t->FUSED(x, o, pass ? fbits : NULL, n, b0, seed, thr, scale, 0);     \
            t->WORDS(x + done, o + done, w + done, thr, n - done, scale);               \
            snprintf(what, sizeof what, #FLOAT " fused%s %s seed=%" PRIu64 " b0=%"      \
                     PRIu64 " n=%zu (%zu fused)", pass ? "+bits" : "", impls[li].name,  \
                     seed, b0, n, done);                                                \
            check(done <= n && memcmp(o, ref, n * sizeof(FLOAT)) == 0, what);           \
            if (pass && done)                                                           \
                check(done % 8 == 0 && memcmp(fbits, bits, done / 8) == 0, what);       \
        }                                                                               \
        memset(o, 0xA5, n * sizeof(FLOAT));                                             \
        t->WORDS(x, o, w, thr, n, scale);                                               \
        snprintf(what, sizeof what, #FLOAT " words %s seed=%" PRIu64 " b0=%" PRIu64     \
                 " n=%zu", impls[li].name, seed, b0, n);                                \
        check(memcmp(o, ref, n * sizeof(FLOAT)) == 0, what);                            \
        memset(o, 0xA5, n * sizeof(FLOAT));                                             \
        t->KEEP(x, o, keep, n, scale, 0);                                               \
        snprintf(what, sizeof what, #FLOAT " keep %s seed=%" PRIu64 " b0=%" PRIu64      \
                 " n=%zu", impls[li].name, seed, b0, n);                                \
        check(memcmp(o, ref, n * sizeof(FLOAT)) == 0, what);                            \
        memset(o, 0xA5, n * sizeof(FLOAT));                                             \
        t->BITS(x, o, bits, n, scale, 0);                                               \
        snprintf(what, sizeof what, #FLOAT " bits %s seed=%" PRIu64 " b0=%" PRIu64      \
                 " n=%zu", impls[li].name, seed, b0, n);                                \
        check(memcmp(o, ref, n * sizeof(FLOAT)) == 0, what);                            \
    }                                                                                   \
    /* what is printed: the plain-C fused loop's result */                              \
    memset(o, 0xA5, n * sizeof(FLOAT));                                                 \
    k = cydrop_table_c.FUSED(x, o, NULL, n, b0, seed, thr, scale, 0);                   \
    cydrop_table_c.WORDS(x + k, o + k, w + k, thr, n - k, scale);                       \
    for (k = 0; k < n; k++) {                                                           \
        UINT u;                                                                         \
        memcpy(&u, o + k, sizeof u);                                                    \
        h = HASHT(h, u);                                                                \
    }                                                                                   \
    printf("apply " #FLOAT " %" PRIu64 " %" PRIu64 " %zu %" PRIu32 " kept=%zu fnv=%016"  \
           PRIx64 "\n", seed, b0, n, thr, kept, h);                                     \
    free(x); free(ref); free(o); free(w); free(keep); free(bits); free(fbits);          \
}

APPLY_CASE(apply_f32, float, x32, fused_f32, words_f32, keep_f32, bits_f32, fnv_u32, uint32_t)
APPLY_CASE(apply_f64, double, x64, fused_f64, words_f64, keep_f64, bits_f64, fnv_u64, uint64_t)

/* ---- float16 ------------------------------------------------------------ */

static void half_h2f(int f16c)
{
    const ptrdiff_t n = 65536;
    const size_t bytes = 65536 * sizeof(float);
    uint16_t *hs = (uint16_t *)malloc(65536 * 2);
    char *strided = (char *)malloc(65536 * 6);
    float *f = (float *)malloc(bytes);
    float *g = (float *)malloc(bytes);
    ptrdiff_t k;
    uint64_t h = FNV_INIT;
    int ok_one = 1;
    if (!hs || !strided || !f || !g)
        exit(2);
    for (k = 0; k < n; k++) {
        hs[k] = (uint16_t)k;
        memcpy(strided + 6 * k, &hs[k], 2);
    }
    cydrop_h2f(0, (const char *)hs, 2, f, n);            /* portable */
    for (k = 0; k < n; k++) {
        float one = cydrop_h2f_one((uint16_t)k);
        ok_one &= memcmp(&one, f + k, 4) == 0;
    }
    check(ok_one, "half h2f: cydrop_h2f vs cydrop_h2f_one");
    cydrop_h2f(0, strided, 6, g, n);
    check(memcmp(f, g, bytes) == 0, "half h2f portable stride 6");
    if (f16c) {
        cydrop_h2f(1, (const char *)hs, 2, g, n);
        check(memcmp(f, g, bytes) == 0, "half h2f f16c");
        cydrop_h2f(1, strided, 6, g, n);
        check(memcmp(f, g, bytes) == 0, "half h2f f16c stride 6");
    }
    for (k = 0; k < n; k++) {
        uint32_t u;
        memcpy(&u, f + k, 4);
        h = fnv_u32(h, u);
    }
    printf("half h2f fnv=%016" PRIx64 "\n", h);
    free(hs); free(strided); free(f); free(g);
}

/* float32 bit patterns for f2h: every sign and exponent with mantissas
 * around the rounding points of normal and subnormal halves, then a
 * spread of 2**20 patterns (expected.py builds the same list) */
static const uint32_t f2h_mants[] = {
    0x000000u, 0x000001u, 0x000fffu, 0x001000u, 0x001001u, 0x001fffu, 0x002000u,
    0x002fffu, 0x003000u, 0x003001u, 0x003fffu, 0x7fe000u, 0x7fefffu, 0x7ff000u,
    0x7ff001u, 0x7fffffu, 0x400000u, 0x400001u, 0x3fffffu, 0x1fffffu, 0x200000u,
    0x0fffffu, 0x100000u, 0x07ffffu, 0x080000u, 0x555555u, 0x2aaaaau, 0x123456u,
};
#define F2H_SPREAD (1u << 20)

static void half_f2h(int f16c)
{
    const size_t nm = sizeof f2h_mants / sizeof f2h_mants[0];
    const size_t n = 2 * 256 * nm + F2H_SPREAD;
    uint32_t *u = (uint32_t *)malloc(n * 4);
    float *src = (float *)malloc(n * sizeof(float));
    uint16_t *hs = (uint16_t *)malloc(n * 2);
    uint16_t *hs2 = (uint16_t *)malloc(n * 2);
    char *strided = (char *)malloc(n * 6);
    size_t k = 0, s, e, m;
    uint64_t h = FNV_INIT;
    int ok_one = 1;
    if (!u || !src || !hs || !hs2 || !strided)
        exit(2);
    for (s = 0; s < 2; s++)
        for (e = 0; e < 256; e++)
            for (m = 0; m < nm; m++)
                u[k++] = ((uint32_t)s << 31) | ((uint32_t)e << 23) | f2h_mants[m];
    for (m = 0; m < F2H_SPREAD; m++)
        u[k++] = (uint32_t)m * 0x9E3779B1u + 0x7F4A7C15u;
    memcpy(src, u, n * 4);
    cydrop_f2h(0, src, (char *)hs, 2, (ptrdiff_t)n);      /* portable */
    for (k = 0; k < n; k++)
        ok_one &= cydrop_f2h_one(src[k]) == hs[k];
    check(ok_one, "half f2h: cydrop_f2h vs cydrop_f2h_one");
    cydrop_f2h(0, src, strided, 6, (ptrdiff_t)n);
    for (k = 0; k < n; k++)
        memcpy(hs2 + k, strided + 6 * k, 2);
    check(memcmp(hs, hs2, n * 2) == 0, "half f2h portable stride 6");
    if (f16c) {
        cydrop_f2h(1, src, (char *)hs2, 2, (ptrdiff_t)n);
        check(memcmp(hs, hs2, n * 2) == 0, "half f2h f16c");
        cydrop_f2h(1, src, strided, 6, (ptrdiff_t)n);
        for (k = 0; k < n; k++)
            memcpy(hs2 + k, strided + 6 * k, 2);
        check(memcmp(hs, hs2, n * 2) == 0, "half f2h f16c stride 6");
    }
    for (k = 0; k < n; k++)
        h = fnv_u16(h, hs[k]);
    printf("half f2h %zu fnv=%016" PRIx64 "\n", n, h);
    free(u); free(src); free(hs); free(hs2); free(strided);
}

/* ---- the cases (expected.py lists the same) ----------------------------- */

static const struct { uint64_t seed, offset; size_t n; } word_cases[] = {
    {0u, 0u, 4},                                       /* = the first known answer */
    {0u, 1u, 11},
    {1u, 2u, 13},
    {12345u, 3u, 1031},                                /* the lane and SIMD groups */
    {0xFFFFFFFFFFFFFFFFULL, 0xFFFFFFFFFFFFFFF9ULL, 19}, /* seed 2**64-1, wraps */
    {0xFFFFFFFFFFFFFFFEULL, 5u, 37},
    {0x8000000000000000ULL, 0xFFFFFFFFFFFFFE72ULL, 1000}, /* wraps with whole groups */
    {0xA4093822299F31D0ULL, 0x3FFFFFFC1ULL, 300},     /* block 0xFFFFFFF0: low counter word wraps */
    {0x0123456789ABCDEFULL, 0x7FFFFFFFFFFFFFFFULL, 7},
};

static const struct { uint64_t seed, b0; size_t n; double p; } apply_cases[] = {
    {42u, 0u, 1000, 0.3},
    {0xFFFFFFFFFFFFFFFFULL, 0xFFFFFFF6u, 517, 0.5},    /* low counter word wraps */
    {7u, 5u, 333, 0.9},
    {0xFFFFFFFFFFFFFFFDULL, 0x3FFFFFFFFFFFFF00ULL, 1024, 0.1}, /* the stream's last blocks */
};

int main(void)
{
    static const uint32_t kat[3][10] = {
        /* counter (4), key (2), philox4x32_10 (4): Random123's kat_vectors */
        {0, 0, 0, 0, 0, 0, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u},
        {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu,
         0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu},
        {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u,
         0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u},
    };
    fill_impl fi[4];
    loop_impl li[4];
    int nf = fill_impls(fi), nl = loop_impls(li), f16c = cydrop_f16c_supported(), k;
    size_t c;

    fprintf(stderr, "stream_check: x86 SIMD code %s, SSE2 loops %s, F16C code %s, "
            "OpenMP %s; best Philox path here: %d\n",
            CYDROP_HAVE_X86_SIMD ? "compiled" : "compiled out",
            CYDROP_HAVE_SSE2 ? "compiled" : "compiled out",
            CYDROP_HAVE_F16C_CODE ? "compiled" : "compiled out",
            CYDROP_HAVE_OPENMP ? "on" : "off", cydrop_best_impl());
    fprintf(stderr, "stream_check: Philox fills compared:");
    for (k = 0; k < nf; k++)
        fprintf(stderr, " %s", fi[k].name);
    fprintf(stderr, "; element loops compared:");
    for (k = 0; k < nl; k++)
        fprintf(stderr, " %s", li[k].name);
    fprintf(stderr, "; half: portable%s\n", f16c ? " f16c" : "");

    for (k = 0; k < 3; k++) {
        uint32_t out[4];
        cydrop_philox4x32(kat[k], kat[k] + 4, 10, out);
        printf("kat %d %08" PRIx32 " %08" PRIx32 " %08" PRIx32 " %08" PRIx32 "\n",
               k, out[0], out[1], out[2], out[3]);
        check(memcmp(out, kat[k] + 6, sizeof out) == 0, "known answer (docs/design.md)");
    }
    for (c = 0; c < sizeof word_cases / sizeof word_cases[0]; c++)
        words_case(word_cases[c].seed, word_cases[c].offset, word_cases[c].n);
    for (c = 0; c < sizeof apply_cases / sizeof apply_cases[0]; c++) {
        apply_f32(apply_cases[c].seed, apply_cases[c].b0, apply_cases[c].n, apply_cases[c].p);
        apply_f64(apply_cases[c].seed, apply_cases[c].b0, apply_cases[c].n, apply_cases[c].p);
    }
    half_h2f(f16c);
    half_f2h(f16c);

    fprintf(stderr, "stream_check: internal comparisons: %d equal, %d differ\n", n_ok, n_bad);
    return n_bad ? 1 : 0;
}
