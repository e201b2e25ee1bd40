"""Dropout as functions: the one-call rule, argument checking (once, here),
then straight down to the kernels (`cydrop._core`; docs/design.md, "The
Python layer").

The one-call rule has two halves, both in ``pyx/onecall.pxi``.  The first
is one predicate on the arguments, `cydrop._core.one_call` (its table:
``_core.ONE_CALL_RULE``): `dropout` and `dropout_backward` ask it first,
and it alone decides whether a call may skip the checks here for one kernel
entry (``_kernels.default_forward`` / ``default_masked``).  The second is
the entries' own checks on the arrays (exact ``numpy.ndarray``, native
float dtype, alignment, writeability, overlap), which decline -- touching
nothing -- what they cannot take: the call then goes through the checks
below, which convert or raise.  A new parameter goes into the rule's table
and `one_call` too (tests/test_one_call.py fails until it does).

Semantics follow ``torch.nn.functional.dropout``; the mask comes from the
counter-based Philox4x32-10 stream described in docs/design.md ("The random
stream"): element ``i`` (C-order logical position) of a call at stream
position ``offset`` is kept iff word ``offset + i`` of the stream keyed by
``seed`` is ``>= floor(p * 2**32)``.
"""
from __future__ import annotations

import math
import operator

from typing import (Any, Iterable, Literal, Protocol, SupportsIndex, SupportsInt, cast,
                    overload)

import numpy as np
import numpy.typing as npt

from . import _core, _kernels, _processes
from ._core import one_call
from ._checks import (U64, check_float_array, check_mask, check_noise_shape, check_out,
                      check_p, check_return_mask, check_scaling, check_shape, check_training,
                      check_u64, pack, packed_size, seed_from_rng, short)
from ._typing import (BitsArray, BoolArray, FloatArray, MaskArray, NoiseShape, ReturnMask,
                      RNGLike, Scaling, ShapeLike, Training)

__all__ = [
    "dropout",
    "dropout_backward",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "alpha_dropout",
    "alpha_dropout_backward",
    "feature_alpha_dropout",
    "keep_mask",
    "stream_words",
    "philox4x32_10",
    "manual_seed",
    "initial_seed",
]

# alpha dropout's constant and rounding (tests and users read them here)
ALPHA_PRIME = _core.ALPHA_PRIME
_alpha_constants = _core.alpha_constants


# ---------------------------------------------------------------------------
# The stream position used when no seed is given (like torch's default
# generator: seeded from the OS, advanced by every call).


def manual_seed(seed: SupportsIndex | None) -> None:
    """Seed the stream that ``dropout`` uses when given neither ``seed`` nor
    ``rng`` (as ``torch.manual_seed`` does for torch's default generator).

    Parameters
    ----------
    seed : int or None
        In [0, 2**64); None draws one from the operating system.  The stream
        position restarts at 0; each call without a seed then takes the next
        ``x.size`` words (rounded up to a multiple of 4).

    Notes
    -----
    A child forked from this process (``os.fork``, ``multiprocessing`` or
    ``ProcessPoolExecutor`` with the fork start method) re-keys its default
    stream, at position 0, with a key derived from this one and the child's
    index among this process's forks: workers never repeat the parent's
    or each other's masks, and after ``manual_seed(s)`` the children get the
    same keys on every run.  A spawned process keys it from the operating
    system at import: call ``manual_seed`` in the worker (an initializer)
    for reproducible workers.
    """
    if seed is None:
        seed = int(cast(int, np.random.SeedSequence().entropy)) % U64
    _kernels.default_stream_reset(check_u64(seed, "seed"))


def initial_seed() -> int:
    """The seed of the default stream (see `manual_seed`)."""
    return _kernels.default_stream_state()[0]


manual_seed(None)


@_processes.at_fork_child
def _fork_default_stream(index: int) -> None:
    """A forked child's default stream: its own key, derived from the
    parent's and the child's index, at position 0 (so forked workers never
    draw the parent's or each other's masks, and a parent seeded with
    `manual_seed` gives its children the same keys on every run)."""
    seed = _kernels.default_stream_state()[0]
    _kernels.default_stream_reset(_processes.child_key(seed, index))


def _resolve_stream(seed: SupportsIndex | None, offset: SupportsIndex, rng: RNGLike,
                    n: int) -> tuple[int, int]:
    if seed is not None:
        if rng is not None:
            raise ValueError("give seed= or rng=, not both")
        return check_u64(seed, "seed"), check_u64(offset, "offset")
    if rng is not None:
        return seed_from_rng(rng), check_u64(offset, "offset")
    if offset:
        raise ValueError("offset= needs seed= (or rng=): the default stream "
                         "keeps its own position")
    return _kernels.default_stream_take(n)


