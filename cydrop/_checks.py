"""Argument checking, in one place: `cydrop.functional`, `cydrop.module`,
`cydrop.torch` and `cydrop.dask` all check through these helpers (the
kernels trust what they are given), and the packed-mask layout rules live
here too.

Part of the package's internal API (docs/design.md, "The Python layer"):
the names without a leading underscore are what the other modules may
import; the underscored ones are this module's own."""
from __future__ import annotations

import math
import numbers
import operator
import reprlib
from typing import Any, Literal, Optional, Sequence, Tuple, Union, cast

import numpy as np
import numpy.typing as npt

from . import _kernels

#: the dtypes the kernels compute in (native byte order)
FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_BOOL = np.dtype(bool)
_UINT8 = np.dtype(np.uint8)
#: 2**64: seeds and stream positions are in [0, U64)
U64 = 1 << 64


def short(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages (a
    message must stay short whatever it was given: a list of 10**6 floats)."""
    text = reprlib.repr(value) if isinstance(value, (list, tuple, dict, set)) else repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_p(p: Any) -> float:
    """Return ``p`` as a float in [0, 1] or raise torch's ValueError."""
    if type(p) is float or type(p) is int:
        if 0 <= p <= 1:
            return float(p)
    elif (isinstance(p, numbers.Real) and not isinstance(p, (bool, np.bool_))
          and 0 <= p <= 1):  # type: ignore[operator]  # NaN fails it (typeshed: no int <= Real)
        return float(p)
    shown = p if type(p) in (float, int) else short(p)
    raise ValueError(f"dropout probability has to be between 0 and 1, but got {shown}")


def check_training(training: object) -> bool:
    """``training`` as a bool: a bool or numpy.bool_, anything else a
    TypeError (as torch: the string ``"no"`` would otherwise count as true)."""
    if training is True or training is False:
        return training
    if isinstance(training, np.bool_):
        return bool(training)
    raise TypeError(f"training must be a bool, got {type(training).__name__}")


def check_u64(value: Any, name: str) -> int:
    """``value`` as an int in [0, 2**64) (a seed, an offset): TypeError for a
    non-integer (bools included), ValueError out of range, naming ``name``."""
    if type(value) is int and 0 <= value < U64:   # the common case, fast
        return value
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if not 0 <= v < U64:
        raise ValueError(f"{name} must be in [0, 2**64), got {short(v)}")
    return v


def check_return_mask(return_mask: object) -> Optional[Literal["bool", "bits"]]:
    """``return_mask`` as None (no mask), "bool" or "bits"."""
    if return_mask is False:
        return None
    if return_mask is True or return_mask == "bool":
        return "bool"
    if return_mask == "bits":
        return "bits"
    raise ValueError(f"return_mask must be False, True, 'bool' or 'bits', "
                     f"got {short(return_mask)}")


def _byte_order_name(dtype: np.dtype[Any]) -> str:
    return "big-endian" if dtype.byteorder == ">" else "little-endian"


def _shares_memory_exactly(a: npt.NDArray[Any]) -> bool:
    """The exact test, for layouts the fast one cannot decide (interleaved
    strides): the byte offsets of all elements, sorted, must lie at least an
    item apart."""
    offsets = np.zeros((), np.int64)
    for n, stride in zip(a.shape, a.strides):
        offsets = offsets[..., None] + np.arange(n, dtype=np.int64) * stride
    offsets = np.sort(offsets, axis=None)
    return bool(np.any(np.diff(offsets) < a.itemsize))


def check_written(a: npt.NDArray[Any], name: str) -> None:
    """An array the result is written into: writeable, no element sharing
    memory with another (as torch refuses: "more than one element of the
    written-to tensor refers to a single memory location")."""
    state = _kernels.written_state(a)
    if state == 0 or (state == 3 and not _shares_memory_exactly(a)):
        return
    if state == 1:
        raise ValueError(f"{name} is read-only" if name == "out" else
                         f"inplace=True needs a writeable array, but {name} is read-only")
    raise ValueError(f"{name} has elements that share memory (e.g. a zero stride): "
                     f"more than one element would be written to one location")


def check_float_array(x: object, name: str, inplace: bool) -> npt.NDArray[np.floating[Any]]:
    """Return ``x`` as a float16/32/64 ndarray in native byte order; for
    ``inplace`` it must already be a writeable one, elements not overlapping."""
    if inplace:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"inplace=True needs a numpy.ndarray for {name}, "
                            f"got {type(x).__name__}")
    elif not isinstance(x, np.ndarray):
        x = np.asarray(x)
    dt = x.dtype
    if dt not in FLOAT_DTYPES:
        if dt.kind == "f" and dt.itemsize in (2, 4, 8) and not dt.isnative:
            if inplace:
                raise TypeError(f"inplace=True needs native byte order, but {name} has dtype "
                                f"{dt} ({_byte_order_name(dt)}); convert it with "
                                f"{name}.astype({dt.newbyteorder('=').name})")
            return x.astype(dt.newbyteorder("="))     # the result in native order
        raise TypeError(f"cydrop supports float16, float32 and float64 arrays, but {name} has "
                        f"dtype {dt}")
    if inplace:
        check_written(x, name)
    return x


def check_out(out: object, x: npt.NDArray[Any],
              inplace: bool) -> Optional[npt.NDArray[np.floating[Any]]]:
    """``out`` (or None): an ndarray of x's shape and dtype, written (see
    `check_written`) unless it is ``x`` itself; with ``inplace`` only ``x``."""
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
        check_written(out, "out")
    return out


