"""Dropout as functions: argument checking (once, here) and dispatch to kernels.

Semantics follow ``torch.nn.functional.dropout``; the mask comes from the
counter-based Philox4x32-10 stream described in docs/design.md ("The random
stream"): element ``i`` (C-order logical position) of a call at stream
position ``offset`` is kept iff word ``offset + i`` of the stream keyed by
``seed`` is ``>= floor(p * 2**32)``.
"""
from __future__ import annotations

import operator

import numpy as np

from . import _kernels
from ._checks import (_check_float_array, _check_mask, _check_out, _check_p,
                      _check_return_mask, _check_shape, _check_u64, _short, _U64, pack,
                      packed_size, seed_from_rng, unpack)

__all__ = [
    "dropout",
    "dropout_backward",
    "keep_mask",
    "stream_words",
    "philox4x32_10",
    "manual_seed",
    "initial_seed",
]

def _apply_mask(x, res, mask, packed, scale):
    """res = mask ? x * scale : 0 from a checked mask (bool, or packed bits).
    Positional: the hot path (``masked_scale(x, out, mask, bits, scale)``)."""
    if packed:
        _kernels.masked_scale(x, res, None, mask, scale)
    else:
        _kernels.masked_scale(x, res, mask, None, scale)


def _result_buffer(x, inplace, out):
    """Where the result goes, and where it must be copied afterwards (only
    when ``out`` overlaps ``x`` other than element for element)."""
    if inplace:
        return x, None
    if out is None:
        return np.empty_like(x), None
    if out is x or _kernels.overlap(out, x) != 2:
        return out, None
    return np.empty_like(x), out


# ---------------------------------------------------------------------------
# The stream position used when no seed is given (like torch's default
# generator: seeded from the OS, advanced by every call).


def manual_seed(seed):
    """Seed the stream that ``dropout`` uses when given neither ``seed`` nor
    ``rng`` (as ``torch.manual_seed`` does for torch's default generator).

    Parameters
    ----------
    seed : int or None
        In [0, 2**64); None draws one from the operating system.  The stream
        position restarts at 0; each call without a seed then takes the next
        ``x.size`` words (rounded up to a multiple of 4).
    """
    if seed is None:
        seed = int(np.random.SeedSequence().entropy) % _U64
    _kernels.default_stream_reset(_check_u64(seed, "seed"))


def initial_seed():
    """The seed of the default stream (see `manual_seed`)."""
    return _kernels.default_stream_state()[0]


manual_seed(None)


def _resolve_stream(seed, offset, rng, n):
    if seed is not None:
        if rng is not None:
            raise ValueError("give seed= or rng=, not both")
        return _check_u64(seed, "seed"), _check_u64(offset, "offset")
    if rng is not None:
        return seed_from_rng(rng), _check_u64(offset, "offset")
    if offset:
        raise ValueError("offset= needs seed= (or rng=): the default stream "
                         "keeps its own position")
    return _kernels.default_stream_take(n)


# ---------------------------------------------------------------------------
# Public functions


def _full_mask(shape, size, kind, keep):
    """All kept (``keep``) or all dropped, in the form ``kind`` names."""
    if kind == "bits":
        return pack(np.full(size, keep))
    return np.full(shape, keep)


def _empty_mask(shape, size, kind):
    if kind == "bits":
        return np.empty(packed_size(size), dtype=np.uint8)
    return np.empty(shape, dtype=bool)


def _as_kind(mask, packed, kind, shape):
    """A given mask in the form ``return_mask`` asks for."""
    if kind == "bits":
        return mask if packed else pack(mask)
    return unpack(mask, shape) if packed else mask


