"""Dropout on Dask arrays, bit for bit the in-memory result on any chunking.

cydrop's stream is indexed by each element's C-order position (docs/design.md,
"The random stream"), so every block can draw its own elements' words from
their *global* positions, whatever the chunking: ``cydrop.dask.dropout(
da.from_array(a, chunks=c), p, seed=s).compute()`` equals
``cydrop.dropout(a, p, seed=s)`` bit for bit for every ``c``.

Needs the ``dask`` extra (``pip install "cydrop[dask]"``); ``import cydrop``
itself never imports dask.  Everything here is lazy: arguments are checked
when the graph is built, and nothing runs until ``.compute()``.

How a block finds its positions: the trailing axes along which the block
spans the whole array are merged; the block is then a union of *runs*,
contiguous in the global C order, of length (block extent on the last
partial axis) x (product of the full trailing axes), one per index of the
leading block axes.  A run starting at global position ``s`` is drawn at
stream position ``(offset + s) mod 2**64``.  A block cut only along axis 0 is
one run: one kernel call.  When the runs are short and many, the block draws
the words of the span that covers them (when that span is at most a few
times the block) and picks its elements from it.
"""
# mypy: disable-error-code="no-untyped-call, no-any-return"
# (most of dask.array -- map_blocks, from_delayed, concatenate, normalize_chunks,
# Array.astype -- is not annotated, so calls to it and their Any results are
# allowed here; everything in this module is annotated)
from __future__ import annotations

import itertools
import math
from typing import Any, Literal, Optional, Sequence, SupportsIndex, SupportsInt, overload

import numpy as np
import numpy.typing as npt

try:
    import dask.array as da
    from dask.delayed import delayed
except ImportError as e:   # the extra is missing
    raise ImportError('cydrop.dask needs Dask: pip install "cydrop[dask]"') from e

from . import _kernels
from ._checks import (FLOAT_DTYPES, U64, check_float_array, check_p, check_return_mask,
                      check_shape, check_training, check_u64, pack, packed_size)
from ._typing import BoolArray, FloatArray, ReturnMask, ShapeLike, Training

__all__ = ["dropout", "dropout_backward", "keep_mask"]

# Runs of at least this many elements get a kernel call each; shorter ones
# are drawn as one covering span when it is small enough (_SPAN_FACTOR).
_LONG_RUN = 2048
_SPAN_FACTOR = 4


# ---------------------------------------------------------------------------
# Argument checks (graph-construction time, the in-memory API's messages)


def _check_dask_float(x: object, name: str) -> da.Array:
    """``x`` as a float16/32/64 dask array in native byte order; any other
    dtype raises the in-memory API's TypeError (the same message)."""
    if not isinstance(x, da.Array):
        raise TypeError(f"{name} must be a dask.array.Array, got {type(x).__name__} "
                        f"(use cydrop.dropout for in-memory arrays)")
    if not isinstance(x._meta, np.ndarray):
        raise TypeError(f"cydrop.dask needs NumPy blocks, but {name} has blocks of type "
                        f"{type(x._meta).__name__}")
    dt = x.dtype
    if dt in FLOAT_DTYPES:
        return x
    # the in-memory check on an empty array of that dtype: the same message,
    # and the native dtype when only the byte order differs
    native = check_float_array(np.empty(0, dtype=dt), name, False).dtype
    return x.astype(native)


def _check_known_chunks(x: da.Array, name: str, function: str) -> None:
    """Refuse ``x`` at once when some of its chunk sizes are unknown (NaN):
    a block's words are drawn at its elements' global positions, which the
    sizes of the blocks before it give (at compute time the NaN sizes would
    only fail inside the blocks, with an obscure message)."""
    if not any(math.isnan(c) for axis in x.chunks for c in axis):
        return
    raise ValueError(
        f"cydrop.dask.{function}: the chunk sizes of {name} are unknown (NaN, as after "
        f"boolean indexing or other operations whose output size depends on the data): "
        f"shape {x.shape}, chunks {x.chunks}.  cydrop's mask depends on each element's "
        f"global C-order position, so every block's size (and so where each block "
        f"starts) must be known when the graph is built.  Compute them first:\n\n"
        f"   {name}.compute_chunk_sizes()  # computes {name} once, sets its chunks in "
        f"place and returns it\n\n"
        f"(see https://docs.dask.org/en/latest/array-chunks.html#unknown-chunks)")


