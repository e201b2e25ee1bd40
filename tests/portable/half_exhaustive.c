/*
 * pyx/half.h's portable conversions against F16C on every input: all 65536
 * halves to float, all 2**32 floats to half (round to nearest even, NaNs
 * quieted), the contiguous (SSE2 on x86-64) and the strided (one element at
 * a time) loops both.  Needs an x86-64 CPU with F16C; about 5 s:
 *
 *   gcc -O3 -fno-trapping-math -ffp-contract=off -Ipyx \
 *       tests/portable/half_exhaustive.c -o /tmp/half_exhaustive && /tmp/half_exhaustive
 *
 * (add -DCYDROP_NO_SIMD for the plain-C loops; F16C is then compiled out and
 * the reference is the one-element conversion, itself checked here).  Prints
 * the mismatches (the first few of them in full) and exits 1 if any.  Not a
 * test of the suite: tests/test_family.py checks every half and a dense
 * sample of floats in seconds; this is the whole input space.
 */
#include <stdio.h>
#include <stdlib.h>

#include "half.h"

enum { N = 1 << 20 };

int main(void)
{
    static uint16_t hs[65536], a[N], b[N], c[N];
    static float fa[65536], fb[65536], f[N];
    int f16c = cydrop_f16c_supported();
    long bad = 0;
    uint64_t base;
    uint32_t k;
    printf("reference: %s\n", f16c ? "F16C" : "cydrop_f2h_one/cydrop_h2f_one (no F16C)");
    for (k = 0; k < 65536; k++)
        hs[k] = (uint16_t)k;
    cydrop_h2f(f16c, (const char *)hs, 2, fa, 65536);
    cydrop_h2f(0, (const char *)hs, 2, fb, 65536);
    for (k = 0; k < 65536; k++) {
        float one = cydrop_h2f_one((uint16_t)k);
        if (memcmp(&fa[k], &fb[k], 4) || memcmp(&fa[k], &one, 4)) {
            if (bad++ < 5)
                printf("half %04x -> float differs\n", k);
        }
    }
    for (base = 0; base < ((uint64_t)1 << 32); base += N) {
        for (k = 0; k < N; k++) {
            uint32_t u = (uint32_t)(base + k);
            memcpy(&f[k], &u, 4);
        }
        cydrop_f2h(f16c, f, (char *)a, 2, N);
        cydrop_f2h(0, f, (char *)b, 2, N);          /* contiguous */
        cydrop_f2h(0, f, (char *)c, 4, N / 2);      /* strided: every other slot */
        for (k = 0; k < N; k++) {
            if (a[k] != b[k] || (k < N / 2 && c[2 * k] != a[k])) {
                if (bad++ < 5)
                    printf("float %08x -> half: reference %04x, portable %04x / %04x\n",
                           (uint32_t)(base + k), a[k], b[k], k < N / 2 ? c[2 * k] : a[k]);
            }
        }
    }
    printf("mismatches: %ld\n", bad);
    return bad != 0;
}
