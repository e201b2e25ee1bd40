/*
 * What the kernel headers ask of the compiler and the target, decided once:
 * which intrinsics this build compiles (CYDROP_HAVE_X86_SIMD: the AVX2 and
 * AVX-512 paths, target-attributed and picked at run time;
 * CYDROP_HAVE_SSE2: the baseline x86-64 loops), a forced inline for the
 * helpers that stand where macros used to, and prefetch hints.
 */
#ifndef CYDROP_SIMD_COMPILER_H
#define CYDROP_SIMD_COMPILER_H

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__)) \
    && !defined(CYDROP_NO_SIMD)
#define CYDROP_HAVE_X86_SIMD 1
#include <immintrin.h>
#else
#define CYDROP_HAVE_X86_SIMD 0
#endif

#if defined(__SSE2__) && !defined(CYDROP_NO_SIMD)
#define CYDROP_HAVE_SSE2 1
#include <emmintrin.h>
#else
#define CYDROP_HAVE_SSE2 0
#endif

/* A helper of a loop (one group's rounds, a tail, a table lookup): always
 * inlined, so that the loop compiles as one function, as it did when the
 * helpers were macros, while a debugger still steps through the helper's
 * own lines. */
#if defined(__GNUC__) || defined(__clang__)
#define CYDROP_INLINE static inline __attribute__((always_inline))
#else
#define CYDROP_INLINE static inline
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CYDROP_PREFETCH(p) __builtin_prefetch((p), 0, 2)
#define CYDROP_PREFETCH_L1(p) __builtin_prefetch((p), 0, 3)
#else
#define CYDROP_PREFETCH(p) ((void)(p))
#define CYDROP_PREFETCH_L1(p) ((void)(p))
#endif

#endif /* CYDROP_SIMD_COMPILER_H */
