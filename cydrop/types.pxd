# cython: language_level=3
"""Types shared by cydrop's kernels and its Cython API (one home).

``floating`` is the element type every kernel is compiled for (float32 and
float64); the status codes are what the Cython API functions return.
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t

ctypedef fused floating:
    float
    double

cdef enum:
    DROPOUT_OK = 0              # done
    DROPOUT_ERR_LENGTH = -1     # the arrays' lengths disagree; nothing written
    DROPOUT_ERR_P = -2          # p is not in [0, 1]; nothing written