def check_shape(shape: Any) -> Tuple[Tuple[int, ...], int]:
    """``shape`` as a tuple of ints, its element count representable."""
    if isinstance(shape, (numbers.Integral, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"shape must be an int or a sequence of ints, got {short(shape)}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"shape must not have negative dimensions, got {short(shape)}")
    size = math.prod(shape)
    if size > np.iinfo(np.intp).max:
        raise ValueError(f"shape {short(shape)} has {size} elements, more than an array "
                         f"can hold (at most {np.iinfo(np.intp).max})")
    return shape, size


class RankError(ValueError, RuntimeError):
    """A wrong number of dimensions for a channel-wise function: a
    ``ValueError`` as numpy raises for shapes, and a ``RuntimeError`` as
    torch raises there (its texts are reproduced)."""


def check_scaling(scaling: object) -> Literal["inverted", "vanilla"]:
    """``scaling`` as "inverted" or "vanilla"; anything else a ValueError."""
    if scaling == "inverted":
        return "inverted"
    if scaling == "vanilla":
        return "vanilla"
    raise ValueError(f"scaling must be 'inverted' or 'vanilla', got {short(scaling)}")


def check_noise_shape(noise_shape: Any,
                       shape: Sequence[Any]) -> Optional[Tuple[int, ...]]:
    """The mask's shape for ``noise_shape`` (Keras's rule: one entry per axis
    of x, each 1, None or x's size; None takes x's size), as a tuple; None
    when it is x's own shape (one word per element, the plain path)."""
    if noise_shape is None:
        return None
    if isinstance(noise_shape, (str, bytes)) or not hasattr(noise_shape, "__len__"):
        raise TypeError(f"noise_shape must be a sequence of ints or None, got "
                        f"{short(noise_shape)}")
    ns = tuple(noise_shape)
    if len(ns) != len(shape):
        raise ValueError(f"noise_shape {short(ns)} must have one entry per axis of x, "
                         f"whose shape is {shape}")
    res: list[int] = []
    for n, s in zip(ns, shape):
        if n is None:
            res.append(s)
            continue
        if isinstance(n, (bool, np.bool_)):
            raise TypeError(f"noise_shape entries must be ints or None, got {short(ns)}")
        try:
            n = operator.index(n)
        except TypeError:
            raise TypeError(f"noise_shape entries must be ints or None, got "
                            f"{short(ns)}") from None
        if n != 1 and n != s:
            raise ValueError(f"noise_shape {short(ns)} does not broadcast against x's shape "
                             f"{shape}: each entry must be 1, None or x's size")
        res.append(n)
    noise = tuple(res)
    return None if noise == tuple(shape) else noise


def check_mask(mask: Any, x: npt.NDArray[Any], noise: Optional[Tuple[int, ...]] = None
                ) -> Tuple[Union[npt.NDArray[np.bool_], npt.NDArray[np.uint8]], bool]:
    """Return ``(mask, packed)``: a bool array of the mask's shape (x's, or the
    noise shape ``noise`` when not None), or packed bits (uint8,
    ``ceil(size / 8)`` bytes for the mask's element count,
    ``np.packbits(m.ravel(), bitorder="little")``)."""
    if not isinstance(mask, np.ndarray):
        mask = np.asarray(mask)
    if mask.dtype == _BOOL:
        if noise is not None:
            if mask.shape != noise:
                raise ValueError(f"mask has shape {mask.shape}, expected the noise shape "
                                 f"{noise}")
        elif mask.shape != x.shape:
            raise ValueError(f"mask has shape {mask.shape}, expected {x.shape} (a mask "
                             f"that broadcasts needs noise_shape=)")
        return mask, False
    if mask.dtype == _UINT8:
        size = x.size if noise is None else math.prod(noise)
        nbytes = packed_size(size)
        if mask.ndim != 1 or mask.shape[0] != nbytes:
            raise ValueError(
                f"a uint8 mask is read as packed bits: it must be 1-D with "
                f"ceil({size} / 8) = {nbytes} bytes, got shape {mask.shape} "
                f"(pass a bool array for an unpacked mask)")
        return np.ascontiguousarray(mask), True
    raise ValueError(f"mask must be a bool array of shape {x.shape} or packed bits "
                     f"(uint8), got dtype {mask.dtype}")


def seed_from_rng(rng: object) -> int:
    """A 64-bit Philox seed from ``rng``: None (fresh entropy), an int (used as
    the seed itself) or a ``numpy.random.Generator`` (one draw)."""
    if rng is None:
        return int(cast(int, np.random.SeedSequence().entropy)) % U64
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, U64, dtype=np.uint64))
    if isinstance(rng, (numbers.Integral, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        return check_u64(rng, "rng")
    raise TypeError(f"rng must be None, an int or a numpy.random.Generator, "
                    f"got {type(rng).__name__}")


# ---------------------------------------------------------------------------
# Packed masks: element i is bit i % 8 of byte i // 8
# (``np.packbits(m.ravel(), bitorder="little")``)


def packed_size(n: int) -> int:
    """Bytes of a packed mask of ``n`` elements."""
    return (n + 7) // 8


def unpack(bits: npt.NDArray[np.uint8], shape: Tuple[int, ...]) -> npt.NDArray[np.bool_]:
    """A packed mask back to a bool array of ``shape``."""
    return (np.unpackbits(bits, count=math.prod(shape), bitorder="little")
            .view(bool).reshape(shape))


def pack(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """A bool mask of any shape to packed bits."""
    return np.packbits(mask.ravel(), bitorder="little")
