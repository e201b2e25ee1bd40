/*
 * Philox4x32-10 (Salmon, Moraes, Dror, Shaw, SC'11), the counter-based stream
 * behind every cydrop mask.  See docs/design.md "The random stream" (normative):
 *
 *   key     = (seed & 0xFFFFFFFF, seed >> 32)
 *   word j  = word (j % 4) of philox4x32_10(counter=(b & 0xFFFFFFFF, b >> 32, 0, 0), key),
 *             b = j / 4, for j in [0, 2**64): a call at offset uses word (offset + i) mod 2**64
 *
 * Three implementations of the block fill produce bit-identical words:
 *   scalar  - portable C, any CPU                      (simd/philox_scalar.h);
 *   avx2    - 8 blocks per group, compiled with target("avx2") and chosen at
 *             run time with __builtin_cpu_supports     (simd/philox_avx2.h);
 *   avx512  - 16 blocks per group, target("avx512f")   (simd/philox_avx512.h);
 * the two SIMD widths share simd/philox_width.inc.h (counters, the ten
 * rounds, the store), and simd/philox_dispatch.h picks one at run time
 * (CYDROP_IMPL_*, cydrop_impl_supported, cydrop_impl_fn, cydrop_best_impl).
 * The default build needs nothing beyond baseline x86-64 (or any other CPU:
 * the SIMD paths are compiled only for x86-64 with GCC or Clang, and not
 * with the macro CYDROP_NO_SIMD).
 *
 * This is the header the Cython side (pyx/_types.pxd) includes: what it
 * declares is defined in the files under simd/.
 */
#ifndef CYDROP_PHILOX_H
#define CYDROP_PHILOX_H

#include "simd/philox_dispatch.h"

#endif /* CYDROP_PHILOX_H */
