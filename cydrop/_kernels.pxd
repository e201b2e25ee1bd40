# cython: language_level=3
"""C-level declarations of ``cydrop._kernels`` (pyx/capi.pxi) that other
extensions may cimport.  Use them through ``cydrop/kernels.pxd``, the public
face, which documents each one; this file only declares them."""
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from cydrop.types cimport floating

cdef int apply_mask(const floating[::1] x, const uint8_t[::1] mask, double scale,
                    floating[::1] out) noexcept nogil
cdef int apply_mask_inplace(floating[::1] x, const uint8_t[::1] mask,
                            double scale) noexcept nogil
cdef int apply_bits(const floating[::1] x, const uint8_t[::1] bits, double scale,
                    floating[::1] out) noexcept nogil
cdef int apply_bits_inplace(floating[::1] x, const uint8_t[::1] bits,
                            double scale) noexcept nogil
cdef int forward(const floating[::1] x, double p, uint64_t seed, uint64_t offset,
                 floating[::1] out) noexcept nogil
cdef int forward_mask(const floating[::1] x, double p, uint64_t seed, uint64_t offset,
                      floating[::1] out, uint8_t[::1] mask_out) noexcept nogil
cdef int forward_bits(const floating[::1] x, double p, uint64_t seed, uint64_t offset,
                      floating[::1] out, uint8_t[::1] bits_out) noexcept nogil
cdef int backward_mask(const floating[::1] grad, const uint8_t[::1] mask, double p,
                       floating[::1] out) noexcept nogil
cdef int backward_bits(const floating[::1] grad, const uint8_t[::1] bits, double p,
                       floating[::1] out) noexcept nogil
cdef int backward_stream(const floating[::1] grad, double p, uint64_t seed,
                         uint64_t offset, floating[::1] out) noexcept nogil
cdef int fill_words(uint32_t[::1] words, uint64_t seed, uint64_t offset) noexcept nogil
cdef uint32_t keep_threshold(double p) noexcept nogil
cdef double keep_scale(double p) noexcept nogil
