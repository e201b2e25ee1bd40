# cython: language_level=3
"""Types shared by cydrop's kernels and its Cython API (one home).

``floating`` is the element type every kernel is compiled for (float32 and
float64); the status codes are what the Cython API functions return; the
API version is that of ``cydrop/kernels.pxd`` (its policy is written there).
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t

ctypedef fused floating:
    float
    double

cdef enum:
    DROPOUT_OK = 0              # done
    DROPOUT_ERR_LENGTH = -1     # the arrays' lengths disagree; nothing written
    DROPOUT_ERR_P = -2          # p is not in [0, 1]; nothing written

# The Cython API's version, as C macros (so that a downstream extension can
# test it with #if at compile time) and as Cython constants.  The cydrop it
# runs against reports the version it was built with:
# cydrop._kernels.CYTHON_API_VERSION == (MAJOR, MINOR).
cdef extern from *:
    """
    #define CYDROP_API_VERSION_MAJOR 1
    #define CYDROP_API_VERSION_MINOR 0
    #define CYDROP_API_VERSION ((CYDROP_API_VERSION_MAJOR << 8) | CYDROP_API_VERSION_MINOR)
    """
    enum:
        CYDROP_API_VERSION_MAJOR
        CYDROP_API_VERSION_MINOR
        CYDROP_API_VERSION