# ---------------------------------------------------------------------------
# Public functions


@overload
def dropout(x: npt.ArrayLike, p: float = ..., training: Training = ..., inplace: bool = ..., *,
            mask: npt.ArrayLike | None = ..., seed: SupportsIndex | None = ...,
            offset: SupportsIndex = ..., rng: RNGLike = ..., out: FloatArray | None = ...,
            return_mask: Literal[False] = ..., noise_shape: NoiseShape = ...,
            scaling: Scaling = ...) -> FloatArray: ...
@overload
def dropout(x: npt.ArrayLike, p: float = ..., training: Training = ..., inplace: bool = ..., *,
            mask: npt.ArrayLike | None = ..., seed: SupportsIndex | None = ...,
            offset: SupportsIndex = ..., rng: RNGLike = ..., out: FloatArray | None = ...,
            return_mask: Literal[True, "bool"], noise_shape: NoiseShape = ...,
            scaling: Scaling = ...) -> tuple[FloatArray, BoolArray]: ...
@overload
def dropout(x: npt.ArrayLike, p: float = ..., training: Training = ..., inplace: bool = ..., *,
            mask: npt.ArrayLike | None = ..., seed: SupportsIndex | None = ...,
            offset: SupportsIndex = ..., rng: RNGLike = ..., out: FloatArray | None = ...,
            return_mask: Literal["bits"], noise_shape: NoiseShape = ..., scaling: Scaling = ...
            ) -> tuple[FloatArray, BitsArray]: ...
@overload
def dropout(x: npt.ArrayLike, p: float = ..., training: Training = ..., inplace: bool = ..., *,
            mask: npt.ArrayLike | None = ..., seed: SupportsIndex | None = ...,
            offset: SupportsIndex = ..., rng: RNGLike = ..., out: FloatArray | None = ...,
            return_mask: ReturnMask, noise_shape: NoiseShape = ..., scaling: Scaling = ...
            ) -> FloatArray | tuple[FloatArray, MaskArray]: ...
def dropout(x: npt.ArrayLike, p: float = 0.5, training: Training = True, inplace: bool = False,
            *, mask: npt.ArrayLike | None = None, seed: SupportsIndex | None = None,
            offset: SupportsIndex = 0, rng: RNGLike = None, out: FloatArray | None = None,
            return_mask: ReturnMask = False, noise_shape: NoiseShape = None,
            scaling: Scaling = "inverted") -> FloatArray | tuple[FloatArray, MaskArray]:
    """Randomly zero elements of ``x`` with probability ``p`` and scale the
    rest by ``1 / (1 - p)``, as ``torch.nn.functional.dropout``.

    Parameters
    ----------
    x : array_like of float16, float32 or float64
        Any shape (0-d and empty too) and any strides.  With ``inplace=True``
        a writeable ``numpy.ndarray``.  float16 is computed in float32 and
        rounded once.
    p : float
        Probability of an element to be zeroed, in [0, 1].
    training : bool
        False: ``x`` is returned as it is (the same object, no copy); with
        ``scaling="vanilla"``, ``x * (1 - p)``.  A bool (or ``numpy.bool_``):
        anything else is a ``TypeError``, as in torch.
    inplace : bool
        Write the result into ``x`` and return ``x``.
    mask : ndarray of bool, optional
        A keep-mask of x's shape to apply instead of drawing one (or packed
        bits: uint8, ``ceil(x.size / 8)`` bytes, ``np.packbits(m.ravel(),
        bitorder="little")`` layout).  Applied whenever ``training`` is true,
        also for ``p == 0`` (scale 1).  With ``noise_shape``: of that shape
        (bool), or its element count (bits).
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
        shape (like ``torch.native_dropout``; of the noise shape with
        ``noise_shape``), "bits" packed as above.
    noise_shape : sequence of int or None, optional
        The mask's shape, broadcast against x (Keras's ``noise_shape``): one
        entry per axis of x, each 1, None (x's size) or x's size.
        ``(N, C, 1, 1)`` on an ``(N, C, H, W)`` array drops whole channels.
        Mask element ``j`` (C order in the noise shape) is kept iff stream
        word ``offset + j`` is; a call takes ``prod(noise_shape)`` words.
    scaling : {"inverted", "vanilla"}
        "inverted" (torch's): kept elements are scaled by ``1 / (1 - p)`` in
        training, evaluation is the identity.  "vanilla" (the original
        paper's): training applies the mask only, evaluation multiplies by
        ``1 - p``.

    Returns
    -------
    out : ndarray
        The result; ``x`` itself when ``training`` is false (except with
        ``scaling="vanilla"``, which computes ``x * (1 - p)``) or ``p == 0``
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
    >>> x = np.ones((2, 3, 4, 4), np.float32)
    >>> y, m = cydrop.dropout(x, 0.5, seed=0, noise_shape=(None, None, 1, 1), return_mask=True)
    >>> m.shape, bool(np.all(y == np.where(m, 2.0, 0.0)))
    ((2, 3, 1, 1), True)
    """
    # the one-call rule (cydrop._core.one_call): dropout's own arguments, in
    # its order; None when the call takes the general path below
    res = one_call(x, p, training, inplace, mask, seed, offset, rng, out, return_mask,
                         noise_shape, scaling)
    if res is not None:
        return res
    mode = check_scaling(scaling)
    p = check_p(p)
    training = check_training(training)
    x = check_float_array(x, "x", inplace)
    out = check_out(out, x, inplace)
    kind = check_return_mask(return_mask)
    noise = check_noise_shape(noise_shape, x.shape)
    return _forward_to_kernels(x, p, training=training, inplace=inplace, out=out, kind=kind,
                               noise=noise, mode=mode, mask=mask, seed=seed, offset=offset,
                               rng=rng)