def dropout(x, p=0.5, training=True, inplace=False, *, mask=None, seed=None, offset=0,
            rng=None, out=None, return_mask=False):
    """Randomly zero elements of ``x`` with probability ``p`` and scale the
    rest by ``1 / (1 - p)``, as ``torch.nn.functional.dropout``.

    Parameters
    ----------
    x : array_like of float32 or float64
        Any shape (0-d and empty too) and any strides.  With ``inplace=True``
        a writeable ``numpy.ndarray``.
    p : float
        Probability of an element to be zeroed, in [0, 1].
    training : bool
        False: ``x`` is returned as it is (the same object, no copy).
    inplace : bool
        Write the result into ``x`` and return ``x``.
    mask : ndarray of bool, optional
        A keep-mask of x's shape to apply instead of drawing one (or packed
        bits: uint8, ``ceil(x.size / 8)`` bytes, ``np.packbits(m.ravel(),
        bitorder="little")`` layout).  Applied whenever ``training`` is true,
        also for ``p == 0`` (scale 1).
    seed : int, optional
        64-bit key of the Philox stream.  Without ``seed`` and ``rng`` the
        default stream is used (see `manual_seed`), and advances.
    offset : int
        Stream position of element 0 (with ``seed`` or ``rng``).
    rng : None, int or numpy.random.Generator, optional
        Source of the seed, as the Scientific Python convention SPEC 7
        (https://scientific-python.org/specs/spec-0007/): an int is the seed itself, a Generator
        gives one draw.
    out : ndarray, optional
        Preallocated result of x's shape and dtype (it may be ``x``).
    return_mask : bool or {"bool", "bits"}
        Also return the keep-mask: True or "bool" as a bool array of x's
        shape (like ``torch.native_dropout``), "bits" packed as above.

    Returns
    -------
    out : ndarray
        The result; ``x`` itself when ``training`` is false or ``p == 0``
        (and no ``mask``), or with ``inplace=True``.
    mask : ndarray
        Only with ``return_mask``.

    Notes
    -----
    Dropped elements are exactly ``0.0``, also where ``x`` is NaN or inf
    (torch multiplies, so it returns NaN there).  The mask depends only on
    ``(seed, offset, p)`` and each element's C-order position: not on the
    memory layout, the thread count or the machine.

    Examples
    --------
    >>> import numpy as np, cydrop
    >>> y, m = cydrop.dropout(np.ones(8, np.float32), 0.5, seed=0, return_mask=True)
    >>> bool(np.all(y[m] == 2.0)) and bool(np.all(y[~m] == 0.0))
    True
    """
    p = _check_p(p)
    x = _check_float_array(x, "x", inplace)
    out = _check_out(out, x, inplace)
    kind = _check_return_mask(return_mask)
    packed = False
    if mask is not None:
        mask, packed = _check_mask(mask, x)

    if not training or (p == 0.0 and mask is None):
        res = x
        if out is not None and out is not x:
            np.copyto(out, x)
            res = out
        return (res, _full_mask(x.shape, x.size, kind, True)) if kind else res

    if p == 1.0:  # x is not read: zeros straight into the result
        res = x if inplace else (np.empty_like(x) if out is None else out)
        res[...] = 0
        return (res, _full_mask(x.shape, x.size, kind, False)) if kind else res

    scale = 1.0 / (1.0 - p)
    res, copy_to = _result_buffer(x, inplace, out)
    if mask is not None:
        _apply_mask(x, res, mask, packed, scale)
        ret_mask = _as_kind(mask, packed, kind, x.shape) if kind else None
    else:
        seed, offset = _resolve_stream(seed, offset, rng, x.size)
        ret_mask = _empty_mask(x.shape, x.size, kind) if kind else None
        if kind is None:
            _kernels.fused_forward(x, res, seed, offset, _kernels.threshold(p), scale)
        else:
            _kernels.fused_forward(x, res, seed, offset, _kernels.threshold(p), scale,
                                   ret_mask if kind == "bool" else None,
                                   ret_mask if kind == "bits" else None)
    if copy_to is not None:
        np.copyto(copy_to, res)
        res = copy_to
    return (res, ret_mask) if kind else res


