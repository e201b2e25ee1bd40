/*
 * Which Philox fill runs: the paths this build has and this CPU runs, the
 * best of them, and the fill of each (CYDROP_IMPL_*, also the index of the
 * element loops' table in dispatch.h).
 */
#ifndef CYDROP_PHILOX_DISPATCH_H
#define CYDROP_PHILOX_DISPATCH_H

#include "philox_scalar.h"
#include "philox_avx2.h"
#include "philox_avx512.h"

#define CYDROP_IMPL_SCALAR 0
#define CYDROP_IMPL_AVX2 1
#define CYDROP_IMPL_AVX512 2

typedef void (*cydrop_fill_fn)(uint32_t *, uint64_t, size_t, uint64_t);

/* 1 if implementation `impl` can run on this CPU. */
static int cydrop_impl_supported(int impl)
{
    if (impl == CYDROP_IMPL_SCALAR)
        return 1;
#if CYDROP_HAVE_X86_SIMD
    __builtin_cpu_init();
    if (impl == CYDROP_IMPL_AVX2)
        return __builtin_cpu_supports("avx2") ? 1 : 0;
    if (impl == CYDROP_IMPL_AVX512)
        return __builtin_cpu_supports("avx512f") ? 1 : 0;
#endif
    return 0;
}

static cydrop_fill_fn cydrop_impl_fn(int impl)
{
#if CYDROP_HAVE_X86_SIMD
    if (impl == CYDROP_IMPL_AVX512)
        return cydrop_philox_fill_avx512;
    if (impl == CYDROP_IMPL_AVX2)
        return cydrop_philox_fill_avx2;
#endif
    (void)impl;
    return cydrop_philox_fill_scalar;
}

/* The best implementation this CPU runs. */
static int cydrop_best_impl(void)
{
    if (cydrop_impl_supported(CYDROP_IMPL_AVX512))
        return CYDROP_IMPL_AVX512;
    if (cydrop_impl_supported(CYDROP_IMPL_AVX2))
        return CYDROP_IMPL_AVX2;
    return CYDROP_IMPL_SCALAR;
}

#endif /* CYDROP_PHILOX_DISPATCH_H */
