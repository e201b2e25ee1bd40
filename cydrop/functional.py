"""Dropout as functions: argument checking (once, here) and dispatch to kernels.

Semantics follow ``torch.nn.functional.dropout``; the mask comes from the
counter-based Philox4x32-10 stream described in docs/design.md ("The random
stream"): element ``i`` (C-order logical position) of a call at stream
position ``offset`` is kept iff word ``offset + i`` of the stream keyed by
``seed`` is ``>= floor(p * 2**32)``.
"""
from __future__ import annotations

import math
import numbers
import operator
import reprlib

import numpy as np

from . import _kernels

__all__ = [
    "dropout",
    "dropout_backward",
    "keep_mask",
    "stream_words",
    "philox4x32_10",
    "manual_seed",
    "initial_seed",
]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_BOOL = np.dtype(bool)
_UINT8 = np.dtype(np.uint8)
_U64 = 1 << 64


# ---------------------------------------------------------------------------
# Argument checking


def _short(value, limit=60):
    """``repr(value)`` cut to ``limit`` characters, for error messages (a
    message must stay short whatever it was given: a list of 10**6 floats)."""
    text = reprlib.repr(value) if isinstance(value, (list, tuple, dict, set)) else repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _check_p(p):
    """Return ``p`` as a float in [0, 1] or raise torch's ValueError."""
    if type(p) is float or type(p) is int:
        if 0 <= p <= 1:
            return float(p)
    elif (isinstance(p, numbers.Real) and not isinstance(p, (bool, np.bool_))
          and 0 <= p <= 1):  # NaN fails the comparison
        return float(p)
    shown = p if type(p) in (float, int) else _short(p)
    raise ValueError(f"dropout probability has to be between 0 and 1, but got {shown}")


def _threshold(p):
    """Words ``>= floor(p * 2**32)`` are kept (exact: 2**32 is a power of 2)."""
    return int(p * 4294967296.0)


def _check_u64(value, name):
    if type(value) is int and 0 <= value < _U64:   # the common case, fast
        return value
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if not 0 <= v < _U64:
        raise ValueError(f"{name} must be in [0, 2**64), got {_short(v)}")
    return v


def _byte_order_name(dtype):
    return "big-endian" if dtype.byteorder == ">" else "little-endian"


def _has_internal_overlap(a):
    """True if two elements of ``a`` share memory (a written array must not:
    every position would read and write the same element)."""
    verdict = _kernels.self_overlap(a)
    if verdict != 2:
        return bool(verdict)
    # the fast test could not tell (interleaved strides): the byte offsets of
    # all elements, sorted, must lie at least an item apart
    offsets = np.zeros((), np.int64)
    for n, stride in zip(a.shape, a.strides):
        offsets = offsets[..., None] + np.arange(n, dtype=np.int64) * stride
    offsets = np.sort(offsets, axis=None)
    return bool(np.any(np.diff(offsets) < a.itemsize))


def _check_written(a, name):
    """An array the result is written into: writeable, no element sharing
    memory with another (as torch refuses: "more than one element of the
    written-to tensor refers to a single memory location")."""
    if not a.flags.writeable:
        raise ValueError(f"{name} is read-only" if name == "out" else
                         f"inplace=True needs a writeable array, but {name} is read-only")
    if not (a.flags.c_contiguous or a.flags.f_contiguous) and _has_internal_overlap(a):
        raise ValueError(f"{name} has elements that share memory (e.g. a zero stride): "
                         f"more than one element would be written to one location")


def _check_float_array(x, name, inplace):
    """Return ``x`` as a float32/float64 ndarray in native byte order; for
    ``inplace`` it must already be a writeable one, elements not overlapping."""
    if inplace:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"inplace=True needs a numpy.ndarray for {name}, "
                            f"got {type(x).__name__}")
    elif not isinstance(x, np.ndarray):
        x = np.asarray(x)
    dt = x.dtype
    if dt not in _FLOATS:
        if dt.kind == "f" and dt.itemsize in (4, 8) and not dt.isnative:
            if inplace:
                raise TypeError(f"inplace=True needs native byte order, but {name} has dtype "
                                f"{dt} ({_byte_order_name(dt)}); convert it with "
                                f"{name}.astype({dt.newbyteorder('=').name})")
            return x.astype(dt.newbyteorder("="))     # the result in native order
        raise TypeError(f"cydrop supports float32 and float64 arrays, but {name} has "
                        f"dtype {dt}")
    if inplace:
        _check_written(x, name)
    return x


