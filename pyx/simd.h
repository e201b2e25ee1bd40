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
 *
 * The code is under simd/ (simd/dispatch.h lists the files): one file per
 * instruction set, and the loops that are the same at every width written
 * once and included per width (docs/design.md, "Kernels").  This is the
 * header the Cython side (pyx/_types.pxd) includes.
 */
#ifndef CYDROP_SIMD_H
#define CYDROP_SIMD_H

#include "philox.h"
#include "simd/dispatch.h"

#endif /* CYDROP_SIMD_H */
