# cython: language_level=3
"""cydrop's Cython API: dropout kernels on typed memoryviews, for extensions
that call them without going through Python (``cimport`` them, the way
``scipy.linalg.cython_blas`` is used)::

    # cython: language_level=3
    from cydrop.kernels cimport forward, backward_stream, DROPOUT_OK

    cdef float[::1] x = ..., y = ..., g = ..., dx = ...
    with nogil:
        forward(x, 0.5, seed, offset, y)            # y = dropout(x)
        backward_stream(g, 0.5, seed, offset, dx)   # the same mask, regenerated

Build: Cython finds this file through ``sys.path`` (or add
``cydrop.get_include()`` to ``include_path``); the extension imports
``cydrop._kernels`` when it is loaded, so cydrop must be installed where it
runs.  Every function here is a thin wrapper over the very loop the Python
API (``cydrop.dropout`` & co.) runs: the results are bit for bit those of the
Python functions given the same arguments, on any thread count.

Conventions
-----------
* ``floating`` is ``float`` or ``double``: one function per operation, both
  element types.  All arrays are 1-D and C-contiguous (``[::1]``): pass
  ``a.reshape(-1)`` views of contiguous arrays.
* Masks are bytes: a keep-mask is ``const uint8_t[::1]`` of ``len(x)``
  bytes, nonzero = kept (a bool array viewed with ``.view(np.uint8)``);
  packed bits are ``ceil(len(x) / 8)`` bytes, element ``i`` in bit ``i % 8``
  of byte ``i // 8`` (``np.packbits(m, bitorder="little")``).
* The stream: element ``i`` is kept iff word ``(offset + i) mod 2**64`` of
  the Philox4x32-10 stream keyed by ``seed`` is ``>= keep_threshold(p)``;
  ``p == 1`` keeps nothing, ``p == 0`` everything.  Scale ``1 / (1 - p)`` is
  computed in double and rounded once to ``floating``.
* ``out`` may be ``x`` itself (in place); any other overlap between them is
  not allowed.
* Return value: ``DROPOUT_OK`` (0); ``DROPOUT_ERR_LENGTH`` when lengths
  disagree, ``DROPOUT_ERR_P`` when ``p`` is not in [0, 1] -- then nothing is
  written.  The functions need no GIL, raise nothing, and may run inside
  ``prange`` (a nested call runs on its calling thread).
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from cydrop.types cimport floating, DROPOUT_OK, DROPOUT_ERR_LENGTH, DROPOUT_ERR_P

from cydrop._kernels cimport (
    # out = mask ? x * scale : 0, from a byte mask or packed bits; in place too
    apply_mask,
    apply_mask_inplace,
    apply_bits,
    apply_bits_inplace,
    # the fused forward: the mask drawn from (seed, offset) as it is applied;
    # optionally also written out as bytes (forward_mask) or bits (forward_bits)
    forward,
    forward_mask,
    forward_bits,
    # the backward pass: grad * mask / (1 - p) from a stored mask, or with the
    # mask regenerated from the forward's (seed, offset)
    backward_mask,
    backward_bits,
    backward_stream,
    # the stream itself: words offset .. offset + len(words) - 1
    fill_words,
    # floor(p * 2**32) for p in [0, 1) (kept iff word >= it), and 1 / (1 - p)
    keep_threshold,
    keep_scale,
)
