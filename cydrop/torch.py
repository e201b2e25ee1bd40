"""cydrop inside PyTorch: ``cydrop.torch.dropout`` / ``cydrop.torch.Dropout``,
drop-in replacements for ``torch.nn.functional.dropout`` / ``torch.nn.Dropout``
on CPU tensors, with autograd and ``torch.compile`` (``fullgraph=True``).

Needs the ``torch`` extra (``pip install "cydrop[torch]"``, torch >= 2.4);
``import cydrop`` itself never imports torch.

Custom operators, registered with ``torch.library.custom_op`` when this
module is imported (docs/design.md, "cydrop.torch")::

    cydrop::dropout(Tensor input, float p, Tensor seed, SymInt offset, bool store_mask)
        -> (Tensor out, Tensor mask_bits)
    cydrop::dropout_backward(Tensor grad, Tensor mask_bits, float p, Tensor seed,
                             SymInt offset) -> Tensor
    cydrop::dropout_(Tensor(a!) input, float p, Tensor seed, SymInt offset) -> ()

and for each of dropout1d, dropout2d, dropout3d, alpha_dropout and
feature_alpha_dropout a pair ``cydrop::<name>`` / ``cydrop::<name>_backward``
with the schemas of ``cydrop::dropout`` / ``cydrop::dropout_backward`` (the
mask then has one bit per element of the noise shape: ``N * C`` for the
channel-wise ones).

They run cydrop's kernels on the tensors' own memory (``Tensor.numpy()``
views, any strides; no copies).  ``seed`` is an int64 tensor of 2 elements,
the low and high 32-bit halves of the 64-bit Philox key (so every key in
[0, 2**64) round-trips through torch's signed int64, and a key drawn from a
torch generator is a tensor op that ``torch.compile`` traces); ``offset`` is
the stream position as a signed int64 (two's complement of the unsigned
position).  ``mask_bits`` is the keep-mask packed one bit per element
(``np.packbits(mask.ravel(), bitorder="little")``), or empty when
``store_mask`` is false: the backward then regenerates the mask from
``(seed, offset)``.

Seeding: without ``seed=``, each training call draws its key from torch's
default CPU generator (or ``generator=``) as
``torch.randint(0, 2**32, (2,), dtype=torch.int64)`` -- low half first --
and uses stream position 0, so ``torch.manual_seed(s)`` makes a run
reproducible.  The mask is then a function of the key and each element's
C-order position only: the same on every thread count
(``torch.set_num_threads``), memory layout and machine; torch's own CPU
masks follow the tensor's memory layout (a column-major copy of the same
values gets another mask; ``examples/plot_torch_threads.py`` shows both).

Fallback: tensors that are not on the CPU, or of a dtype the kernels lack
(bfloat16, ...; the kernels take float16, float32 and float64), go
to ``torch.nn.functional.dropout`` (torch's masks and speed).

Examples
--------
>>> import torch, cydrop.torch
>>> x = torch.ones(2, 8, requires_grad=True)
>>> torch.manual_seed(0) and None
>>> y = cydrop.torch.dropout(x, 0.5)
>>> y.sum().backward()
>>> bool(torch.equal(x.grad, y.detach()))
True
>>> model = torch.nn.Sequential(torch.nn.Linear(8, 8), cydrop.torch.Dropout(p=0.25))
>>> model[1]
Dropout(p=0.25, inplace=False)
"""
import collections
import queue
import threading
import weakref
from typing import (TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Literal, Optional,
                    Protocol, Sequence, SupportsIndex, SupportsInt, Tuple, TypeVar, cast)

import numpy as np
import numpy.typing as npt

from . import _core, _kernels, _processes
from . import functional as _functional
from ._checks import FLOAT_DTYPES, U64, check_p, check_u64, check_written, packed_size
from ._optional import import_torch

if TYPE_CHECKING:     # for type checkers, the module itself (import_torch returns it)
    import torch
else:
    torch = import_torch()
if torch is None:
    raise ImportError('cydrop.torch needs PyTorch: pip install "cydrop[torch]"')
if not hasattr(torch.library, "custom_op") or not hasattr(torch.library, "register_fake"):
    raise ImportError(f"cydrop.torch needs torch >= 2.4 (torch.library.custom_op), "
                      f"found torch {torch.__version__}")

from torch import Tensor  # noqa: E402

# torch's own functions, for the fallback: taken now, so that a program
# that later patches torch.nn.functional.dropout (or a family member) with
# cydrop's does not make the fallback call itself
_TF = torch.nn.functional
_TORCH_DROPOUT = _TF.dropout

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
           "FeatureAlphaDropout", "dropout", "dropout1d", "dropout2d", "dropout3d",
           "alpha_dropout", "feature_alpha_dropout", "convert_dropout", "seed_tensor",
           "seed_value", "kernel_dtypes", "set_result_cache", "result_cache_bytes"]

_M32 = (1 << 32) - 1
_MASK_STORAGES = ("bits", "recompute")

#: ``mask_storage`` of cydrop.torch: the packed mask, or only the key
TorchMaskStorage = Literal["bits", "recompute"]
_Array = npt.NDArray[Any]
_Bits = npt.NDArray[np.uint8]


# ---------------------------------------------------------------------------
# Seeds and positions through torch's signed int64 arguments


def seed_tensor(seed: SupportsIndex) -> Tensor:
    """A 64-bit Philox key in [0, 2**64) as the custom ops take it: an int64
    tensor ``[seed & (2**32 - 1), seed >> 32]`` (low half first).

    Parameters
    ----------
    seed : int
        The key, in [0, 2**64).

    Returns
    -------
    torch.Tensor
        int64, 2 elements.

    Examples
    --------
    >>> seed_value(seed_tensor(2**64 - 1)) == 2**64 - 1
    True
    """
    seed = check_u64(seed, "seed")
    return torch.tensor([seed & _M32, seed >> 32], dtype=torch.int64)


def seed_value(key: Tensor) -> int:
    """The 64-bit key a seed tensor (`seed_tensor`, or a generator draw)
    holds: ``(key[0] mod 2**32) + (key[1] mod 2**32) * 2**32``.

    Parameters
    ----------
    key : torch.Tensor
        int64, 2 elements (low half first).

    Returns
    -------
    int
        The key, in [0, 2**64).
    """
    lo, hi = (int(v) for v in key.tolist())
    return (lo & _M32) | ((hi & _M32) << 32)