# ---------------------------------------------------------------------------
# Block geometry: where a block's elements lie in the global C order


# a block's place in the array: (start, stop) per axis
_Location = Sequence[tuple[int, int]]


def _runs(gshape: Sequence[int], loc: _Location) -> tuple[npt.NDArray[np.int64], int]:
    """``(starts, length)``: the block at ``loc`` (a list of ``(start, stop)``
    per axis) of an array of ``gshape`` is ``len(starts)`` runs of ``length``
    elements, contiguous in the global C order, in the block's own C order."""
    nd = len(gshape)
    bshape = [b - a for a, b in loc]
    t = nd   # axes t.. span the whole array
    while t > 0 and loc[t - 1][0] == 0 and loc[t - 1][1] == gshape[t - 1]:
        t -= 1
    tail = math.prod(gshape[t:])
    if t == 0:
        return np.zeros(1, np.int64), tail
    # global C-order strides, in elements
    gstrides = [0] * nd
    acc = 1
    for k in range(nd - 1, -1, -1):
        gstrides[k] = acc
        acc *= gshape[k]
    length = bshape[t - 1] * tail
    start0 = sum(loc[k][0] * gstrides[k] for k in range(t))
    lead = [k for k in range(t - 1) if bshape[k] > 1]
    if not lead:
        return np.array([start0], np.int64), length
    starts = np.full((), start0, np.int64)
    for k in range(t - 1):
        starts = starts[..., None] + np.arange(bshape[k], dtype=np.int64) * gstrides[k]
    return starts.ravel(), length


def _position(offset: int, start: SupportsInt) -> int:
    return (offset + int(start)) % U64


def _short_run_mask(starts: npt.NDArray[np.int64], length: int, gshape: Sequence[int],
                    bshape: tuple[int, ...], seed: int, offset: int,
                    thr: int) -> Optional[BoolArray]:
    """The block's keep flags drawn as the one span of the stream that covers
    them, seen through a strided view (the block is a box of the global
    array); None when that span would be too long."""
    first = int(starts[0])
    span = int(starts[-1]) + length - first
    if span > _SPAN_FACTOR * len(starts) * length + 4096:
        return None
    words = np.empty(span, bool)
    _kernels.draw_mask((span,), seed=seed, offset=_position(offset, first), thr=thr,
                       mask_out=words)
    gstrides = [math.prod(gshape[k + 1:]) for k in range(len(gshape))]
    return np.lib.stride_tricks.as_strided(words, shape=bshape, strides=gstrides,
                                           writeable=False)


def _layout(gshape: Sequence[int], loc: _Location, bshape: tuple[int, ...], seed: int,
            offset: int, thr: int) -> tuple[Any, ...]:
    """How one (non-empty) block gets its keep flags, decided once for both
    the forward and the mask-only path:

    ``("one", position)``      the block is one run: one kernel call;
    ``("span", flags)``        short runs, read from the drawn span covering them;
    ``("runs", starts, length)`` one kernel call per run."""
    starts, length = _runs(gshape, loc)
    if len(starts) == 1:
        return ("one", _position(offset, starts[0]))
    if length < _LONG_RUN:
        flags = _short_run_mask(starts, length, gshape, bshape, seed, offset, thr)
        if flags is not None:
            return ("span", flags)
    return ("runs", starts, length)


def _block_mask(gshape: Sequence[int], loc: _Location, seed: int, offset: int,
                thr: int) -> BoolArray:
    """The keep flags of one block (bool, C-contiguous)."""
    bshape = tuple(b - a for a, b in loc)
    m = np.empty(bshape, bool)
    if m.size == 0:
        return m
    how = _layout(gshape, loc, bshape, seed, offset, thr)
    if how[0] == "one":
        _kernels.draw_mask(bshape, seed=seed, offset=how[1], thr=thr, mask_out=m)
    elif how[0] == "span":
        m[...] = how[1]
    else:
        _, starts, length = how
        rows = m.reshape(len(starts), length)
        for r, s in enumerate(starts.tolist()):
            _kernels.draw_mask((length,), seed=seed, offset=_position(offset, s), thr=thr,
                               mask_out=rows[r])
    return m


