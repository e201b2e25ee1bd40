"""The core of a call below its argument checks: the package's internal API.

`cydrop.functional`, `cydrop.module` and `cydrop.torch` share these
functions (with the checks in `cydrop._checks`, which `cydrop.dask` uses
too); no module reaches into another's underscored names
(tests/test_internal_api.py checks that).

The way of a call (docs/design.md, "The Python layer"):

1. **The one-call rule.**  `one_call` looks at the raw arguments and, when
   every one of them is at a value the one-call entries handle
   (`ONE_CALL_RULE`), makes the whole call in one kernel entry
   (`_kernels.default_forward` / `_kernels.default_masked`), with no
   Python check at all.  The rule has two halves, both in
   ``pyx/onecall.pxi``: the predicate on the arguments (the only place that
   decides; compiled, since it runs on every call), and the entries' own
   checks on the arrays (exact ``numpy.ndarray``, native float dtype,
   aligned, writeable, no overlap), which decline -- touching nothing --
   what they cannot take.  A declined call goes on to step 2.
2. **One check per argument.**  The face (`cydrop.dropout`, a layer's
   ``forward``, ...) checks each argument once (`cydrop._checks`) and
   resolves the stream position (the default stream's, the layer's own, or
   ``seed``/``offset``) only when a mask is to be drawn.
3. **Straight down.**  `forward` / `backward` take the checked, resolved
   arguments (keywords only) to the kernels.

Also here: what the family shares with `cydrop.torch` (torch's noise-shape
rules for channel-wise and feature dropout with their errors and warnings,
alpha dropout's constants).
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Literal, Mapping, Optional, Sequence, Tuple, Union, overload

import numpy as np
import numpy.typing as npt

from . import _kernels
from ._checks import RankError, pack, packed_size, unpack
from ._typing import BoolArray, FloatArray, MaskArray

__all__ = ["Mode", "ALPHA_PRIME", "alpha_constants", "mode_scale", "feature_noise",
           "channel_noise", "ONE_CALL_RULE", "one_call", "forward", "backward", "scaled"]

#: what a forward computes: inverted or vanilla dropout, or alpha dropout
Mode = Literal["inverted", "vanilla", "alpha"]
#: a mask's form in a result (``return_mask``), or None for no mask
MaskKind = Optional[Literal["bool", "bits"]]

# ---------------------------------------------------------------------------
# Alpha dropout's constants

#: SELU's negative saturation value -scale * alpha, which alpha dropout gives
#: the dropped elements (torch's constant)
ALPHA_PRIME = -1.7580993408473766


def alpha_constants(p: float, dtype: np.dtype[Any]) -> Tuple[float, float, float]:
    """``(a, b_keep, b_drop)`` of alpha dropout as torch computes them:
    ``a = 1 / sqrt((alpha**2 p + 1)(1 - p))`` in double, then the results
    rounded as torch's float ops round them in the compute dtype (float32
    for float16): kept ``x * a + b_keep``, dropped ``b_drop = -alpha a +
    alpha a p``."""
    alpha = -ALPHA_PRIME
    a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
    t = np.float64 if dtype == np.float64 else np.float32
    b_keep = t(alpha * a * p)
    b_drop = t(-t(alpha * a)) + b_keep
    return float(t(a)), float(b_keep), float(b_drop)


def mode_scale(mode: Mode, p: float,
               dtype: np.dtype[Any]) -> Tuple[float, Optional[Tuple[float, float]]]:
    """``(scale, affine)`` a training forward of ``mode`` applies to the kept
    elements (``affine``: alpha dropout's ``(b_keep, b_drop)``, else None);
    ``scale`` is also what the backward multiplies by."""
    if mode == "inverted":
        return 1.0 / (1.0 - p), None
    if mode == "vanilla":
        return 1.0, None
    a, b_keep, b_drop = alpha_constants(p, dtype)
    return a, (b_keep, b_drop)


# ---------------------------------------------------------------------------
# torch's noise shapes for channel-wise and feature dropout

_DIMS_NOTE = {
    "dropout1d": ("1 spatial dimension", "2D or 3D"),
    "dropout2d": ("2 spatial dimensions", "3D or 4D"),
    "dropout3d": ("3 spatial dimensions", "4D or 5D"),
}


def feature_noise(shape: Sequence[int], active: bool) -> Optional[Tuple[int, ...]]:
    """torch's feature noise for an input of ``shape``: ``(N, C, 1, ...)``.
    Fewer than 2 axes is a `RankError` when a mask is actually drawn
    (``active``: training, ``0 < p < 1``, non-empty), else one flag per
    element (None)."""
    if len(shape) < 2:
        if active:
            raise RankError("Feature dropout requires at least 2 dimensions in the input")
        return None
    return tuple(shape[:2]) + (1,) * (len(shape) - 2)


def channel_noise(name: str, shape: Sequence[int], active: bool,
                  stacklevel: int = 3) -> Optional[Tuple[int, ...]]:
    """The noise shape torch's ``name`` (dropout1d/2d/3d) gives an input of
    ``shape``, with its errors and deprecation warnings (same texts);
    ``active`` as in `feature_noise`.  ``stacklevel``: the warnings'
    (3 points at the caller of the function that calls this one)."""
    nd = len(shape)
    spatial, ranks = _DIMS_NOTE[name]
    lo = int(ranks[0])
    if name == "dropout1d":
        if nd not in (2, 3):
            raise RankError(
                f"dropout1d: Expected 2D or 3D input, but received a {nd}D input. "
                "Note that dropout1d exists to provide channel-wise dropout on inputs with 1 "
                "spatial dimension, a channel dimension, and an optional batch dimension "
                "(i.e. 2D or 3D inputs).")
    elif nd not in (lo, lo + 1):
        warnings.warn(
            f"{name}: Received a {nd}-D input to {name}, which is deprecated "
            "and will result in an error in a future release. To retain the behavior "
            "and silence this warning, please use dropout instead. Note that "
            f"{name} exists to provide channel-wise dropout on inputs with {spatial}, "
            f"a channel dimension, and an optional batch dimension (i.e. {ranks} inputs).",
            stacklevel=stacklevel)
    if name == "dropout2d":
        if nd == 3:
            warnings.warn(
                "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
                "1D dropout behavior is desired - input is interpreted as shape (N, C, L), "
                "where C is the channel dim. This behavior will change in a future release "
                "to interpret the input as one without a batch dimension, i.e. shape "
                "(C, H, W). To maintain the 1D channel-wise dropout behavior, please switch "
                "to using dropout1d instead.", stacklevel=stacklevel)
        return feature_noise(shape, active)
    if nd == lo + 1:                       # batched
        return feature_noise(shape, active)
    noise = feature_noise((1,) + tuple(shape), active)   # unsqueezed, as torch
    return None if noise is None else noise[1:]


# ---------------------------------------------------------------------------
# The one-call rule: its table here, its predicate and entries in pyx/onecall.pxi

#: Every parameter of the public calls that can reach `one_call` (`dropout`,
#: `dropout_backward`, and the layers' constructors and ``forward``), and
#: what the one-call entries do with it.  "handled": the entries take any
#: value the rule lets through and compute what the general path computes;
#: "declines": the call takes the entries only at the value named.  A
#: parameter added to one of those signatures must be added here, and to
#: `one_call` (pyx/onecall.pxi) -- tests/test_one_call.py fails until it is.
ONE_CALL_RULE: Mapping[str, str] = {
    "x": "handled: the entries check the array in C and decline all but an exact "
         "numpy.ndarray of a native float16/32/64 dtype, aligned (and, written, "
         "writeable with no two elements sharing memory)",
    "grad": "handled: as x",
    "p": "handled for a float strictly between 0 and 1; declines otherwise",
    "training": "declines unless True (the identity)",
    "inplace": "handled: taken by its truth, as the general path takes it (the entries "
               "check the written array)",
    "mask": "handled: a bool array of x's shape or packed bits (the entries check it "
            "in C and decline anything else); declines with seed= given",
    "seed": "handled: None (the default stream) or an int in [0, 2**64); declines "
            "anything else, and a dropout_backward call with neither mask nor seed",
    "offset": "handled: with a seed an int in [0, 2**64); without a seed (the "
              "default stream) declines anything but the int 0; ignored with a mask "
              "(as the general path ignores it)",
    "rng": "declines unless None",
    "out": "handled: the entries check it in C (exact ndarray of x's shape and "
           "dtype, aligned, writeable, disjoint from x) and decline otherwise",
    "return_mask": "declines unless False (the entries write no mask)",
    "noise_shape": "declines unless None",
    "scaling": "handled: 'inverted' and 'vanilla'; declines anything else (a layer "
               "passes its mode: 'alpha' declines)",
    "mask_storage": "a layer's: 'recompute' is handled (the layer passes its seed "
                    "and offset); 'bits' and 'bool' decline in forward (the entries "
                    "write no mask) and are handled in backward (the stored mask)",
}


#: The predicate: `cydrop._kernels.one_call`, in ``pyx/onecall.pxi`` beside
#: the entries it calls (the C half), so the rule lives in one file.  It
#: takes `cydrop.dropout`'s parameters, in its order and with its defaults,
#: and ``backward=True`` for `cydrop.dropout_backward` (``x`` its ``grad``,
#: which needs a mask or a seed); it returns the result, or None -- nothing
#: done, nothing checked -- when the call must take the general path.  In C
#: because it runs on every call.
one_call = _kernels.one_call


# ---------------------------------------------------------------------------
# The general path: checked, resolved arguments straight to the kernels


def scaled(x: FloatArray, res: FloatArray, scale: float) -> None:
    """``res = x * scale``: masked scaling with every element kept."""
    _kernels.scale_all(x, res, scale)


def _apply_mask(x: FloatArray, res: FloatArray, mask: npt.NDArray[Any], packed: bool,
                scale: float,
                noise: Optional[Tuple[int, ...]],
                affine: Optional[Tuple[float, float]] = None) -> None:
    """``res = mask ? x * scale : 0`` from a checked mask (bool, or packed
    bits; of the noise shape ``noise`` when not None, broadcast against x)."""
    if noise is not None:
        m = unpack(mask, noise) if packed else mask
        _kernels.masked_scale(x, res, np.broadcast_to(m, x.shape), None, scale, affine)
    elif packed:
        _kernels.masked_scale(x, res, None, mask, scale, affine)
    else:
        _kernels.masked_scale(x, res, mask, None, scale, affine)


def _draw_noise_mask(noise: Tuple[int, ...], p: float, seed: int, offset: int) -> BoolArray:
    """The bool keep-mask of the noise shape (mask element j: word offset + j)."""
    m = np.empty(noise, dtype=bool)
    _kernels.draw_mask(noise, seed=seed, offset=offset, thr=_kernels.threshold(p), mask_out=m)
    return m


def _result_buffer(x: FloatArray, inplace: bool,
                   out: Optional[FloatArray]) -> Tuple[FloatArray, Optional[FloatArray]]:
    """Where the result goes, and where it must be copied afterwards (only
    when ``out`` overlaps ``x`` other than element for element).  A fresh
    one is ``np.empty_like(x)``'s, its memory recycled from a freed result
    when one of its size is kept (`cydrop._kernels.new_result_like`: every
    caller writes every element)."""
    if inplace:
        return x, None
    if out is None:
        return _kernels.new_result_like(x), None
    if out is x or _kernels.overlap(out, x) != 2:
        return out, None
    return _kernels.new_result_like(x), out


def _finish(res: FloatArray, copy_to: Optional[FloatArray]) -> FloatArray:
    if copy_to is not None:
        np.copyto(copy_to, res)
        return copy_to
    return res


def _full_mask(shape: Tuple[int, ...], kind: str, keep: bool) -> npt.NDArray[Any]:
    """All kept (``keep``) or all dropped, in the form ``kind`` names."""
    if kind == "bits":
        return pack(np.full(math.prod(shape), keep))
    return np.full(shape, keep)


def _as_kind(mask: npt.NDArray[Any], packed: bool, kind: str,
             shape: Tuple[int, ...]) -> npt.NDArray[Any]:
    """A given mask in the form ``kind`` names."""
    if kind == "bits":
        return mask if packed else pack(mask)
    return unpack(mask, shape) if packed else mask


@overload
def forward(x: FloatArray, p: float, *, training: bool, inplace: bool,
            out: Optional[FloatArray], kind: None, noise: Optional[Tuple[int, ...]],
            mode: Mode, mask: Optional[MaskArray] = ..., packed: bool = ...,
            seed: int = ..., offset: int = ...) -> FloatArray: ...
@overload
def forward(x: FloatArray, p: float, *, training: bool, inplace: bool,
            out: Optional[FloatArray], kind: Literal["bool", "bits"],
            noise: Optional[Tuple[int, ...]], mode: Mode, mask: Optional[MaskArray] = ...,
            packed: bool = ..., seed: int = ..., offset: int = ...
            ) -> Tuple[FloatArray, MaskArray]: ...
@overload
def forward(x: FloatArray, p: float, *, training: bool, inplace: bool,
            out: Optional[FloatArray], kind: MaskKind, noise: Optional[Tuple[int, ...]],
            mode: Mode, mask: Optional[MaskArray] = ..., packed: bool = ...,
            seed: int = ..., offset: int = ...
            ) -> Union[FloatArray, Tuple[FloatArray, MaskArray]]: ...
def forward(x: FloatArray, p: float, *, training: bool, inplace: bool,
            out: Optional[FloatArray], kind: MaskKind, noise: Optional[Tuple[int, ...]],
            mode: Mode, mask: Optional[MaskArray] = None, packed: bool = False,
            seed: int = 0, offset: int = 0) -> Union[FloatArray, Tuple[FloatArray, MaskArray]]:
    """A checked forward, straight to the kernels.

    Every argument is checked (`cydrop._checks`): ``x`` a native float
    array (writeable, elements apart, for ``inplace``), ``out`` None, ``x``
    or a written array of its shape and dtype, ``p`` in [0, 1], ``noise``
    the mask's shape (None: x's), ``mask`` checked against it (``packed``:
    it is bits).  ``seed``/``offset``: the stream range, resolved by the
    caller; read only when a mask is drawn (``training``, ``0 < p < 1``,
    no ``mask``).  Returns the result, and the mask in the form ``kind``
    when it is not None.
    """
    if noise == x.shape:
        noise = None
    mshape = x.shape if noise is None else noise
    res: FloatArray
    if not training or (p == 0.0 and mask is None):
        if training or mode != "vanilla" or p == 0.0:
            res = x
            if out is not None and out is not x:
                np.copyto(out, x)
                res = out
        else:   # vanilla evaluation: x * (1 - p)
            res, copy_to = _result_buffer(x, inplace, out)
            scaled(x, res, 1.0 - p)
            res = _finish(res, copy_to)
        return (res, _full_mask(mshape, kind, True)) if kind else res

    if p == 1.0:  # x is not read: zeros straight into the result
        res = x if inplace else (np.empty_like(x) if out is None else out)
        res[...] = 0
        return (res, _full_mask(mshape, kind, False)) if kind else res

    scale, affine = mode_scale(mode, p, x.dtype)
    res, copy_to = _result_buffer(x, inplace, out)
    ret_mask: Optional[npt.NDArray[Any]]
    if mask is not None:
        _apply_mask(x, res, mask, packed, scale, noise, affine)
        ret_mask = _as_kind(mask, packed, kind, mshape) if kind else None
    elif noise is not None:
        m = _draw_noise_mask(noise, p, seed, offset)
        _kernels.masked_scale(x, res, np.broadcast_to(m, x.shape), None, scale, affine)
        ret_mask = (pack(m) if kind == "bits" else m) if kind else None
    else:
        thr = _kernels.threshold(p)
        if kind is None:
            ret_mask = None
            _kernels.fused_forward(x, res, seed, offset, thr, scale, None, None, affine)
        elif kind == "bits":
            ret_mask = np.empty(packed_size(x.size), dtype=np.uint8)
            _kernels.fused_forward(x, res, seed, offset, thr, scale, None, ret_mask, affine)
        else:
            ret_mask = np.empty(x.shape, dtype=bool)
            _kernels.fused_forward(x, res, seed, offset, thr, scale, ret_mask, None, affine)
    res = _finish(res, copy_to)
    return (res, ret_mask) if ret_mask is not None else res


def backward(grad: FloatArray, p: float, *, inplace: bool, out: Optional[FloatArray],
             noise: Optional[Tuple[int, ...]], mode: Mode, mask: Optional[MaskArray] = None,
             packed: bool = False, seed: int = 0, offset: int = 0) -> FloatArray:
    """A checked backward, straight to the kernels: ``grad * keep * scale``
    (the mode's scale; alpha dropout's ``a``), ``keep`` from ``mask``
    (checked as in `forward`) or, without one, regenerated from
    ``seed``/``offset`` as the forward drew it."""
    if noise == grad.shape:
        noise = None
    res, copy_to = _result_buffer(grad, inplace, out)
    if p == 1.0:
        res[...] = 0
        return _finish(res, copy_to)
    scale = mode_scale(mode, p, grad.dtype)[0]
    if mask is not None:
        _apply_mask(grad, res, mask, packed, scale, noise)
    elif noise is not None:
        m = _draw_noise_mask(noise, p, seed, offset)
        _kernels.masked_scale(grad, res, np.broadcast_to(m, grad.shape), None, scale)
    else:
        _kernels.fused_forward(grad, res, seed, offset, _kernels.threshold(p), scale)
    return _finish(res, copy_to)