def _draw_seed(generator: Optional[torch.Generator]) -> Tensor:
    """A fresh key from torch's default CPU generator (or ``generator``): two
    32-bit words, as one traceable tensor op."""
    return torch.randint(0, 1 << 32, (2,), dtype=torch.int64, generator=generator)


_KEY_BUFFERS = threading.local()
_KEY_RANGE = 1 << 32


def _draw_key(generator: Optional[torch.Generator]) -> int:
    """`_draw_seed`'s key as an int, for the eager path: the same draw
    (``torch.randint`` is ``empty(size).random_(low, high, generator)``: the
    same words, the generator left in the same state) into this thread's
    own two-element buffer, which saves the tensor's allocation (~0.8 us)."""
    try:
        buf = _KEY_BUFFERS.buf
    except AttributeError:
        buf = _KEY_BUFFERS.buf = torch.empty(2, dtype=torch.int64)
    if generator is None:
        lo, hi = buf.random_(0, _KEY_RANGE).tolist()
    else:
        lo, hi = buf.random_(0, _KEY_RANGE, generator=generator).tolist()
    return int(lo) | (int(hi) << 32)


def _offset_arg(offset: int) -> int:
    """An unsigned stream position as a signed int64 schema argument."""
    return offset - U64 if offset >= (1 << 63) else offset


def _offset_value(offset: SupportsInt) -> int:
    return int(offset) % U64


def _check_key(seed: Tensor) -> None:
    if seed.dtype != torch.int64 or seed.shape != (2,):
        raise ValueError(f"seed must be an int64 tensor of shape (2,) (the key's low and "
                         f"high 32-bit halves; see cydrop.torch.seed_tensor), got "
                         f"{seed.dtype} of shape {tuple(seed.shape)}")


# ---------------------------------------------------------------------------
# What the kernels read


def _torch_dtype(np_dtype: npt.DTypeLike) -> torch.dtype:
    return torch.from_numpy(np.empty(0, dtype=np_dtype)).dtype


def kernel_dtypes() -> frozenset[torch.dtype]:
    """The torch dtypes cydrop's kernels handle (others fall back to torch):
    those of the NumPy API (float16, float32, float64)."""
    return _KERNEL_DTYPES


_KERNEL_DTYPES = frozenset(_torch_dtype(d) for d in FLOAT_DTYPES)


def _runs_here(t: Tensor) -> bool:
    return t.device.type == "cpu" and t.dtype in _KERNEL_DTYPES


def _numpy_view(t: Tensor) -> _Array:
    """A NumPy view of a CPU tensor's memory (its strides and offset), for
    reading: no copy unless the tensor carries a lazy negation/conjugation
    (``Tensor.numpy`` refuses those: resolved into a copy)."""
    if t.requires_grad:
        t = t.detach()
    try:
        return t.numpy()
    except RuntimeError:
        if not (t.is_neg() or t.is_conj()):
            raise
    return t.resolve_neg().resolve_conj().numpy()


_NUMPY_DTYPES = {_torch_dtype(d): np.dtype(d) for d in FLOAT_DTYPES}