# ---------------------------------------------------------------------------
# Block functions (run in the workers: only numpy and cydrop's kernels)


def _fused_block(x: FloatArray, block_info: Any = None, *, seed: int, offset: int, thr: int,
                 scale: float, with_mask: bool = False) -> Any:
    """Forward (and regenerating backward) of one block, drawing as it
    scales; with ``with_mask`` the pair ``(out, keep flags)`` from the same
    pass."""
    info = block_info[None]
    out = np.empty(x.shape, x.dtype)
    m: Any = np.empty(x.shape, bool) if with_mask else None
    if out.size == 0:
        return (out, m) if with_mask else out
    how = _layout(info["shape"], info["array-location"], x.shape, seed, offset, thr)
    if how[0] == "one":
        _kernels.fused_forward(x, out, seed, how[1], thr, scale, m)
    elif how[0] == "span":
        _kernels.masked_scale(x, out, how[1], None, scale)
        if with_mask:
            m[...] = how[1]
    else:
        _, starts, length = how
        n = len(starts)
        xr = x.reshape(n, length)   # a view for a C-contiguous block
        rows = out.reshape(n, length)
        mrows = m.reshape(n, length) if with_mask else None
        for r, s in enumerate(starts.tolist()):
            # positional: the loop may make thousands of calls
            _kernels.fused_forward(xr[r], rows[r], seed, _position(offset, s), thr, scale,
                                   None if mrows is None else mrows[r])
    return (out, m) if with_mask else out


def _first(pair: tuple[Any, Any]) -> Any:
    return pair[0]


def _second(pair: tuple[Any, Any]) -> Any:
    return pair[1]


def _mask_block(block_info: Any = None, *, seed: int, offset: int, thr: int) -> BoolArray:
    info = block_info[None]
    return _block_mask(info["shape"], info["array-location"], seed, offset, thr)


def _const_mask_block(block_info: Any = None, *, keep: bool) -> BoolArray:
    return np.full(block_info[None]["chunk-shape"], keep)


# ---------------------------------------------------------------------------
# Lazy arrays


def _bool_mask(chunks: tuple[tuple[int, ...], ...], seed: int, offset: int,
               p: float) -> da.Array:
    """A lazy bool keep-mask with ``chunks``, each block drawn from its
    global positions."""
    meta = np.empty((0,) * len(chunks), bool)
    if p == 0.0 or p == 1.0:
        return da.map_blocks(_const_mask_block, chunks=chunks, dtype=bool, meta=meta,
                             keep=p == 0.0, token="cydrop-mask")
    return da.map_blocks(_mask_block, chunks=chunks, dtype=bool, meta=meta, seed=seed,
                         offset=offset, thr=_kernels.threshold(p), token="cydrop-mask")


def _packed(mask: da.Array) -> da.Array:
    """One packed block per chunk of ``mask``, in the C order of the block
    grid, concatenated along one axis."""
    blocks = mask.to_delayed(optimize_graph=False).ravel()
    sizes = [packed_size(math.prod(c)) for c in _block_shapes(mask.chunks)]
    parts = [da.from_delayed(delayed(pack, pure=True)(b), shape=(n,), dtype=np.uint8,
                             meta=np.empty(0, np.uint8))
             for b, n in zip(blocks, sizes)]
    if not parts:
        return da.zeros((0,), dtype=np.uint8, chunks=((0,),))
    return da.concatenate(parts)


def _block_shapes(chunks: tuple[tuple[int, ...], ...]) -> list[tuple[int, ...]]:
    """The shapes of the blocks of ``chunks``, in the C order of the grid."""
    return list(itertools.product(*chunks))


def _as_kind(mask: da.Array, kind: Optional[str]) -> da.Array:
    return _packed(mask) if kind == "bits" else mask


@overload
def dropout(x: da.Array, p: float = ..., *, seed: SupportsIndex, offset: SupportsIndex = ...,
            training: Training = ..., return_mask: Literal[False] = ...) -> da.Array: ...