def dropout_backward(grad, mask=None, p=0.5, *, seed=None, offset=0, inplace=False, out=None):
    """Gradient of `dropout`: ``grad * mask * scale`` with ``scale = 1 / (1 - p)``.

    Parameters
    ----------
    grad : array_like of float32 or float64
        Upstream gradient, of the forward input's shape.
    mask : ndarray, optional
        The forward's keep-mask: bool of grad's shape, or packed bits (uint8,
        ``np.packbits(m.ravel(), bitorder="little")`` layout).
    p : float
        The forward's drop probability.
    seed, offset : int, optional
        Instead of ``mask``: regenerate it from the stream, as the forward with
        the same ``seed``, ``offset`` and ``p`` drew it (no stored mask).
    inplace : bool
        Write into ``grad``.
    out : ndarray, optional
        Preallocated result.

    Returns
    -------
    ndarray
        Dropped positions are exactly 0.0, whatever ``grad`` holds there.

    Examples
    --------
    >>> import numpy as np, cydrop
    >>> x, g = np.ones(6), np.full(6, 3.0)
    >>> y, m = cydrop.dropout(x, 0.5, seed=2, return_mask=True)
    >>> dx = cydrop.dropout_backward(g, m, 0.5)
    >>> bool(np.array_equal(dx, 3 * y))
    True
    >>> bool(np.array_equal(dx, cydrop.dropout_backward(g, p=0.5, seed=2, offset=0)))
    True
    """
    p = _check_p(p)
    grad = _check_float_array(grad, "grad", inplace)
    out = _check_out(out, grad, inplace)
    if (mask is None) == (seed is None):
        raise ValueError("dropout_backward needs exactly one of mask= or seed=")
    packed = False
    if mask is not None:
        mask, packed = _check_mask(mask, grad)
    else:
        seed = _check_u64(seed, "seed")
        offset = _check_u64(offset, "offset")
    res, copy_to = _result_buffer(grad, inplace, out)
    if p == 1.0:
        res[...] = 0
    elif mask is not None:
        _apply_mask(grad, res, mask, packed, 1.0 / (1.0 - p))
    else:
        _kernels.fused_forward(grad, res, seed, offset, _kernels.threshold(p), 1.0 / (1.0 - p))
    if copy_to is not None:
        np.copyto(copy_to, res)
        res = copy_to
    return res


def keep_mask(shape, p, seed, offset=0, *, packed=False):
    """The keep-mask `dropout` draws for an array of ``shape`` at stream
    position ``offset`` with key ``seed`` (regenerated, nothing stored).

    Returns a bool array of ``shape``, or with ``packed=True`` the
    ``np.packbits(mask.ravel(), bitorder="little")`` bytes.

    Examples
    --------
    >>> import numpy as np, cydrop
    >>> m = cydrop.keep_mask((2, 3), 0.5, seed=7, offset=4)
    >>> _, m2 = cydrop.dropout(np.ones((2, 3)), 0.5, seed=7, offset=4, return_mask=True)
    >>> bool(np.array_equal(m, m2))
    True
    """
    p = _check_p(p)
    seed = _check_u64(seed, "seed")
    offset = _check_u64(offset, "offset")
    shape, size = _check_shape(shape)
    m = np.empty(packed_size(size), np.uint8) if packed else np.empty(shape, dtype=bool)
    if size == 0:
        return m
    if p == 0.0 or p == 1.0:
        return _full_mask(shape, size, "bits" if packed else "bool", p == 0.0)
    thr = _kernels.threshold(p)
    if packed:
        _kernels.draw_mask(shape, seed=seed, offset=offset, thr=thr, bits_out=m)
    else:
        _kernels.draw_mask(shape, seed=seed, offset=offset, thr=thr, mask_out=m)
    return m


def stream_words(seed, offset, n):
    """Words ``offset .. offset + n - 1`` of the Philox stream keyed by
    ``seed``, as a uint32 array (docs/design.md, "The random stream"); the
    stream wraps: word ``(offset + i) mod 2**64``.

    Examples
    --------
    >>> import cydrop
    >>> w = cydrop.stream_words(0, 0, 4)
    >>> [hex(v) for v in w] == [hex(v) for v in cydrop.philox4x32_10((0, 0, 0, 0), (0, 0))]
    True
    >>> bool((cydrop.stream_words(5, 2**64 - 2, 4)[2:] == cydrop.stream_words(5, 0, 2)).all())
    True
    """
    seed = _check_u64(seed, "seed")
    offset = _check_u64(offset, "offset")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n must be an integer, got {type(n).__name__}") from None
    if not 0 <= n <= np.iinfo(np.intp).max // 4:
        raise ValueError(f"n must be in [0, {np.iinfo(np.intp).max // 4}], got {_short(n)}")
    words = np.empty(n, dtype=np.uint32)
    _kernels.stream_into(words, seed, offset)
    return words


def philox4x32_10(counter, key):
    """The Philox4x32-10 block function: ``counter`` (4 uint32 words) and
    ``key`` (2 words) to 4 words, as in Random123 (``philox4x32(ctr, key)``)."""
    return _kernels.philox4x32(tuple(int(c) for c in counter), tuple(int(k) for k in key), 10)