def _numel(shape: Iterable[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


class _ResultCache:
    """Result buffers of at least ``MIN_BYTES``, kept for reuse once their
    tensors are gone, up to ``max_bytes`` in all (oldest dropped first).

    A training loop asks for results of the same sizes every step; a fresh
    2**24-element result costs the kernel's page zeroing and faults (~8 ms
    here, about as much as the dropout itself), a recycled one nothing.  A
    buffer comes back only when the last tensor or array using its memory
    is freed (a ``weakref.finalize`` on the array the tensor wraps), so a
    live tensor's memory is never handed out twice.  torch's own CPU
    allocator caches nothing; `set_result_cache` (0 turns it off) bounds
    what this one holds.

    The finalizer never waits for the lock: it may run from a garbage
    collection that starts while this very thread holds it (inside
    `empty`), or on another thread.  It puts the buffer on a
    ``queue.SimpleQueue`` (whose ``put`` is safe from finalizers, reentrant
    included), then files what is queued only if the lock is free at once;
    otherwise the next `empty`, `held` or `resize` files it.
    """
    MIN_BYTES = 1 << 20

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        # id -> (nbytes, buffer), oldest first
        self._free: collections.OrderedDict[int, Tuple[int, _Bits]] = collections.OrderedDict()
        self._held = 0
        # buffers given back, not yet filed
        self._returned: queue.SimpleQueue[_Bits] = queue.SimpleQueue()
        self._lock = threading.Lock()

    def empty(self, shape: Tuple[int, ...], dtype: np.dtype[Any]) -> _Array:
        nbytes = _numel(shape) * dtype.itemsize
        if nbytes < self.MIN_BYTES or nbytes > self.max_bytes:
            return np.empty(shape, dtype=dtype)
        base = None
        with self._lock:
            self._file()
            for key, (size, buf) in self._free.items():
                if size == nbytes:
                    del self._free[key]
                    self._held -= size
                    base = buf
                    break
        if base is None:
            base = np.empty(nbytes, dtype=np.uint8)
        arr = base.view(dtype).reshape(shape)
        weakref.finalize(arr, self._give, base).atexit = False
        return arr

    def _give(self, base: _Bits) -> None:
        """The finalizer: never blocks (see the class docstring)."""
        self._returned.put(base)
        if self._lock.acquire(blocking=False):
            try:
                self._file()
            finally:
                self._lock.release()

    def _file(self) -> None:
        """Move returned buffers into the free list, then trim it to
        ``max_bytes`` (the lock held)."""
        while True:
            try:
                base = self._returned.get_nowait()
            except queue.Empty:
                break
            if base.nbytes <= self.max_bytes:
                self._free[id(base)] = (base.nbytes, base)
                self._held += base.nbytes
        while self._held > self.max_bytes:
            _, (size, _) = self._free.popitem(last=False)
            self._held -= size

    def resize(self, max_bytes: int) -> None:
        with self._lock:
            self.max_bytes = max_bytes
            self._file()

    def held(self) -> int:
        with self._lock:
            self._file()
            return self._held

    def _after_fork(self, index: int) -> None:
        """A forked child: the lock may have been held by a thread that the
        child does not have; a new one (the buffers are the child's copies)."""
        self._lock = threading.Lock()


_RESULT_CACHE = _ResultCache(256 << 20)
_processes.at_fork_child(_RESULT_CACHE._after_fork)


def set_result_cache(max_bytes: SupportsIndex) -> int:
    """Bound the memory `cydrop.torch` keeps in freed result buffers for
    reuse (default 256 MiB; 0 turns the cache off and frees what it holds).
    Only buffers of at least 1 MiB are kept.

    Parameters
    ----------
    max_bytes : int
        The new bound, in bytes.

    Returns
    -------
    int
        The previous bound.
    """
    max_bytes = check_u64(max_bytes, "max_bytes")
    before = _RESULT_CACHE.max_bytes
    _RESULT_CACHE.resize(max_bytes)
    return before


def result_cache_bytes() -> int:
    """Bytes held by the result cache now (buffers waiting for reuse)."""
    return _RESULT_CACHE.held()


def _result_like(t: Tensor, fake: bool = False) -> Tensor:
    """An uninitialised tensor for a result of ``t``'s shape and dtype:
    C-contiguous when ``t`` is contiguous, else ``torch.empty_like(t)``'s
    layout.  The real one is allocated by NumPy (through `_ResultCache`),
    which asks the kernel for transparent huge pages on large buffers: a
    fresh 2**24-element result costs a fraction of the page faults of
    torch's allocator (whose huge pages need ``THP_MEM_ALLOC_ENABLE=1``)."""
    if not t.is_contiguous():
        return torch.empty_like(t)
    if fake or t.dtype not in _NUMPY_DTYPES:
        return torch.empty(t.shape, dtype=t.dtype, device=t.device)
    return torch.from_numpy(_RESULT_CACHE.empty(tuple(t.shape), _NUMPY_DTYPES[t.dtype]))


def _sync_threads() -> None:
    """The kernels use as many threads as torch (``torch.set_num_threads``);
    the masks do not depend on it."""
    n = torch.get_num_threads()
    if _kernels.get_num_threads() != n:
        _kernels.set_num_threads(n)


# ---------------------------------------------------------------------------
# The custom operators.  One "variant" of dropout is a pair of functional
# operators, ``cydrop::<name>`` and ``cydrop::<name>_backward``, with the
# schemas of the module docstring, fake implementations, autograd (the
# backward is linear in the gradient, so its own gradient applies the same
# mask: double backward works) and an eager fast path.  A variant is defined
# by its NumPy-level kernel calls and by how many elements its mask covers
# (docs/design.md, "cydrop.torch", for channel-wise and alpha dropout).


# the NumPy-level calls of a variant (see _Variant)
_Forward = Callable[[_Array, float, int, int, _Array, bool], Optional[_Bits]]
_Backward = Callable[[_Array, float, Optional[_Bits], int, int, _Array], None]


def _plain_forward(x: _Array, p: float, seed: int, offset: int, out: _Array,
                   want_bits: bool) -> Optional[_Bits]:
    """``cydrop.dropout`` into ``out``; the packed mask when ``want_bits``."""
    if want_bits:
        return _functional.dropout(x, p, seed=seed, offset=offset, out=out,
                                   return_mask="bits")[1]
    _functional.dropout(x, p, seed=seed, offset=offset, out=out)
    return None


def _plain_backward(g: _Array, p: float, bits: Optional[_Bits], seed: int, offset: int,
                    out: _Array) -> None:
    """``cydrop.dropout_backward`` into ``out``: from the packed mask, or the
    mask regenerated from ``(seed, offset)`` when ``bits`` is None."""
    if bits is None:
        _functional.dropout_backward(g, None, p, seed=seed, offset=offset, out=out)
    else:
        _functional.dropout_backward(g, bits, p, out=out)


class _Variant:
    """The operators, autograd and eager path of one dropout variant.

    ``forward(x, p, seed, offset, out, want_bits)`` and
    ``backward(g, p, bits, seed, offset, out)`` are the NumPy-level kernel
    calls (arrays are views of the tensors' memory; ``seed`` and ``offset``
    unsigned); ``mask_elements(shape)`` is the number of mask elements for an
    input of ``shape`` (``mask_bits`` holds ``ceil(mask_elements / 8)``
    bytes)."""

    def __init__(self, name: str, forward: _Forward, backward: _Backward,
                 mask_elements: Callable[[Tuple[int, ...]], int]) -> None:
        self.name = name
        self._forward, self._backward = forward, backward
        self.mask_elements = mask_elements
        variant = self

        def op(input: Tensor, p: float, seed: Tensor, offset: int,
               store_mask: bool) -> tuple[Tensor, Tensor]:
            return variant.forward_impl(input, p, seed, offset, store_mask)

        def backward_op(grad: Tensor, mask_bits: Tensor, p: float, seed: Tensor,
                        offset: int) -> Tensor:
            return variant.backward_impl(grad, mask_bits, p, seed, offset)

        op.__doc__ = (f"Forward of {name}: ``(out, mask_bits)``; ``out`` C-contiguous for "
                      f"a contiguous ``input``, else laid out as ``torch.empty_like``.")
        backward_op.__doc__ = (f"Gradient of {name}: the mask from ``mask_bits``, or "
                               f"regenerated from ``(seed, offset)`` when it is empty.")
        self.op = torch.library.custom_op(f"cydrop::{name}", op, mutates_args=(),
                                          device_types="cpu")
        self.backward_op = torch.library.custom_op(f"cydrop::{name}_backward", backward_op,
                                                   mutates_args=(), device_types="cpu")
        self.op.register_fake(self._fake)
        self.backward_op.register_fake(self._backward_fake)
        self.op.register_autograd(self._grad, setup_context=self._setup_context)
        self.backward_op.register_autograd(self._grad, setup_context=self._setup_context)
        self.eager = cast("type[_EagerFunction]",
                          type(f"_Eager_{name}", (_EagerFunction,), {"variant": self}))
        self.eager_apply = _function_apply(self.eager)

    # -- kernels --------------------------------------------------------------
    # run_forward / run_backward: the kernels on checked arguments (``p`` in
    # [0, 1], ``seed`` and ``offset`` unsigned ints, the mask as a NumPy
    # array or None); the operators and the eager path both end here.
    def run_forward(self, input: Tensor, p: float, seed: int, offset: int,
                    store_mask: bool) -> Tuple[Tensor, Optional[_Bits]]:
        """``(out, packed mask or None)`` of the forward on ``input``."""
        x = _numpy_view(input)
        out = _result_like(input)
        _sync_threads()
        return out, self._forward(x, p, seed, offset, out.numpy(), store_mask)

    def run_backward(self, grad: Tensor, p: float, bits: Optional[_Bits], seed: int,
                     offset: int) -> Tensor:
        """The gradient of ``grad``: from the packed mask ``bits``, or the
        mask regenerated from ``(seed, offset)`` when it is None."""
        g = _numpy_view(grad)
        out = _result_like(grad)
        _sync_threads()
        self._backward(g, p, bits, seed, offset, out.numpy())
        return out

    def forward_impl(self, input: Tensor, p: float, seed: Tensor, offset: int,
                     store_mask: bool) -> Tuple[Tensor, Tensor]:
        _check_key(seed)
        out, bits = self.run_forward(input, check_p(p), seed_value(seed),
                                     _offset_value(offset), bool(store_mask))
        if bits is None:
            return out, torch.empty(0, dtype=torch.uint8)
        return out, torch.from_numpy(bits)

    def backward_impl(self, grad: Tensor, mask_bits: Tensor, p: float, seed: Tensor,
                      offset: int) -> Tensor:
        _check_key(seed)
        p = check_p(p)
        m = self.mask_elements(tuple(grad.shape))
        if mask_bits.numel() == 0 and m > 0:
            bits = None
        else:
            if mask_bits.dtype != torch.uint8 or mask_bits.numel() != packed_size(m):
                raise ValueError(f"mask_bits must be uint8 with ceil({m} / 8) = "
                                 f"{packed_size(m)} elements (or empty), got "
                                 f"{mask_bits.dtype} with {mask_bits.numel()}")
            bits = _numpy_view(mask_bits).reshape(-1)
        return self.run_backward(grad, p, bits, seed_value(seed), _offset_value(offset))

    # -- fake (shapes only) ---------------------------------------------------
    def _fake(self, input: Tensor, p: float, seed: Tensor, offset: int,
              store_mask: bool) -> Tuple[Tensor, Tensor]:
        _check_key(seed)
        nbytes = (self.mask_elements(tuple(input.shape)) + 7) // 8 if store_mask else 0
        return _result_like(input, fake=True), input.new_empty((nbytes,), dtype=torch.uint8)

    def _backward_fake(self, grad: Tensor, mask_bits: Tensor, p: float, seed: Tensor,
                       offset: int) -> Tensor:
        _check_key(seed)
        return _result_like(grad, fake=True)

    # -- autograd -------------------------------------------------------------
    @staticmethod
    def _setup_context(ctx: Any, inputs: Tuple[Any, ...], output: Any) -> None:
        # forward: (input, p, seed, offset, store_mask) -> (out, mask_bits)
        # backward: (grad, mask_bits, p, seed, offset) -> out
        if isinstance(output, tuple):
            _, p, seed, offset, _ = inputs
            bits = output[1]
        else:
            _, bits, p, seed, offset = inputs
        ctx.p, ctx.offset = p, offset
        ctx.save_for_backward(bits, seed)

    def _grad(self, ctx: Any, grad: Tensor,
              *_unused: Any) -> Tuple[Tensor, None, None, None, None]:
        bits, seed = ctx.saved_tensors
        return self.backward_op(grad, bits, ctx.p, seed, ctx.offset), None, None, None, None

    def apply(self, input: Tensor, p: float, seed: Tensor, offset: int,
              store_mask: bool) -> Tensor:
        """``out`` of the forward, through the fast path or the operator."""
        if _eager(input):
            return self.eager_call(input, p, seed_value(seed), _offset_value(offset),
                                   store_mask)
        out: Tensor = self.op(input, p, seed, offset, store_mask)[0]
        return out

    def eager_call(self, input: Tensor, p: float, seed: int, offset: int,
                   store_mask: bool) -> Tensor:
        """The eager path (`_eager` holds for ``input``; ``p`` checked,
        ``seed`` and ``offset`` unsigned): the kernels straight away when no
        gradient is needed, else through the variant's autograd.Function."""
        if input.requires_grad and torch.is_grad_enabled():
            out: Tensor = self.eager_apply(_unwrap_if_dead(input), p, seed, offset,
                                           store_mask)
            return out
        return self.run_forward(input, p, seed, offset, False)[0]


class _EagerFunction(torch.autograd.Function):
    """The eager fast path: the same kernel calls as a variant's operators
    and their registered autograd, without the custom-operator dispatch in
    Python (~100 us a forward + backward, which at 2**16 elements is more
    than the kernels' time).  Used only for plain tensors outside
    torch.compile, tracing, dispatch modes and functorch transforms;
    everything else goes through the operators.

    Applied through `_function_apply` (not ``Function.apply``'s Python
    wrapper), with ``seed`` and ``offset`` as unsigned ints: the key is not
    a tensor input of the node.  The packed mask is saved as a tensor
    viewing the forward's array (freed after the backward, as the operators'
    saved mask is)."""
    variant: ClassVar[_Variant] = None  # type: ignore[assignment]  # each subclass's

    @classmethod
    def forward(cls, ctx: Any, input: Tensor, p: float, seed: int, offset: int,
                store_mask: bool) -> Tensor:
        out, ctx.bits = cls.variant.run_forward(input, p, seed, offset, store_mask)
        ctx.p, ctx.seed, ctx.offset = p, seed, offset
        return out

    @classmethod
    def backward(cls, ctx: Any, grad: Tensor) -> Tuple[Tensor, None, None, None, None]:
        if torch.is_grad_enabled():      # create_graph=True: differentiable backward
            bits = (torch.empty(0, dtype=torch.uint8) if ctx.bits is None
                    else torch.from_numpy(ctx.bits))
            dx = cls.variant.backward_op(grad, bits, ctx.p, seed_tensor(ctx.seed),
                                         _offset_arg(ctx.offset))
        else:
            dx = cls.variant.run_backward(grad, ctx.p, ctx.bits, ctx.seed, ctx.offset)
        return dx, None, None, None, None


def _function_apply(cls: "type[torch.autograd.Function]") -> Callable[..., Tensor]:
    """``cls.apply`` without ``torch.autograd.Function.apply``'s Python
    wrapper: the C ``_FunctionBase.apply`` bound to ``cls`` (the wrapper
    binds default arguments for ``setup_context``, which `_EagerFunction`
    does not define, routes functorch transforms, which `_eager` sends to the
    operators, and unwraps dead functorch wrappers, which `eager_call` does:
    ~1.5 us a call).  The wrapper itself if the private API is gone."""
    try:
        apply = torch._C._FunctionBase.__dict__["apply"].__get__(None, cls)
    except (AttributeError, KeyError, TypeError):
        return cast(Callable[..., Tensor], cls.apply)
    return cast(Callable[..., Tensor], apply)


# what Function.apply does to its tensor arguments outside functorch
# transforms (a no-op for a plain tensor; the identity if the private API is gone)
_unwrap_if_dead: Callable[[Tensor], Tensor] = (
    getattr(getattr(torch._C, "_functorch", None), "unwrap_if_dead", None) or (lambda t: t))


def _eager(t: Tensor) -> bool:
    """Whether ``t`` may take the fast path (a plain tensor, no compile,
    no torch-function or dispatch mode, no functorch transform)."""
    if type(t) is not torch.Tensor or torch.compiler.is_compiling():
        return False
    try:
        return (not torch._C._is_torch_function_mode_enabled()
                and torch._C._len_torch_dispatch_stack() == 0
                and not torch._C._are_functorch_transforms_active())
    except AttributeError:      # private API gone: always the operator
        return False


class _PlainVariant(_Variant):
    """``cydrop::dropout``: the one-call entries (``_kernels.default_forward``
    with ``bits_out``, ``default_masked``) on a contiguous tensor's NumPy
    view, with the result allocated by the entry (NumPy, C-contiguous; from
    the result cache from ``_ResultCache.MIN_BYTES`` on): the same kernel
    calls, masks and results as `_plain_forward` / `_plain_backward`
    through ``cydrop.dropout``'s checks, at ~1 us instead of ~4.  Anything
    the entries decline (a strided tensor, ``p`` of 0 or 1, ...) goes
    there."""

    def run_forward(self, input: Tensor, p: float, seed: int, offset: int,
                    store_mask: bool) -> Tuple[Tensor, Optional[_Bits]]:
        if 0.0 < p < 1.0 and input.is_contiguous():
            x = _numpy_view(input)
            bits = np.empty((x.size + 7) >> 3, dtype=np.uint8) if store_mask else None
            _sync_threads()
            res = _kernels.default_forward(x, p, _cached_result(x), False, seed, offset,
                                           False, bits)
            if res is not None:
                return torch.from_numpy(res), bits
        return super().run_forward(input, p, seed, offset, store_mask)

    def run_backward(self, grad: Tensor, p: float, bits: Optional[_Bits], seed: int,
                     offset: int) -> Tensor:
        if 0.0 < p < 1.0 and grad.is_contiguous():
            g = _numpy_view(grad)
            _sync_threads()
            if bits is None:
                res = _kernels.default_forward(g, p, _cached_result(g), False, seed, offset)
            else:
                res = _kernels.default_masked(g, bits, p, _cached_result(g))
            if res is not None:
                return torch.from_numpy(res)
        return super().run_backward(grad, p, bits, seed, offset)


def _cached_result(x: _Array) -> Optional[_Array]:
    """A C-contiguous result buffer for ``x`` from the result cache, or None
    (the entry allocates it) below ``_ResultCache.MIN_BYTES``."""
    if x.nbytes < _ResultCache.MIN_BYTES:
        return None
    return _RESULT_CACHE.empty(x.shape, x.dtype)


_DROPOUT = _PlainVariant("dropout", _plain_forward, _plain_backward, _numel)


# The dropout family (cydrop.dropout1d/2d/3d, alpha_dropout,
# feature_alpha_dropout): masks of a noise shape broadcast over the input,
# one stream word per mask element.  The public functions raise torch's
# rank errors and warnings once, up front; the operators compute the noise
# shape quietly.

_BATCHED_RANK = {"dropout1d": 3, "dropout3d": 5}


def _noise_of(name: str, shape: Sequence[int]) -> Optional[Tuple[int, ...]]:
    """The noise shape of variant ``name`` for an input of ``shape`` (None:
    one flag per element), as cydrop's NumPy functions use it."""
    shape = tuple(shape)
    if name == "alpha_dropout":
        return None
    if name in ("dropout2d", "feature_alpha_dropout") or len(shape) == _BATCHED_RANK[name]:
        return _core.feature_noise(shape, True)
    # (not None: with True, feature_noise raises for fewer than 2 axes)
    return _core.feature_noise((1,) + shape, True)[1:]  # type: ignore[index]


def _family_variant(name: str, alpha: bool) -> _Variant:
    def forward(x: _Array, p: float, seed: int, offset: int, out: _Array,
                want_bits: bool) -> Optional[_Bits]:
        noise = _noise_of(name, x.shape)
        fn = _functional.alpha_dropout if alpha else _functional.dropout
        res = fn(x, p, True, seed=seed, offset=offset, out=out, noise_shape=noise,
                 return_mask="bits" if want_bits else False)
        return res[1] if want_bits else None

    def backward(g: _Array, p: float, bits: Optional[_Bits], seed: int, offset: int,
                 out: _Array) -> None:
        noise = _noise_of(name, g.shape)
        fn = _functional.alpha_dropout_backward if alpha else _functional.dropout_backward
        if bits is None:
            fn(g, None, p, seed=seed, offset=offset, noise_shape=noise, out=out)
        else:
            fn(g, bits, p, noise_shape=noise, out=out)

    def mask_elements(shape: Tuple[int, ...]) -> int:
        noise = _noise_of(name, shape)
        return _numel(shape if noise is None else noise)

    return _Variant(name, forward, backward, mask_elements)


_FAMILY = {name: _family_variant(name, alpha) for name, alpha in (
    ("dropout1d", False), ("dropout2d", False), ("dropout3d", False),
    ("alpha_dropout", True), ("feature_alpha_dropout", True))}


_OVERLAP_MESSAGE = ("unsupported operation: more than one element of the written-to tensor "
                    "refers to a single memory location. Please clone() the tensor before "
                    "performing the operation.")


@torch.library.custom_op("cydrop::dropout_", mutates_args=("input",), device_types="cpu")
def _dropout_inplace_op(input: Tensor, p: float, seed: Tensor, offset: int) -> None:
    """In place, for calls that need no gradient (autograd does not support
    mutating custom ops; `dropout` routes differentiable in-place calls
    through ``cydrop::dropout`` and ``copy_``)."""
    _check_key(seed)
    p = check_p(p)
    x = input.detach().numpy()
    try:
        check_written(x, "input")
    except ValueError:
        raise RuntimeError(_OVERLAP_MESSAGE) from None
    _sync_threads()
    _functional.dropout(x, p, inplace=True, seed=seed_value(seed),
                        offset=_offset_value(offset))


@_dropout_inplace_op.register_fake
def _dropout_inplace_fake(input: Tensor, p: float, seed: Tensor, offset: int) -> None:
    _check_key(seed)
    return None


# ---------------------------------------------------------------------------
# The functional and the module


def _check_inplace_autograd(input: Tensor) -> None:
    """torch's errors for an in-place op on a leaf (or a view of one) that
    requires grad, raised before anything is drawn or written."""
    if torch.compiler.is_compiling():
        return      # dynamo and AOT autograd check this themselves
    if input.is_leaf:
        raise RuntimeError("a leaf Variable that requires grad is being used in an "
                           "in-place operation.")
    base = input._base
    if base is not None and base.is_leaf and base.requires_grad:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in "
                           "an in-place operation.")


def _fallback(input: Tensor, p: float, training: bool, inplace: bool,
              generator: Optional[torch.Generator]) -> Tensor:
    """torch's own dropout, for tensors the kernels do not read (the
    function torch had when this module was imported: a program that
    patches ``torch.nn.functional.dropout`` with cydrop's must not send the
    fallback back here)."""
    if generator is None or not training or p == 0.0 or p == 1.0:
        return _TORCH_DROPOUT(input, p, training, inplace)
    noise = torch.empty_like(input).bernoulli_(1.0 - p, generator=generator).div_(1.0 - p)
    return input.mul_(noise) if inplace else input * noise


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
            *, generator: Optional[torch.Generator] = None,
            seed: Optional[SupportsIndex] = None, offset: SupportsIndex = 0,
            mask_storage: TorchMaskStorage = "bits") -> Tensor:
    """``torch.nn.functional.dropout`` on cydrop's kernels.

    Parameters
    ----------
    input : torch.Tensor
        float16/32/64 on the CPU, any strides, read where it lies (no copy).
        Other tensors fall back to ``torch.nn.functional.dropout``.
    p, training, inplace
        As ``torch.nn.functional.dropout`` (same errors; in place on a leaf
        that requires grad raises torch's RuntimeError).
    generator : torch.Generator, optional
        Where the call's 64-bit key is drawn from; default: torch's default
        CPU generator (so ``torch.manual_seed`` makes runs reproducible).
    seed, offset : int, optional
        Instead: the key and stream position themselves, in [0, 2**64); the
        mask is then ``cydrop.dropout``'s for the same ``seed`` and ``offset``
        (``cydrop.keep_mask(input.shape, p, seed, offset)``).
    mask_storage : {"bits", "recompute"}
        What autograd keeps for the backward: the mask packed 1 bit per
        element, or only the key (the mask regenerated in the backward).

    Returns
    -------
    torch.Tensor
        ``input`` itself when ``training`` is false, ``p == 0`` or the tensor
        is empty (as torch); ``input`` when ``inplace``.  Dropped elements are
        exactly 0.0 (NaN and inf included); the mask does not depend on the
        thread count.
    """
    # The common call, decided in a few comparisons (docs/design.md,
    # "cydrop.torch", "Eager fast path"): training out of place with a drawn
    # key, ``p`` a float in (0, 1), a plain non-empty CPU tensor of a kernel
    # dtype in eager mode.  The same key draw, kernels and results as below.
    if (type(p) is float and 0.0 < p < 1.0 and training is True and inplace is False
            and seed is None and type(offset) is int and offset == 0
            and type(input) is torch.Tensor and input.is_cpu
            and input.dtype in _KERNEL_DTYPES and type(mask_storage) is str
            and (mask_storage == "bits" or mask_storage == "recompute")
            and input.numel() and _eager(input)):
        return _DROPOUT.eager_call(input, p, _draw_key(generator), 0, mask_storage == "bits")
    p, seed, offset = _check_call(input, p, generator, seed, offset, mask_storage, training)
    if not _runs_here(input):
        if seed is not None:
            raise ValueError(f"seed= picks cydrop's stream, which needs a CPU tensor of "
                             f"dtype {sorted(str(d) for d in _KERNEL_DTYPES)}; got "
                             f"{input.dtype} on {input.device}")
        return _fallback(input, p, training, inplace, generator)
    if not training or p == 0.0 or input.numel() == 0:
        return input
    needs_grad = torch.is_grad_enabled() and input.requires_grad
    if inplace and needs_grad:
        _check_inplace_autograd(input)
    key = seed_tensor(seed) if seed is not None else _draw_seed(generator)
    pos = _offset_arg(offset)
    if inplace and not needs_grad:
        torch.ops.cydrop.dropout_(input, p, key, pos)
        return input
    store = needs_grad and mask_storage == "bits"
    out = _DROPOUT.apply(input, p, key, pos, store)
    if inplace:
        return input.copy_(out)
    return out