def _forward_to_kernels(x: FloatArray, p: float, *, training: bool, inplace: bool,
                        out: FloatArray | None, kind: Literal["bool", "bits"] | None,
                        noise: tuple[int, ...] | None, mode: _core.Mode,
                        mask: npt.ArrayLike | None, seed: SupportsIndex | None,
                        offset: SupportsIndex,
                        rng: RNGLike) -> FloatArray | tuple[FloatArray, MaskArray]:
    """The rest of a forward whose other arguments are checked: the mask
    checked, or the stream resolved (only when a mask is drawn), then
    `cydrop._core.forward`."""
    packed = False
    s = o = 0
    if mask is not None:
        mask, packed = check_mask(mask, x, noise)
    elif training and 0.0 < p < 1.0:
        s, o = _resolve_stream(seed, offset, rng, x.size if noise is None else math.prod(noise))
    return _core.forward(x, p, training=training, inplace=inplace, out=out, kind=kind,
                         noise=noise, mode=mode, mask=mask, packed=packed, seed=s, offset=o)


def dropout_backward(grad: npt.ArrayLike, mask: npt.ArrayLike | None = None, p: float = 0.5, *,
                     seed: SupportsIndex | None = None, offset: SupportsIndex = 0,
                     inplace: bool = False, out: FloatArray | None = None,
                     noise_shape: NoiseShape = None, scaling: Scaling = "inverted") -> FloatArray:
    """Gradient of `dropout`: ``grad * mask * scale`` with ``scale = 1 / (1 - p)``
    (1 with ``scaling="vanilla"``).

    Parameters
    ----------
    grad : array_like of float16, float32 or float64
        Upstream gradient, of the forward input's shape.
    mask : ndarray, optional
        The forward's keep-mask: bool of grad's shape (of the noise shape with
        ``noise_shape``), or packed bits (uint8,
        ``np.packbits(m.ravel(), bitorder="little")`` layout).
    p : float
        The forward's drop probability.
    seed, offset : int, optional
        Instead of ``mask``: regenerate it from the stream, as the forward with
        the same ``seed``, ``offset``, ``p`` and ``noise_shape`` drew it (no
        stored mask).
    inplace : bool
        Write into ``grad``.
    out : ndarray, optional
        Preallocated result.
    noise_shape : sequence of int or None, optional
        The forward's ``noise_shape``.
    scaling : {"inverted", "vanilla"}
        The forward's scaling.  (The gradient of a vanilla *evaluation*
        forward is ``grad * (1 - p)``; `Dropout.backward` knows which ran.)

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
    # the one-call rule (cydrop._core.one_call), as `dropout` takes it
    res = one_call(grad, p, True, inplace, mask, seed, offset, None, out, False, noise_shape,
                   scaling, True)
    if res is not None:
        return res
    return _checked_backward(grad, mask, p, seed=seed, offset=offset, inplace=inplace, out=out,
                             noise_shape=noise_shape, mode=check_scaling(scaling))


def _checked_backward(grad: npt.ArrayLike, mask: npt.ArrayLike | None, p: float, *,
                      seed: SupportsIndex | None, offset: SupportsIndex, inplace: bool,
                      out: FloatArray | None, noise_shape: NoiseShape,
                      mode: _core.Mode) -> FloatArray:
    """`dropout_backward` and `alpha_dropout_backward` past the one-call
    rule: every argument checked once, then `cydrop._core.backward`."""
    p = check_p(p)
    grad = check_float_array(grad, "grad", inplace)
    out = check_out(out, grad, inplace)
    if (mask is None) == (seed is None):
        raise ValueError("dropout_backward needs exactly one of mask= or seed=")
    noise = check_noise_shape(noise_shape, grad.shape)
    if mask is not None:
        m, packed = check_mask(mask, grad, noise)
        return _core.backward(grad, p, inplace=inplace, out=out, noise=noise, mode=mode,
                              mask=m, packed=packed)
    return _core.backward(grad, p, inplace=inplace, out=out, noise=noise, mode=mode,
                          seed=check_u64(seed, "seed"), offset=check_u64(offset, "offset"))


# ---------------------------------------------------------------------------
# Channel-wise dropout (torch's dropout1d/2d/3d): noise_shape (N, C, 1, ...)


def _channelwise(name: str | None, x: npt.ArrayLike, p: float, training: Training,
                 inplace: bool, mask: npt.ArrayLike | None, seed: SupportsIndex | None,
                 offset: SupportsIndex, rng: RNGLike, out: FloatArray | None,
                 return_mask: ReturnMask,
                 mode: _core.Mode) -> FloatArray | tuple[FloatArray, MaskArray]:
    """dropout1d/2d/3d (``name``) and feature_alpha_dropout (None): the
    checks, torch's noise shape for x (its errors and warnings, pointing at
    the caller of the public function), then the way down."""
    p = check_p(p)
    training = check_training(training)
    x = check_float_array(x, "x", inplace)
    active = training and 0.0 < p < 1.0 and x.size > 0
    noise = (_core.channel_noise(name, x.shape, active, stacklevel=4) if name
             else _core.feature_noise(x.shape, active))
    if noise == x.shape:
        noise = None                # one flag per element: the plain call
    out = check_out(out, x, inplace)
    kind = check_return_mask(return_mask)
    return _forward_to_kernels(x, p, training=training, inplace=inplace, out=out, kind=kind,
                               noise=noise, mode=mode, mask=mask, seed=seed, offset=offset,
                               rng=rng)


_CHANNEL_DOC = """Channel-wise dropout, as ``torch.nn.functional.{name}``: each
    channel ({what}) is zeroed with probability ``p`` as a whole, the rest
    scaled by ``1 / (1 - p)``.

    Inputs of shape {shapes}, with torch's rules for other ranks (same
    error texts and warnings).  The mask has one flag per channel: it is
    `dropout` with ``noise_shape`` ``(N, C, 1, ...)`` (unbatched inputs:
    ``(C, 1, ...)``), so channel ``(n, c)`` takes stream word ``offset + n * C
    + c``, and ``return_mask`` gives the per-channel mask of that shape.
    The backward is ``dropout_backward(grad, mask, p,
    noise_shape=mask.shape)`` (or with ``seed`` and ``offset`` instead of the
    mask).

    Parameters
    ----------
    x : array_like of float16, float32 or float64
        Of shape {shapes}.
    p : float
        Probability of a channel to be zeroed, in [0, 1].
    training, inplace
        As in `dropout`.
    mask : ndarray of bool, optional
        A per-channel keep-mask (the noise shape ``(N, C, 1, ...)``), or its
        packed bits, applied instead of drawing one.
    seed, offset, rng, out
        As in `dropout`.
    return_mask : bool or {{"bool", "bits"}}
        Also return the per-channel keep-mask.
    scaling : {{"inverted", "vanilla"}}
        As in `dropout`.

    Returns
    -------
    out : ndarray
        As `dropout`'s.
    mask : ndarray
        Only with ``return_mask``: of the noise shape (or its packed bits).

    Examples
    --------
    >>> import numpy as np, cydrop
    >>> x = np.ones({example}, np.float32)
    >>> y, m = cydrop.{name}(x, 0.5, seed=3, return_mask=True)
    >>> m.shape
    {mshape}
    >>> bool(np.array_equal(y, np.where(m, 2.0, 0.0) * x))
    True
    """


class _ChannelFunction(Protocol):
    """The signature of `dropout1d`, `dropout2d` and `dropout3d` (one set
    of overloads for the three)."""
    __name__: str
    __qualname__: str

    @overload
    def __call__(self, x: npt.ArrayLike, p: float = ..., training: Training = ...,
                 inplace: bool = ..., *, mask: npt.ArrayLike | None = ...,
                 seed: SupportsIndex | None = ..., offset: SupportsIndex = ...,
                 rng: RNGLike = ..., out: FloatArray | None = ...,
                 return_mask: Literal[False] = ..., scaling: Scaling = ...) -> FloatArray: ...
    @overload
    def __call__(self, x: npt.ArrayLike, p: float = ..., training: Training = ...,
                 inplace: bool = ..., *, mask: npt.ArrayLike | None = ...,
                 seed: SupportsIndex | None = ..., offset: SupportsIndex = ...,
                 rng: RNGLike = ..., out: FloatArray | None = ...,
                 return_mask: Literal[True, "bool"], scaling: Scaling = ...
                 ) -> tuple[FloatArray, BoolArray]: ...
    @overload
    def __call__(self, x: npt.ArrayLike, p: float = ..., training: Training = ...,
                 inplace: bool = ..., *, mask: npt.ArrayLike | None = ...,
                 seed: SupportsIndex | None = ..., offset: SupportsIndex = ...,
                 rng: RNGLike = ..., out: FloatArray | None = ...,
                 return_mask: Literal["bits"], scaling: Scaling = ...
                 ) -> tuple[FloatArray, BitsArray]: ...
    @overload
    def __call__(self, x: npt.ArrayLike, p: float = ..., training: Training = ...,
                 inplace: bool = ..., *, mask: npt.ArrayLike | None = ...,
                 seed: SupportsIndex | None = ..., offset: SupportsIndex = ...,
                 rng: RNGLike = ..., out: FloatArray | None = ...,
                 return_mask: ReturnMask, scaling: Scaling = ...
                 ) -> FloatArray | tuple[FloatArray, MaskArray]: ...


def _channel_function(name: str) -> _ChannelFunction:
    """torch's ``name`` (dropout1d/2d/3d) as a public function of this
    module (pickled by reference, as any other)."""
    def fn(x: npt.ArrayLike, p: float = 0.5, training: Training = True,
           inplace: bool = False, *, mask: npt.ArrayLike | None = None,
           seed: SupportsIndex | None = None, offset: SupportsIndex = 0, rng: RNGLike = None,
           out: FloatArray | None = None, return_mask: ReturnMask = False,
           scaling: Scaling = "inverted") -> FloatArray | tuple[FloatArray, MaskArray]:
        return _channelwise(name, x, p, training, inplace, mask, seed, offset, rng, out,
                            return_mask, check_scaling(scaling))
    fn.__name__ = fn.__qualname__ = name
    return cast(_ChannelFunction, fn)


dropout1d = _channel_function("dropout1d")
dropout2d = _channel_function("dropout2d")
dropout3d = _channel_function("dropout3d")


dropout1d.__doc__ = _CHANNEL_DOC.format(
    name="dropout1d", what="a 1-D feature map ``x[n, c, :]``", shapes="(N, C, L) or (C, L)",
    example="(2, 3, 5)", mshape="(2, 3, 1)")
dropout2d.__doc__ = _CHANNEL_DOC.format(
    name="dropout2d", what="a 2-D feature map ``x[n, c, :, :]``",
    shapes="(N, C, H, W) (a 3-D input is read as (N, C, L), with torch's warning)",
    example="(2, 3, 4, 4)", mshape="(2, 3, 1, 1)")
dropout3d.__doc__ = _CHANNEL_DOC.format(
    name="dropout3d", what="a 3-D feature map ``x[n, c, :, :, :]``",
    shapes="(N, C, D, H, W) or (C, D, H, W)", example="(3, 2, 2, 2)",
    mshape="(3, 1, 1, 1)")


# ---------------------------------------------------------------------------
# Alpha dropout (torch's alpha_dropout / feature_alpha_dropout)


@overload
def alpha_dropout(x: npt.ArrayLike, p: float = ..., training: Training = ...,
                  inplace: bool = ..., *, mask: npt.ArrayLike | None = ...,
                  seed: SupportsIndex | None = ..., offset: SupportsIndex = ...,
                  rng: RNGLike = ..., out: FloatArray | None = ...,
                  return_mask: Literal[False] = ..., noise_shape: NoiseShape = ...
                  ) -> FloatArray: ...
@overload
def alpha_dropout(x: npt.ArrayLike, p: float = ..., training: Training = ...,
                  inplace: bool = ..., *, mask: npt.ArrayLike | None = ...,
                  seed: SupportsIndex | None = ..., offset: SupportsIndex = ...,
                  rng: RNGLike = ..., out: FloatArray | None = ...,
                  return_mask: Literal[True, "bool"], noise_shape: NoiseShape = ...
                  ) -> tuple[FloatArray, BoolArray]: ...
@overload
def alpha_dropout(x: npt.ArrayLike, p: float = ..., training: Training = ...,
                  inplace: bool = ..., *, mask: npt.ArrayLike | None = ...,
                  seed: SupportsIndex | None = ..., offset: SupportsIndex = ...,
                  rng: RNGLike = ..., out: FloatArray | None = ...,
                  return_mask: Literal["bits"], noise_shape: NoiseShape = ...
                  ) -> tuple[FloatArray, BitsArray]: ...
@overload
def alpha_dropout(x: npt.ArrayLike, p: float = ..., training: Training = ...,
                  inplace: bool = ..., *, mask: npt.ArrayLike | None = ...,
                  seed: SupportsIndex | None = ..., offset: SupportsIndex = ...,
                  rng: RNGLike = ..., out: FloatArray | None = ..., return_mask: ReturnMask,
                  noise_shape: NoiseShape = ...) -> FloatArray | tuple[FloatArray, MaskArray]: ...
def alpha_dropout(x: npt.ArrayLike, p: float = 0.5, training: Training = False,
                  inplace: bool = False, *, mask: npt.ArrayLike | None = None,
                  seed: SupportsIndex | None = None, offset: SupportsIndex = 0,
                  rng: RNGLike = None, out: FloatArray | None = None,
                  return_mask: ReturnMask = False, noise_shape: NoiseShape = None
                  ) -> FloatArray | tuple[FloatArray, MaskArray]:
    """Alpha dropout for SELU networks, as ``torch.nn.functional.alpha_dropout``
    (note torch's default ``training=False``).

    Dropped elements take SELU's negative saturation value ``alpha' =
    -1.7580993408473766``; then every element becomes ``a * x + b`` with
    ``a = ((1 - p) * (1 + p * alpha'**2)) ** -0.5`` and ``b = -a * alpha' * p``,
    so that zero-mean unit-variance input keeps its mean and variance.  The
    constants are rounded as torch rounds them (float32 arithmetic for
    float32 and float16 inputs), so the result equals torch's for the same
    mask.  ``p == 1`` gives zeros, as torch.

    The mask, stream, ``mask=``/``return_mask``/``noise_shape`` and the
    other parameters are `dropout`'s.  Backward: `alpha_dropout_backward`.

    Parameters
    ----------
    x : array_like of float16, float32 or float64
        Any shape and strides.
    p : float
        Probability of an element to be dropped, in [0, 1].
    training : bool
        False by default, as torch's: then ``x`` itself is returned.
    inplace, mask, seed, offset, rng, out, return_mask, noise_shape
        As in `dropout`.

    Returns
    -------
    out : ndarray
        The result (``x`` itself when not training, ``p == 0`` or in place).
    mask : ndarray
        Only with ``return_mask``.

    Examples
    --------
    >>> import numpy as np, cydrop
    >>> y, m = cydrop.alpha_dropout(np.zeros(6), 0.5, True, seed=1, return_mask=True)
    >>> a, b = ((1 - 0.5) * (1 + 0.5 * 1.7580993408473766**2)) ** -0.5, 0.5 * 1.7580993408473766
    >>> bool(np.allclose(y, np.where(m, a * b, a * (b - 1.7580993408473766))))
    True
    """
    p = check_p(p)
    training = check_training(training)
    x = check_float_array(x, "x", inplace)
    out = check_out(out, x, inplace)
    kind = check_return_mask(return_mask)
    noise = check_noise_shape(noise_shape, x.shape)
    return _forward_to_kernels(x, p, training=training, inplace=inplace, out=out, kind=kind,
                               noise=noise, mode="alpha", mask=mask, seed=seed, offset=offset,
                               rng=rng)


@overload
def feature_alpha_dropout(x: npt.ArrayLike, p: float = ..., training: Training = ...,
                          inplace: bool = ..., *, mask: npt.ArrayLike | None = ...,
                          seed: SupportsIndex | None = ..., offset: SupportsIndex = ...,
                          rng: RNGLike = ..., out: FloatArray | None = ...,
                          return_mask: Literal[False] = ...) -> FloatArray: ...
@overload
def feature_alpha_dropout(x: npt.ArrayLike, p: float = ..., training: Training = ...,
                          inplace: bool = ..., *, mask: npt.ArrayLike | None = ...,
                          seed: SupportsIndex | None = ..., offset: SupportsIndex = ...,
                          rng: RNGLike = ..., out: FloatArray | None = ...,
                          return_mask: Literal[True, "bool"]) -> tuple[FloatArray, BoolArray]: ...
@overload
def feature_alpha_dropout(x: npt.ArrayLike, p: float = ..., training: Training = ...,
                          inplace: bool = ..., *, mask: npt.ArrayLike | None = ...,
                          seed: SupportsIndex | None = ..., offset: SupportsIndex = ...,
                          rng: RNGLike = ..., out: FloatArray | None = ...,
                          return_mask: Literal["bits"]) -> tuple[FloatArray, BitsArray]: ...
@overload
def feature_alpha_dropout(x: npt.ArrayLike, p: float = ..., training: Training = ...,
                          inplace: bool = ..., *, mask: npt.ArrayLike | None = ...,
                          seed: SupportsIndex | None = ..., offset: SupportsIndex = ...,
                          rng: RNGLike = ..., out: FloatArray | None = ...,
                          return_mask: ReturnMask
                          ) -> FloatArray | tuple[FloatArray, MaskArray]: ...
def feature_alpha_dropout(x: npt.ArrayLike, p: float = 0.5, training: Training = False,
                          inplace: bool = False, *, mask: npt.ArrayLike | None = None,
                          seed: SupportsIndex | None = None, offset: SupportsIndex = 0,
                          rng: RNGLike = None, out: FloatArray | None = None,
                          return_mask: ReturnMask = False
                          ) -> FloatArray | tuple[FloatArray, MaskArray]:
    """Channel-wise alpha dropout, as ``torch.nn.functional.feature_alpha_dropout``:
    `alpha_dropout` with one flag per channel (noise shape ``(N, C, 1, ...)``;
    at least 2 dimensions, torch's error text otherwise).

    Parameters
    ----------
    x : array_like of float16, float32 or float64
        At least 2 dimensions, ``(N, C, ...)``.
    p : float
        Probability of a channel to be dropped, in [0, 1].
    training : bool
        False by default, as torch's.
    inplace
        As in `dropout`.
    mask : ndarray of bool, optional
        A per-channel keep-mask (shape ``(N, C, 1, ...)``) or its packed bits.
    seed, offset, rng, out
        As in `dropout`.
    return_mask : bool or {"bool", "bits"}
        Also return the per-channel keep-mask.

    Returns
    -------
    out : ndarray
        The result.
    mask : ndarray
        Only with ``return_mask``.

    Examples
    --------
    >>> import numpy as np, cydrop
    >>> y, m = cydrop.feature_alpha_dropout(np.zeros((2, 3, 4)), 0.5, True, seed=1,
    ...                                     return_mask=True)
    >>> m.shape, bool(np.all(y == y[:, :, :1]))
    ((2, 3, 1), True)
    """
    return _channelwise(None, x, p, training, inplace, mask, seed, offset, rng, out,
                        return_mask, "alpha")


def alpha_dropout_backward(grad: npt.ArrayLike, mask: npt.ArrayLike | None = None,
                           p: float = 0.5, *, seed: SupportsIndex | None = None,
                           offset: SupportsIndex = 0, inplace: bool = False,
                           out: FloatArray | None = None,
                           noise_shape: NoiseShape = None) -> FloatArray:
    """Gradient of `alpha_dropout` / `feature_alpha_dropout`: ``grad * mask * a``
    (``a`` as in the forward; dropped positions exactly 0.0).  ``mask``,
    ``seed``/``offset`` and ``noise_shape`` as in `dropout_backward`.

    Parameters
    ----------
    grad : array_like of float16, float32 or float64
        Upstream gradient, of the forward input's shape.
    mask : ndarray, optional
        The forward's keep-mask (bool or packed bits).
    p : float
        The forward's drop probability.
    seed, offset : int, optional
        Instead of ``mask``: the forward's stream key and position.
    inplace, out, noise_shape
        As in `dropout_backward`.

    Returns
    -------
    ndarray
        ``grad * mask * a``.

    Examples
    --------
    >>> import numpy as np, cydrop
    >>> y, m = cydrop.alpha_dropout(np.zeros(4), 0.2, True, seed=5, return_mask=True)
    >>> g = cydrop.alpha_dropout_backward(np.ones(4), m, 0.2)
    >>> bool(np.array_equal(g > 0, m))
    True
    """
    return _checked_backward(grad, mask, p, seed=seed, offset=offset, inplace=inplace, out=out,
                             noise_shape=noise_shape, mode="alpha")


@overload
def keep_mask(shape: ShapeLike, p: float, seed: SupportsIndex, offset: SupportsIndex = ..., *,
              packed: Literal[False] = ...) -> BoolArray: ...
@overload
def keep_mask(shape: ShapeLike, p: float, seed: SupportsIndex, offset: SupportsIndex = ..., *,
              packed: Literal[True]) -> BitsArray: ...
@overload
def keep_mask(shape: ShapeLike, p: float, seed: SupportsIndex, offset: SupportsIndex = ..., *,
              packed: bool) -> MaskArray: ...
def keep_mask(shape: ShapeLike, p: float, seed: SupportsIndex, offset: SupportsIndex = 0, *,
              packed: bool = False) -> MaskArray:
    """The keep-mask `dropout` draws for an array of ``shape`` at stream
    position ``offset`` with key ``seed`` (regenerated, nothing stored).

    Parameters
    ----------
    shape : int or tuple of int
        The array's shape.
    p : float
        Drop probability, in [0, 1].
    seed : int
        64-bit key of the stream, in [0, 2**64).
    offset : int
        Stream position of element 0, in [0, 2**64).
    packed : bool
        Return the mask packed, 1 bit per element.

    Returns
    -------
    ndarray
        A bool array of ``shape``, or with ``packed=True`` the
        ``np.packbits(mask.ravel(), bitorder="little")`` bytes.

    Examples
    --------
    >>> import numpy as np, cydrop
    >>> m = cydrop.keep_mask((2, 3), 0.5, seed=7, offset=4)
    >>> _, m2 = cydrop.dropout(np.ones((2, 3)), 0.5, seed=7, offset=4, return_mask=True)
    >>> bool(np.array_equal(m, m2))
    True
    """
    p = check_p(p)
    seed = check_u64(seed, "seed")
    offset = check_u64(offset, "offset")
    shape, size = check_shape(shape)
    m: npt.NDArray[Any] = (np.empty(packed_size(size), np.uint8) if packed
                           else np.empty(shape, dtype=bool))
    if size == 0:
        return m
    if p == 0.0 or p == 1.0:
        return pack(np.full(size, p == 0.0)) if packed else np.full(shape, p == 0.0)
    thr = _kernels.threshold(p)
    if packed:
        _kernels.draw_mask(shape, seed=seed, offset=offset, thr=thr, bits_out=m)
    else:
        _kernels.draw_mask(shape, seed=seed, offset=offset, thr=thr, mask_out=m)
    return m


def stream_words(seed: SupportsIndex, offset: SupportsIndex,
                 n: SupportsIndex) -> npt.NDArray[np.uint32]:
    """The ``n`` words of the Philox stream keyed by ``seed`` from position ``offset`` on.

    Words ``offset`` to ``offset + n - 1``, as a uint32 array (docs/design.md,
    "The random stream"); the stream wraps: word ``(offset + i) mod 2**64``.

    Parameters
    ----------
    seed : int
        64-bit key, in [0, 2**64).
    offset : int
        Position of the first word, in [0, 2**64).
    n : int
        Number of words.

    Returns
    -------
    ndarray of uint32
        The words.

    Examples
    --------
    >>> import cydrop
    >>> w = cydrop.stream_words(0, 0, 4)
    >>> [hex(v) for v in w] == [hex(v) for v in cydrop.philox4x32_10((0, 0, 0, 0), (0, 0))]
    True
    >>> bool((cydrop.stream_words(5, 2**64 - 2, 4)[2:] == cydrop.stream_words(5, 0, 2)).all())
    True
    """
    seed = check_u64(seed, "seed")
    offset = check_u64(offset, "offset")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n must be an integer, got {type(n).__name__}") from None
    if not 0 <= n <= np.iinfo(np.intp).max // 4:
        raise ValueError(f"n must be in [0, {np.iinfo(np.intp).max // 4}], got {short(n)}")
    words = np.empty(n, dtype=np.uint32)
    _kernels.stream_into(words, seed, offset)
    return words


def philox4x32_10(counter: Iterable[SupportsInt],
                  key: Iterable[SupportsInt]) -> tuple[int, int, int, int]:
    """The Philox4x32-10 block function: ``counter`` (4 uint32 words) and
    ``key`` (2 words) to 4 words, as in Random123 (``philox4x32(ctr, key)``).

    Parameters
    ----------
    counter : iterable of 4 int
        The counter, uint32 words.
    key : iterable of 2 int
        The key, uint32 words.

    Returns
    -------
    tuple of 4 int
        The block's words.

    Examples
    --------
    >>> import cydrop
    >>> [hex(w) for w in cydrop.philox4x32_10((0, 0, 0, 0), (0, 0))]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    return _kernels.philox4x32(tuple(int(c) for c in counter), tuple(int(k) for k in key), 10)