def _check_out(out, x, inplace):
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if inplace and out is not x:
        raise ValueError("out= and inplace=True disagree: with inplace=True the result "
                         "goes into the input")
    if out.shape != x.shape:
        raise ValueError(f"out has shape {out.shape}, expected {x.shape}")
    if out.dtype != x.dtype:
        note = (f" (byte order: out is {_byte_order_name(out.dtype)}, the result native)"
                if out.dtype.newbyteorder("=") == x.dtype else "")
        raise ValueError(f"out has dtype {out.dtype}, expected {x.dtype}{note}")
    if out is not x:
        _check_written(out, "out")
    return out


def _check_shape(shape):
    """``shape`` as a tuple of ints, its element count representable."""
    if isinstance(shape, (numbers.Integral, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"shape must be an int or a sequence of ints, got {_short(shape)}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"shape must not have negative dimensions, got {_short(shape)}")
    size = math.prod(shape)
    if size > np.iinfo(np.intp).max:
        raise ValueError(f"shape {_short(shape)} has {size} elements, more than an array "
                         f"can hold (at most {np.iinfo(np.intp).max})")
    return shape, size


def _check_mask(mask, x):
    """Return ``(mask, packed)``: a bool array of x's shape, or packed bits
    (uint8, ``ceil(x.size / 8)`` bytes, ``np.packbits(m.ravel(), bitorder="little")``)."""
    if not isinstance(mask, np.ndarray):
        mask = np.asarray(mask)
    if mask.dtype == _BOOL:
        if mask.shape != x.shape:
            raise ValueError(f"mask has shape {mask.shape}, expected {x.shape}")
        return mask, False
    if mask.dtype == _UINT8:
        nbytes = (x.size + 7) // 8
        if mask.ndim != 1 or mask.shape[0] != nbytes:
            raise ValueError(
                f"a uint8 mask is read as packed bits: it must be 1-D with "
                f"ceil({x.size} / 8) = {nbytes} bytes, got shape {mask.shape} "
                f"(pass a bool array for an unpacked mask)")
        return np.ascontiguousarray(mask), True
    raise ValueError(f"mask must be a bool array of shape {x.shape} or packed bits "
                     f"(uint8), got dtype {mask.dtype}")


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


def seed_from_rng(rng):
    """A 64-bit Philox seed from ``rng``: None (fresh entropy), an int (used as
    the seed itself) or a ``numpy.random.Generator`` (one draw)."""
    if rng is None:
        return int(np.random.SeedSequence().entropy) % _U64
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, _U64, dtype=np.uint64))
    if isinstance(rng, (numbers.Integral, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        return _check_u64(rng, "rng")
    raise TypeError(f"rng must be None, an int or a numpy.random.Generator, "
                    f"got {type(rng).__name__}")


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


def _ones_mask(shape, size, kind):
    if kind == "bits":
        return np.packbits(np.ones(size, dtype=bool), bitorder="little")
    return np.ones(shape, dtype=bool)


def _empty_mask(shape, size, kind):
    if kind == "bits":
        return np.empty((size + 7) // 8, dtype=np.uint8)
    return np.empty(shape, dtype=bool)


def _as_kind(mask, packed, kind, shape, size):
    """A given mask in the form ``return_mask`` asks for."""
    if kind == "bits":
        return mask if packed else np.packbits(mask.ravel(), bitorder="little")
    if packed:
        return np.unpackbits(mask, count=size, bitorder="little").view(bool).reshape(shape)
    return mask


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
        Source of the seed (SPEC 7): an int is the seed itself, a Generator
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
    if return_mask is False:
        kind = None
    elif return_mask is True or return_mask == "bool":
        kind = "bool"
    elif return_mask == "bits":
        kind = "bits"
    else:
        raise ValueError(f"return_mask must be False, True, 'bool' or 'bits', "
                         f"got {_short(return_mask)}")
    packed = False
    if mask is not None:
        mask, packed = _check_mask(mask, x)

    if not training or (p == 0.0 and mask is None):
        res = x
        if out is not None and out is not x:
            np.copyto(out, x)
            res = out
        return (res, _ones_mask(x.shape, x.size, kind)) if kind else res

    if p == 1.0:  # x is not read: zeros straight into the result
        res = x if inplace else (np.empty_like(x) if out is None else out)
        res[...] = 0
        if kind:
            return res, np.zeros(x.shape, bool) if kind == "bool" else np.zeros((x.size + 7) // 8, np.uint8)
        return res

    scale = 1.0 / (1.0 - p)
    res, copy_to = _result_buffer(x, inplace, out)
    if mask is not None:
        _kernels.run(x, x, res, None if packed else mask, mask if packed else None,
                     _kernels.SOURCE_BITS if packed else _kernels.SOURCE_BOOL, False, False,
                     0, 0, 0, scale)
        ret_mask = _as_kind(mask, packed, kind, x.shape, x.size) if kind else None
    else:
        seed, offset = _resolve_stream(seed, offset, rng, x.size)
        ret_mask = _empty_mask(x.shape, x.size, kind) if kind else None
        _kernels.run(x, x, res, ret_mask if kind == "bool" else None,
                     ret_mask if kind == "bits" else None, _kernels.SOURCE_STREAM,
                     kind == "bool", kind == "bits", seed, offset, _threshold(p), scale)
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
        _kernels.run(grad, grad, res, None if packed else mask, mask if packed else None,
                     _kernels.SOURCE_BITS if packed else _kernels.SOURCE_BOOL, False, False,
                     0, 0, 0, 1.0 / (1.0 - p))
    else:
        _kernels.run(grad, grad, res, None, None, _kernels.SOURCE_STREAM, False, False,
                     seed, offset, _threshold(p), 1.0 / (1.0 - p))
    if copy_to is not None:
        np.copyto(copy_to, res)
        res = copy_to
    return res


def keep_mask(shape, p, seed, offset=0, *, packed=False):
    """The keep-mask `dropout` draws for an array of ``shape`` at stream
    position ``offset`` with key ``seed`` (regenerated, nothing stored).

    Returns a bool array of ``shape``, or with ``packed=True`` the
    ``np.packbits(mask.ravel(), bitorder="little")`` bytes.
    """
    p = _check_p(p)
    seed = _check_u64(seed, "seed")
    offset = _check_u64(offset, "offset")
    shape, size = _check_shape(shape)
    m = np.empty((size + 7) // 8, np.uint8) if packed else np.empty(shape, dtype=bool)
    if size == 0:
        return m
    if p == 0.0 or p == 1.0:
        if packed:
            return np.packbits(np.full(size, p == 0.0), bitorder="little")
        m[...] = p == 0.0
        return m
    if packed:
        # the kernel takes the logical shape from a zero-stride stand-in
        ref = np.lib.stride_tricks.as_strided(np.empty(1, bool), shape=shape,
                                              strides=(0,) * len(shape))
        _kernels.run(ref, None, None, None, m, _kernels.SOURCE_STREAM, False, True,
                     seed, offset, _threshold(p), 1.0)
    else:
        _kernels.run(m, None, None, m, None, _kernels.SOURCE_STREAM, True, False,
                     seed, offset, _threshold(p), 1.0)
    return m


def stream_words(seed, offset, n):
    """Words ``offset .. offset + n - 1`` of the Philox stream keyed by
    ``seed``, as a uint32 array (docs/design.md, "The random stream"); the
    stream wraps: word ``(offset + i) mod 2**64``."""
    seed = _check_u64(seed, "seed")
    offset = _check_u64(offset, "offset")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n must be an integer, got {type(n).__name__}") from None
    if not 0 <= n <= np.iinfo(np.intp).max // 4:
        raise ValueError(f"n must be in [0, {np.iinfo(np.intp).max // 4}], got {_short(n)}")
    lead = offset & 3
    nblocks = (lead + n + 3) // 4
    words = np.empty(4 * nblocks, dtype=np.uint32)
    _kernels.fill_blocks(words, offset >> 2, seed)
    return words[lead:lead + n]


def philox4x32_10(counter, key):
    """The Philox4x32-10 block function: ``counter`` (4 uint32 words) and
    ``key`` (2 words) to 4 words, as in Random123 (``philox4x32(ctr, key)``)."""
    return _kernels.philox4x32(tuple(int(c) for c in counter), tuple(int(k) for k in key), 10)