def _type_name(value: object) -> str:
    """A type's name as torch's argument parser shows it: ``str``,
    ``Tensor``, ``numpy.ndarray``, ``numpy.bool``."""
    kind = type(value)
    if kind.__module__ == "builtins" or isinstance(value, torch.Tensor):
        return kind.__name__
    return f"{kind.__module__.split('.')[0]}.{kind.__name__.rstrip('_')}"


def _torch_p(p: Any, name: str = "dropout") -> float:
    """``p`` as torch's functions take it: a float, int or bool, a NumPy
    scalar of those kinds, or a 0-d real tensor that needs no grad, in
    [0, 1]; another type is torch's TypeError (a 0-d ndarray, a Fraction, a
    string), a value out of range (or NaN) its ValueError."""
    if type(p) is float:
        return check_p(p)
    if isinstance(p, torch.Tensor):
        if p.dim() != 0 or p.requires_grad or p.is_complex():
            raise TypeError(f"{name}(): argument 'p' (position 2) must be float, not Tensor")
        p = p.item()
    elif not isinstance(p, (int, float, np.integer, np.floating, np.bool_)):
        raise TypeError(f"{name}(): argument 'p' (position 2) must be float, not "
                        f"{_type_name(p)}")
    return check_p(float(p))


def _torch_training(training: object, name: str = "dropout") -> bool:
    """``training`` as torch takes it: a Python bool, else its TypeError."""
    if training is True or training is False:
        return training
    raise TypeError(f"{name}(): argument 'train' (position 3) must be bool, not "
                    f"{_type_name(training)}")


