# cython: language_level=3, wraparound=False, cdivision=True
# (boundscheck and initializedcheck come from setup.py: off, on with
# CYDROP_DEBUG=1 -- they guard the memoryview paths, the Cython API; a
# directive written here would override the build switch)
"""cydrop's compiled kernels.

Every kernel is one pass over the logical (C-order) positions of an array of
any shape and strides.  The positions are cut into work items of ``CHUNK``
elements; each item

1. gets one keep flag per element into an L1-resident byte buffer, from the
   Philox stream (``SRC_STREAM``), a bool mask array (``SRC_BOOL``) or a
   packed bit mask (``SRC_BITS``);
2. writes the flags out when asked, as a bool array and/or packed bits;
3. writes ``out = keep ? x * scale : 0`` when an input is given (``out`` may
   be ``x``: in place and out of place share the loop).

Work items are independent (the stream is indexed by position, not by a
state), so any thread may run any of them (blocks of items shared with the
worker threads of ``pool.h``) and the result cannot depend on the thread
count or the chunking.  Contiguous arrays skip the items: one SIMD loop
call per block.  The Python layer (``cydrop.functional``)
checks every argument once; the kernels trust them.

This file is only the module: one unit per concern, each included below
(Cython's ``include`` inserts the text; docs/design.md, "The kernel layer",
says why one module and not several).  Shared structs, enums and C
declarations are in ``_types.pxd``.
"""
cimport cython
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memset
cimport numpy as cnp
import os

import numpy as np

from cydrop.types cimport (floating, DROPOUT_OK, DROPOUT_ERR_LENGTH, DROPOUT_ERR_P,
                           CYDROP_API_VERSION_MAJOR, CYDROP_API_VERSION_MINOR)
from _types cimport *

cnp.import_array()

# Runtime configuration: the Philox path, threads, fork state, thresholds.
# First: the other units read its globals, and it applies CYDROP_SIMD at import.
include "config.pxi"
# The plan: an ndarray call (or a 1-D pointer call) described for the walker.
include "plan.pxi"
# The walker: runs a plan across threads, spans, work items and segments.
include "walk.pxi"
# The random stream: block wrapping, Philox for Python, Stream, the default stream.
include "stream.pxi"
# Memory: overlap, self-overlap, writeability, aligned copies.
include "memory.pxi"
# Result buffers: fresh results recycled from freed ones (a NumPy memory handler).
include "results.pxi"
# The Python entries cydrop.functional calls (masked_scale, fused_forward, ...).
include "entries.pxi"
# The one-call entries of the training loop's calls (default_forward, default_masked).
include "onecall.pxi"
# The Cython API (cydrop/kernels.pxd): noexcept nogil memoryview functions.
include "capi.pxi"