@overload
def dropout(x: da.Array, p: float = ..., *, seed: SupportsIndex, offset: SupportsIndex = ...,
            training: Training = ...,
            return_mask: Literal[True, "bool", "bits"]) -> tuple[da.Array, da.Array]: ...
@overload
def dropout(x: da.Array, p: float = ..., *, seed: SupportsIndex, offset: SupportsIndex = ...,
            training: Training = ...,
            return_mask: ReturnMask) -> da.Array | tuple[da.Array, da.Array]: ...
def dropout(x: da.Array, p: float = 0.5, *, seed: SupportsIndex, offset: SupportsIndex = 0,
            training: Training = True,
            return_mask: ReturnMask = False) -> da.Array | tuple[da.Array, da.Array]:
    """Dropout of a Dask array, lazily: bit for bit ``cydrop.dropout(x, p,
    seed=seed, offset=offset)`` on the computed array, on any chunking.

    Parameters
    ----------
    x : dask.array.Array of float16, float32 or float64
        Any shape and chunking; another dtype is a ``TypeError``, as in
        ``cydrop.dropout``.
    p : float
        Probability of an element to be zeroed, in [0, 1].
    seed : int
        64-bit key of the Philox stream (required: a chunked computation has
        no default stream to advance).
    offset : int
        Stream position of element 0; element ``i`` (global C order) uses word
        ``(offset + i) mod 2**64``.
    training : bool
        False: ``x`` is returned as it is (the same object).
    return_mask : bool or {"bool", "bits"}
        Also return the keep-mask, lazily.  True or "bool": a bool dask array
        with x's chunks.  "bits": a 1-D uint8 dask array holding, for each
        block of ``x`` in the C order of the block grid,
        ``np.packbits(block_mask.ravel(), bitorder="little")`` — one chunk per
        block, of ``ceil(block.size / 8)`` bytes (so it is *not* the packed
        mask of the whole array unless ``x`` has one block).

    Returns
    -------
    y : dask.array.Array
        x's shape, dtype and chunks; ``x`` itself when ``training`` is false
        or ``p == 0``.
    mask : dask.array.Array
        Only with ``return_mask``.  ``y`` and the mask then come from one
        task per block (one pass), so ``dask.compute(y, mask)`` draws each
        block once.

    Raises
    ------
    TypeError, ValueError
        At once (not at compute time), with the messages of `cydrop.dropout`:
        bad ``p``, dtype, ``seed``, ``offset`` or ``return_mask``.
        A ValueError too when ``x``'s chunk sizes are unknown (NaN, as after
        boolean indexing) and a mask is drawn or zeros are made (training
        with ``0 < p <= 1``, or any ``return_mask``): the mask depends on each
        element's global position; call ``x.compute_chunk_sizes()`` first.

    Examples
    --------
    >>> import numpy as np, dask.array as da, cydrop, cydrop.dask
    >>> a = np.arange(24, dtype=np.float32).reshape(4, 6)
    >>> y = cydrop.dask.dropout(da.from_array(a, chunks=(3, 4)), 0.5, seed=1)
    >>> bool(np.array_equal(y.compute(), cydrop.dropout(a, 0.5, seed=1)))
    True
    """
    p = check_p(p)
    training = check_training(training)
    seed = check_u64(seed, "seed")
    offset = check_u64(offset, "offset")
    kind = check_return_mask(return_mask)
    x = _check_dask_float(x, "x")
    if (not training or p == 0.0) and not kind:
        return x   # no positions needed: unknown chunk sizes are fine
    _check_known_chunks(x, "x", "dropout")
    if not training or p == 0.0:
        return x, _as_kind(_bool_mask(x.chunks, seed, offset, 0.0), kind)
    if p == 1.0:
        y = da.zeros(x.shape, dtype=x.dtype, chunks=x.chunks)
        return (y, _as_kind(_bool_mask(x.chunks, seed, offset, 1.0), kind)) if kind else y
    if kind:
        # one task per block draws, scales and keeps the flags in one pass;
        # y and the mask are its two halves
        pair = da.map_blocks(_fused_block, x, dtype=object, meta=np.empty((0,) * x.ndim, object),
                             seed=seed, offset=offset, thr=_kernels.threshold(p),
                             scale=1.0 / (1.0 - p), with_mask=True, token="cydrop-dropout-pair")
        y = pair.map_blocks(_first, dtype=x.dtype, meta=x._meta, token="cydrop-dropout")
        m = pair.map_blocks(_second, dtype=bool, meta=np.empty((0,) * x.ndim, bool),
                            token="cydrop-mask")
        return y, _as_kind(m, kind)
    return _fused(x, seed, offset, p, "cydrop-dropout")