def _check_call(input: object, p: object, generator: Optional[torch.Generator],
                seed: Optional[SupportsIndex], offset: Any, mask_storage: object,
                training: object = True,
                name: str = "dropout") -> Tuple[float, Optional[int], int]:
    """The arguments every public function checks, before anything runs:
    ``(p, seed, offset)`` checked."""
    p = _torch_p(p, name)
    _torch_training(training, name)
    if mask_storage not in _MASK_STORAGES:
        raise ValueError(f"mask_storage must be one of {_MASK_STORAGES}, got {mask_storage!r}")
    if seed is not None:
        if generator is not None:
            raise ValueError("give seed= or generator=, not both")
        seed = check_u64(seed, "seed")
        offset = check_u64(offset, "offset")
    elif offset:
        raise ValueError("offset= needs seed= (a drawn key always starts at position 0)")
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"input must be a torch.Tensor, got {type(input).__name__}")
    return p, seed, offset


def _family_call(name: str, torch_fn: Callable[..., Tensor], input: Tensor, p: float,
                 training: bool, inplace: bool, generator: Optional[torch.Generator],
                 seed: Optional[SupportsIndex], offset: SupportsIndex,
                 mask_storage: TorchMaskStorage) -> Tensor:
    """A family member through its `_Variant`: the checks, fallback, seed
    draw and in-place rules of `dropout` (in place through ``copy_``: the
    family has no mutating operator)."""
    p, seed, offset = _check_call(input, p, generator, seed, offset, mask_storage, training,
                                  name)
    if not _runs_here(input):
        if seed is not None or generator is not None:
            raise ValueError(f"seed=/generator= need cydrop's kernels: a CPU tensor of dtype "
                             f"{sorted(str(d) for d in _KERNEL_DTYPES)}; got {input.dtype} on "
                             f"{input.device} (torch's {name} takes neither)")
        return torch_fn(input, p, training, inplace)
    active = bool(training) and 0.0 < p < 1.0 and input.numel() > 0
    if name in ("dropout1d", "dropout2d", "dropout3d"):
        _core.channel_noise(name, tuple(input.shape), active, stacklevel=4)
    elif name == "feature_alpha_dropout":
        _core.feature_noise(tuple(input.shape), active)
    if not training or p == 0.0 or input.numel() == 0:
        return input
    needs_grad = torch.is_grad_enabled() and input.requires_grad
    if inplace and needs_grad:
        _check_inplace_autograd(input)
    if inplace and not torch.compiler.is_compiling():
        try:
            check_written(input.detach().numpy(), "input")
        except ValueError:
            raise RuntimeError(_OVERLAP_MESSAGE) from None
    key = seed_tensor(seed) if seed is not None else _draw_seed(generator)
    out = _FAMILY[name].apply(input, p, key, _offset_arg(offset),
                              needs_grad and mask_storage == "bits")
    if inplace:
        return input.copy_(out)
    return out


