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
  ``prange`` (a nested call runs on its calling thread) or from several
  threads at once (one call at a time gets the kernels' worker threads,
  the others run on their calling thread).

Version and stability
---------------------
``CYDROP_API_VERSION_MAJOR`` / ``CYDROP_API_VERSION_MINOR`` (C macros and
Cython constants; ``CYDROP_API_VERSION`` is ``MAJOR << 8 | MINOR``) are the
version of this API that an extension was compiled against;
``cydrop._kernels.CYTHON_API_VERSION`` is the ``(MAJOR, MINOR)`` the installed
cydrop was built with.  An extension can refuse to build against another
major version::

    cdef extern from *:
        '''
        #if CYDROP_API_VERSION_MAJOR != 1
        #error "built for cydrop's Cython API 1.x"
        #endif
        '''

The policy:

* **Never changes** (not even in a major version): the random stream (the
  Philox4x32-10 words, the keep rule ``word >= floor(p * 2**32)``, the
  indexing ``(offset + i) mod 2**64``, the packed-bit layout), so a mask
  drawn today is drawn the same by every later cydrop; and the meaning of the
  status codes ``DROPOUT_OK = 0``, ``DROPOUT_ERR_LENGTH = -1``,
  ``DROPOUT_ERR_P = -2`` (new codes may be added, with new values).
* **A minor release** (1.0 -> 1.1) may add functions and status codes, and
  make a function accept more than before; every declaration here keeps its
  signature, semantics and results, so an extension built against 1.x works
  with any 1.y, y >= x (rebuilding is needed only to use what 1.y added).
* **A major release** (1.x -> 2.0) may change or remove declarations; it is
  announced in the release notes, and the version macros let an extension
  fail at build time instead of at run time.
* Everything not declared in this file (``cydrop/_kernels.pxd`` names that
  this file does not re-export, the walker, the plan) is internal and may
  change in any release.
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from cydrop.types cimport (floating, DROPOUT_OK, DROPOUT_ERR_LENGTH, DROPOUT_ERR_P,
                           CYDROP_API_VERSION_MAJOR, CYDROP_API_VERSION_MINOR,
                           CYDROP_API_VERSION)

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