def _fused(x: da.Array, seed: int, offset: int, p: float, label: str) -> da.Array:
    thr = _kernels.threshold(p)
    scale = 1.0 / (1.0 - p)
    return da.map_blocks(_fused_block, x, dtype=x.dtype, meta=x._meta, seed=seed,
                         offset=offset, thr=thr, scale=scale,
                         token=label)


def dropout_backward(grad: da.Array, p: float = 0.5, *, seed: SupportsIndex,
                     offset: SupportsIndex = 0) -> da.Array:
    """Gradient of `dropout` on a Dask array, with each block's mask
    regenerated from ``(seed, offset)`` where the block is computed (no mask
    stored or shipped): bit for bit ``cydrop.dropout_backward(grad, p=p,
    seed=seed, offset=offset)``.

    Errors as `dropout`, at once.

    Parameters
    ----------
    grad : dask.array.Array of float16, float32 or float64
        Of the forward input's shape, any chunking (it need not match the
        forward's).
    p : float
        The forward's drop probability.  ``p == 1`` gives zeros; ``p == 0``
        returns ``grad`` itself (the values the in-memory function returns
        in a new array).
    seed, offset : int
        The forward's stream key and position.

    Returns
    -------
    dask.array.Array
        The gradient, with grad's chunks.

    Examples
    --------
    >>> import numpy as np, dask.array as da, cydrop, cydrop.dask
    >>> g = np.full((5, 3), 2.0)
    >>> dx = cydrop.dask.dropout_backward(da.from_array(g, chunks=2), 0.25, seed=9)
    >>> bool(np.array_equal(dx.compute(), cydrop.dropout_backward(g, p=0.25, seed=9)))
    True
    """
    p = check_p(p)
    seed = check_u64(seed, "seed")
    offset = check_u64(offset, "offset")
    grad = _check_dask_float(grad, "grad")
    if p == 0.0:
        return grad
    _check_known_chunks(grad, "grad", "dropout_backward")
    if p == 1.0:
        return da.zeros(grad.shape, dtype=grad.dtype, chunks=grad.chunks)
    return _fused(grad, seed, offset, p, "cydrop-dropout-backward")


def keep_mask(shape: ShapeLike, p: float, seed: SupportsIndex, offset: SupportsIndex = 0, *,
              chunks: Any = "auto", packed: bool = False) -> da.Array:
    """The keep-mask `dropout` draws for an array of ``shape``, as a lazy
    bool dask array, bit for bit ``cydrop.keep_mask(shape, p, seed, offset)``.

    Parameters
    ----------
    shape : int or tuple of int
        The array's shape.
    p : float
        Drop probability, in [0, 1].
    seed, offset : int
        The stream's key and the position of element 0.
    chunks : str, int or tuple
        The mask's chunks, any form ``dask.array`` accepts.
    packed : bool
        One packed block per chunk, the layout of
        ``dropout(..., return_mask="bits")``.

    Returns
    -------
    dask.array.Array
        The mask.

    Examples
    --------
    >>> import numpy as np, cydrop, cydrop.dask
    >>> m = cydrop.dask.keep_mask((7, 5), 0.5, seed=3, chunks=(3, 2))
    >>> bool(np.array_equal(m.compute(), cydrop.keep_mask((7, 5), 0.5, seed=3)))
    True
    """
    p = check_p(p)
    seed = check_u64(seed, "seed")
    offset = check_u64(offset, "offset")
    shape, _ = check_shape(shape)
    chunks = da.core.normalize_chunks(chunks, shape, dtype=bool)
    m = _bool_mask(chunks, seed, offset, p)
    return _packed(m) if packed else m