class _FamilyFunction(Protocol):
    """The signature of `dropout1d`, `dropout2d`, `dropout3d`, `alpha_dropout`
    and `feature_alpha_dropout` (`dropout`'s; ``training`` defaults to False for
    the alpha ones, as in torch)."""

    def __call__(self, input: Tensor, p: float = ..., training: bool = ...,
                 inplace: bool = ..., *, generator: Optional[torch.Generator] = ...,
                 seed: Optional[SupportsIndex] = ..., offset: SupportsIndex = ...,
                 mask_storage: TorchMaskStorage = ...) -> Tensor: ...


def _family_function(name: str, torch_fn: Callable[..., Tensor],
                     training_default: bool) -> _FamilyFunction:
    def fn(input: Tensor, p: float = 0.5, training: bool = training_default, inplace: bool = False,
           *, generator: Optional[torch.Generator] = None,
           seed: Optional[SupportsIndex] = None, offset: SupportsIndex = 0,
           mask_storage: TorchMaskStorage = "bits") -> Tensor:
        return _family_call(name, torch_fn, input, p, training, inplace, generator, seed,
                            offset, mask_storage)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"``torch.nn.functional.{name}`` on cydrop's kernels (``cydrop.{name}``'s "
                  f"masks).\n\n    The arguments, seeding, fallback and in-place rules of "
                  f"`dropout`; torch's rank errors and warnings.  In place runs out of "
                  f"place and copies back.\n\n"
                  f"    Parameters\n    ----------\n"
                  f"    input : torch.Tensor\n"
                  f"        As ``torch.nn.functional.{name}`` takes it.\n"
                  f"    p, training, inplace\n"
                  f"        As ``torch.nn.functional.{name}`` (``training`` defaults to "
                  f"{training_default}, as there).\n"
                  f"    generator, seed, offset, mask_storage\n"
                  f"        As in `dropout`.\n\n"
                  f"    Returns\n    -------\n    torch.Tensor\n"
                  f"        The result.\n")
    return fn


dropout1d = _family_function("dropout1d", _TF.dropout1d, True)
dropout2d = _family_function("dropout2d", _TF.dropout2d, True)
dropout3d = _family_function("dropout3d", _TF.dropout3d, True)
alpha_dropout = _family_function("alpha_dropout", _TF.alpha_dropout, False)
feature_alpha_dropout = _family_function("feature_alpha_dropout", _TF.feature_alpha_dropout,
                                         False)


if TYPE_CHECKING:     # the torch class the mixin always comes with
    _DropoutNd = torch.nn.modules.dropout._DropoutNd
else:
    _DropoutNd = object


class _CydropDropout(_DropoutNd):
    """What cydrop's modules add to torch's: keyword-only ``mask_storage``
    and ``generator``, and a forward through cydrop's function."""
    _function: ClassVar[_FamilyFunction] = None  # type: ignore[assignment]  # each subclass's

    def __init__(self, p: float = 0.5, inplace: bool = False, *,
                 mask_storage: TorchMaskStorage = "bits",
                 generator: Optional[torch.Generator] = None) -> None:
        super().__init__(p, inplace)
        if mask_storage not in _MASK_STORAGES:
            raise ValueError(f"mask_storage must be one of {_MASK_STORAGES}, "
                             f"got {mask_storage!r}")
        self.mask_storage = mask_storage
        self.generator = generator

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._function(input, self.p, self.training, self.inplace,
                                    generator=self.generator, mask_storage=self.mask_storage)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if self.mask_storage != "bits":
            text += f", mask_storage={self.mask_storage!r}"
        return text


class Dropout1d(_CydropDropout, torch.nn.Dropout1d):
    """``torch.nn.Dropout1d`` on cydrop's kernels (see `Dropout`).

    Parameters
    ----------
    p, inplace
        As ``torch.nn.Dropout1d``.
    mask_storage : {"bits", "recompute"}
        What autograd keeps for the backward (see `dropout`).
    generator : torch.Generator, optional
        Where keys are drawn from instead of torch's default generator.
    """
    _function = staticmethod(dropout1d)


class Dropout2d(_CydropDropout, torch.nn.Dropout2d):
    """``torch.nn.Dropout2d`` on cydrop's kernels (see `Dropout`).

    Parameters
    ----------
    p, inplace
        As ``torch.nn.Dropout2d``.
    mask_storage : {"bits", "recompute"}
        What autograd keeps for the backward (see `dropout`).
    generator : torch.Generator, optional
        Where keys are drawn from instead of torch's default generator.
    """
    _function = staticmethod(dropout2d)


class Dropout3d(_CydropDropout, torch.nn.Dropout3d):
    """``torch.nn.Dropout3d`` on cydrop's kernels (see `Dropout`).

    Parameters
    ----------
    p, inplace
        As ``torch.nn.Dropout3d``.
    mask_storage : {"bits", "recompute"}
        What autograd keeps for the backward (see `dropout`).
    generator : torch.Generator, optional
        Where keys are drawn from instead of torch's default generator.
    """
    _function = staticmethod(dropout3d)


class AlphaDropout(_CydropDropout, torch.nn.AlphaDropout):
    """``torch.nn.AlphaDropout`` on cydrop's kernels (see `Dropout`).

    Parameters
    ----------
    p, inplace
        As ``torch.nn.AlphaDropout``.
    mask_storage : {"bits", "recompute"}
        What autograd keeps for the backward (see `dropout`).
    generator : torch.Generator, optional
        Where keys are drawn from instead of torch's default generator.
    """
    _function = staticmethod(alpha_dropout)


class FeatureAlphaDropout(_CydropDropout, torch.nn.FeatureAlphaDropout):
    """``torch.nn.FeatureAlphaDropout`` on cydrop's kernels (see `Dropout`).

    Parameters
    ----------
    p, inplace
        As ``torch.nn.FeatureAlphaDropout``.
    mask_storage : {"bits", "recompute"}
        What autograd keeps for the backward (see `dropout`).
    generator : torch.Generator, optional
        Where keys are drawn from instead of torch's default generator.
    """
    _function = staticmethod(feature_alpha_dropout)


class Dropout(torch.nn.Dropout):
    """``torch.nn.Dropout`` on cydrop's kernels: the same signature,
    ``extra_repr``, ``train()``/``eval()`` and (empty) ``state_dict``, so a
    saved model loads with either class.  A subclass of ``torch.nn.Dropout``:
    ``isinstance(m, torch.nn.Dropout)`` still holds.

    Parameters
    ----------
    p, inplace
        As ``torch.nn.Dropout``.
    mask_storage : {"bits", "recompute"}
        Keyword-only.  "bits", the default: the packed mask is kept for the
        backward, 1 bit per element; "recompute": only the 64-bit key, the
        mask regenerated in the backward.
    generator : torch.Generator, optional
        Keyword-only: a generator to draw keys from instead of torch's
        default one.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *,
                 mask_storage: TorchMaskStorage = "bits",
                 generator: Optional[torch.Generator] = None) -> None:
        super().__init__(p, inplace)
        if mask_storage not in _MASK_STORAGES:
            raise ValueError(f"mask_storage must be one of {_MASK_STORAGES}, "
                             f"got {mask_storage!r}")
        self.mask_storage = mask_storage
        self.generator = generator

    def forward(self, input: Tensor) -> Tensor:
        return dropout(input, self.p, self.training, self.inplace, generator=self.generator,
                       mask_storage=self.mask_storage)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if self.mask_storage != "bits":
            text += f", mask_storage={self.mask_storage!r}"
        return text


_CONVERT: dict[type, Callable[..., torch.nn.Module]] = {
            torch.nn.Dropout: Dropout, torch.nn.Dropout1d: Dropout1d,
            torch.nn.Dropout2d: Dropout2d, torch.nn.Dropout3d: Dropout3d,
            torch.nn.AlphaDropout: AlphaDropout,
            torch.nn.FeatureAlphaDropout: FeatureAlphaDropout}


_Module = TypeVar("_Module", bound=torch.nn.Module)


def convert_dropout(module: _Module, *, mask_storage: TorchMaskStorage = "bits") -> _Module:
    """Replace every ``torch.nn.Dropout`` (and ``Dropout1d/2d/3d``,
    ``AlphaDropout``, ``FeatureAlphaDropout``: exactly those classes) in
    ``module`` by cydrop's counterpart with the same ``p``, ``inplace`` and
    mode, in place; returns ``module`` (or the replacement, if ``module`` is
    itself one of them).

    Parameters
    ----------
    module : torch.nn.Module
        The model (or one dropout module).
    mask_storage : {"bits", "recompute"}
        For every new module (see `Dropout`).

    Returns
    -------
    torch.nn.Module
        ``module``, or its replacement.

    Examples
    --------
    >>> import torch, cydrop.torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.1))
    >>> type(cydrop.torch.convert_dropout(net)[1]).__module__
    'cydrop.torch'
    """
    def swap(m: Any) -> torch.nn.Module:
        new = _CONVERT[type(m)](m.p, m.inplace, mask_storage=mask_storage)
        new.train(m.training)
        return new

    if type(module) in _CONVERT:
        return cast(_Module, swap(module))
    for name, child in list(module.named_children()):
        if type(child) in _CONVERT:
            setattr(module, name, swap(child))
        else:
            convert_dropout(child, mask_storage=mask_storage)
    return module
