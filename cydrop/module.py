"""``Dropout`` and its family as layers for NumPy networks written by hand:
``forward`` (optionally with a manual mask), ``backward``, ``train()`` /
``eval()``."""
from __future__ import annotations

import math
import operator
import weakref
from typing import Any, Literal, SupportsIndex, TypeVar

import numpy as np
import numpy.typing as npt

from . import _core, _kernels, _processes
from . import functional as F
from ._checks import (check_float_array, check_mask, check_noise_shape, check_p, check_scaling,
                      check_u64, short, seed_from_rng, unpack)
from ._typing import (BoolArray, FloatArray, MaskStorage, NoiseShape, RNGLike, Scaling,
                      Training)

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
           "FeatureAlphaDropout"]

_STORAGES = ("bits", "bool", "recompute")

# Layers keyed from the operating system (rng=None): a forked child gives
# each of them a key of its own, as it does the default stream.
_OS_KEYED: weakref.WeakSet[Dropout] = weakref.WeakSet()


@_processes.at_fork_child
def _fork_layers(index: int) -> None:
    for layer in list(_OS_KEYED):
        seed = layer._stream.state()[0]
        layer._stream.set(_processes.child_key(seed, index), 0)


_A = TypeVar("_A", bound=npt.NDArray[Any])
_D = TypeVar("_D", bound="Dropout")


def _read_only(a: _A) -> _A:
    """``a`` (an array the layer owns) marked read-only, so that nothing
    handed out can change what ``backward`` uses."""
    a.flags.writeable = False
    return a


class Dropout:
    """Inverted dropout with a backward pass, as ``torch.nn.Dropout``.

    Parameters
    ----------
    p : float
        Probability of an element to be zeroed, in [0, 1].
    inplace : bool
        The training forward writes into its input (``backward`` never
        writes into ``grad``).
    rng : None, int or numpy.random.Generator
        Fixes the module's 64-bit Philox seed, following the Scientific
        Python convention for random state (SPEC 7,
        https://scientific-python.org/specs/spec-0007/): None draws one from
        the operating system, an int is the seed itself (so
        ``Dropout(rng=s)`` draws what ``dropout(x, seed=s, offset=0)`` does on
        its first call), a Generator gives one draw.
    mask_storage : {"bits", "bool", "recompute"}
        What a training forward keeps for ``backward``: the mask packed one bit
        per element (``np.packbits(m.ravel(), bitorder="little")``), a bool
        array, or only ``(seed, offset)``, the mask being regenerated in
        ``backward`` (zero bytes of mask memory).  A manual mask is kept as bits
        under "recompute".
    noise_shape : sequence of int or None, optional
        The mask's shape, broadcast against each input (see `cydrop.dropout`;
        None entries take the input's size): e.g. ``(None, None, 1, 1)``
        drops whole channels.  The mask and its storage are then of that
        shape, and a forward takes ``prod(noise_shape)`` stream words.
    scaling : {"inverted", "vanilla"}
        "inverted" (torch's) or "vanilla": training applies the mask only,
        evaluation multiplies by ``1 - p`` (and its backward too).

    Attributes
    ----------
    training : bool
        Train mode (the default) or eval mode.
    mask : ndarray of bool or None
        The keep-mask the last forward applied (unpacked or regenerated on
        access, read-only with ``mask_storage="bool"``; all True after an
        eval-mode forward), None before one.  Nothing the caller holds -- a
        manual mask given to ``forward``, this array -- can change what
        ``backward`` applies.

    Notes
    -----
    Each training forward without a manual mask uses the stream from the
    module's position (``offset``) and advances it by the element count
    rounded up to a multiple of 4 (modulo 2**64), so consecutive calls draw
    fresh, non-overlapping words.  `get_state` / `set_state` save and restore
    ``(seed, offset)``.  In eval mode forward is the identity.

    ``backward`` and ``mask`` belong to the last forward, as in autograd:
    whatever the mode is now, ``backward`` applies the mask that forward
    applied (the identity after an eval-mode forward).

    Threads: one module may be called from several Python threads at once.
    Each training forward reserves its stream range atomically, so
    concurrent forwards never reuse words (their masks are those of some
    serial order of the calls), and the position ends where that many serial
    calls would leave it.  What is *not* per-thread: ``mask`` and what
    ``backward`` uses are those of whichever forward finished last, and
    ``training`` is shared.  For a backward per thread, give each thread its
    own module (or use `cydrop.dropout` with explicit ``seed``/``offset``).

    Copies and processes: ``pickle``, ``copy.deepcopy`` and cloudpickle
    copy the whole state -- parameters, mode, ``(seed, offset)`` and the
    last forward's mask -- so a checkpoint restores the layer exactly, and
    **a copy continues the same stream: it draws the same masks as the
    original** (a layer shipped to several workers draws the same masks in
    each).  `spawn` gives copies streams of their own.  A child forked from
    the process gives a layer made with ``rng=None`` (keyed from the
    operating system) a key of its own, as it does the default stream; a
    layer given ``rng`` keeps its stream there, as its copies do.

    Examples
    --------
    >>> import numpy as np, cydrop
    >>> layer = cydrop.Dropout(p=0.45, rng=0)
    >>> y = layer(np.ones((3, 7)))
    >>> g = layer.backward(np.ones((3, 7)))
    >>> bool(np.array_equal(g, y))
    True
    """

    # "inverted", "vanilla" or "alpha": what a forward computes (see
    # cydrop._core.forward)
    _mode: _core.Mode = "inverted"

    def __init__(self, p: float = 0.5, inplace: bool = False, *, rng: RNGLike = None,
                 mask_storage: MaskStorage = "bits",
                 noise_shape: NoiseShape = None, scaling: Scaling = "inverted") -> None:
        self.p = check_p(p)
        self.inplace = bool(inplace)
        if mask_storage not in _STORAGES:
            raise ValueError(f"mask_storage must be one of {_STORAGES}, got {mask_storage!r}")
        self.mask_storage = mask_storage
        if noise_shape is not None:
            # the entries are checked against each input; the form here
            # (before tuple(): a bare int gets the sequence message)
            check_noise_shape(noise_shape, noise_shape)
            noise_shape = tuple(None if n is None else operator.index(n) for n in noise_shape)
        self.noise_shape: tuple[int | None, ...] | None = noise_shape
        if type(self)._mode != "alpha":
            self._mode = check_scaling(scaling)
        # (seed, offset); a forward reserves its range atomically (`Stream.take`)
        self._stream = _kernels.Stream(seed_from_rng(rng), 0)
        # keyed from the OS: re-keyed in a forked child (see _fork_layers)
        self._os_key = rng is None
        if self._os_key:
            _OS_KEYED.add(self)
        self._spawned = 0       # layers `spawn` has made so far
        self.training = True
        # What backward needs from the last forward (one tuple, replaced
        # whole): (kind, data, p, shape) with kind in
        # identity/zeros/bool/bits/stream.
        self._saved: tuple[Any, ...] | None = None

    # -- mode ---------------------------------------------------------------
    def train(self: _D, mode: Training = True) -> _D:
        """Set train mode (``mode=True``) or eval mode; returns self.

        Parameters
        ----------
        mode : bool
            True for train mode, False for eval mode.  A bool (or
            ``numpy.bool_``), as torch: a string such as ``'no'`` would
            otherwise count as true.

        Returns
        -------
        Dropout
            The layer itself.
        """
        if not isinstance(mode, (bool, np.bool_)):
            raise ValueError(f"training mode is expected to be boolean, got "
                             f"{type(mode).__name__}")
        self.training = bool(mode)
        return self

    def eval(self: _D) -> _D:
        """Set eval mode; returns self."""
        return self.train(False)

    # -- state --------------------------------------------------------------
    def get_state(self) -> tuple[int, int]:
        """``(seed, offset)``: the module's key and stream position."""
        return self._stream.state()

    def set_state(self, state: tuple[SupportsIndex, SupportsIndex]) -> None:
        """Restore ``(seed, offset)`` from `get_state`; the next training
        forward draws the mask it drew then.

        Parameters
        ----------
        state : tuple of (int, int)
            ``(seed, offset)``, each in [0, 2**64).  Checked whole before
            anything changes: a bad one raises and leaves the module as it
            was.
        """
        try:
            seed, offset = state
        except (TypeError, ValueError):
            raise TypeError(f"state must be a (seed, offset) pair of ints in [0, 2**64), "
                            f"got {short(state)}") from None
        for name, v in (("seed", seed), ("offset", offset)):
            try:
                check_u64(v, name)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"state: {exc} (state must be a (seed, offset) pair of "
                                f"ints in [0, 2**64))") from None
        self._stream.set(operator.index(seed), operator.index(offset))
        # a key the caller chose: kept in forked children, as with rng=int
        self._os_key = False
        _OS_KEYED.discard(self)

    def _take(self, n: int) -> tuple[int, int]:
        """Reserve ``n`` words (rounded up to whole blocks) of the stream:
        ``(seed, offset)`` of the range, atomically with respect to other
        threads calling this module."""
        return self._stream.take(n)

    def spawn(self: _D, n_children: SupportsIndex) -> list[_D]:
        """``n_children`` new layers like this one (``p``, ``inplace``, mask
        storage, noise shape, scaling, mode), each with a stream of its own,
        as ``numpy.random.Generator.spawn``.

        A child's key is derived from this layer's key and the number of
        layers spawned before it (NumPy's ``SeedSequence`` hashing), and
        its position is 0: independent of this layer and of each other, and
        the same on every run for a layer made with an int ``rng``.  Use it
        to give copies sent to workers their own masks::

            workers_layers = layer.spawn(4)

        Parameters
        ----------
        n_children : int
            How many layers, >= 0.

        Returns
        -------
        list of Dropout
            The new layers, of this layer's class.

        Examples
        --------
        >>> import numpy as np, cydrop
        >>> a, b = cydrop.Dropout(0.5, rng=1).spawn(2)
        >>> a.get_state() != b.get_state()
        True
        >>> [c.get_state() for c in cydrop.Dropout(0.5, rng=1).spawn(2)] == [
        ...     a.get_state(), b.get_state()]
        True
        """
        n_children = operator.index(n_children)
        if n_children < 0:
            raise ValueError(f"n_children must be >= 0, got {n_children}")
        seed = self._stream.state()[0]
        first, self._spawned = self._spawned, self._spawned + n_children
        children = []
        for k in range(first, first + n_children):
            child = type(self).__new__(type(self))
            child.__setstate__(dict(self.__dict__, _saved=None, _spawned=0,
                                    _stream=_kernels.Stream(_processes.derive_key(seed, k), 0)))
            children.append(child)
        return children

    # -- copies and pickles -----------------------------------------------
    # A copy, shallow or deep, has a stream of its own at the same state:
    # it continues where the original is, independently of it.  A copy of a
    # layer keyed from the OS is re-keyed in forked children too (and so are
    # the layers `spawn` makes from one: their keys derive from an OS key).
    def __copy__(self: _D) -> _D:
        twin = type(self).__new__(type(self))
        twin.__setstate__(dict(self.__dict__, _stream=_kernels.Stream(*self._stream.state())))
        return twin

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        saved = self._saved
        if saved is not None and isinstance(saved[1], np.ndarray):
            _read_only(saved[1])     # an unpickled array comes back writeable
        if self._os_key:
            _OS_KEYED.add(self)

    # -- forward / backward -------------------------------------------------
    def _noise(self, x: FloatArray, active: bool) -> tuple[int, ...] | None:
        """The mask's shape for input ``x`` (None: one flag per element)."""
        if self.noise_shape is None:
            return None
        return check_noise_shape(self.noise_shape, x.shape)

    def forward(self, x: npt.ArrayLike, mask: npt.ArrayLike | None = None) -> FloatArray:
        """Dropout of ``x``; in train mode a given ``mask`` replaces a drawn one.

        Parameters
        ----------
        x : array_like of float16, float32 or float64
            The input (written into with ``inplace=True``).
        mask : ndarray of bool, optional
            In train mode, the keep-mask to apply instead of drawing one: of
            x's shape, or of the noise shape (or its packed bits).

        Returns
        -------
        ndarray
            The result (``x`` itself in eval mode, and in place).
        """
        # x and the mask are checked once, here, before the stream range is
        # taken (a call that fails leaves the position where it was); then
        # one straight way down: the one-call rule, or cydrop._core.forward
        p = self.p
        mode = self._mode
        inplace = self.inplace
        training = self.training
        x = check_float_array(x, "x", inplace)
        noise = self._noise(x, training and 0.0 < p < 1.0 and x.size > 0)
        if noise == x.shape:
            noise = None            # one flag per element: the plain call
        saved: tuple[Any, ...]
        if not training:
            out = _core.forward(x, p, training=False, inplace=inplace, out=None, kind=None,
                                noise=noise, mode=mode)
            saved = ("scale", 1.0 - p) if mode == "vanilla" and p != 0.0 else ("identity", None)
            self._saved = saved + (p, out.shape, noise)
            return out
        storage = self.mask_storage
        want: Literal["bool", "bits"] = "bool" if storage == "bool" else "bits"
        if mask is not None:
            checked, packed = check_mask(mask, x, noise)
            out, m = _core.forward(x, p, training=True, inplace=inplace, out=None, kind=want,
                                   noise=noise, mode=mode, mask=checked, packed=packed)
            if not isinstance(mask, (list, tuple)) and np.may_share_memory(m, mask):
                m = m.copy()        # the caller's array: it may change after the call
            saved = ("zeros", None) if p == 1.0 else (want, _read_only(m))
        elif p == 0.0 or p == 1.0:
            out = _core.forward(x, p, training=True, inplace=inplace, out=None, kind=None,
                                noise=noise, mode=mode)
            saved = ("identity", None) if p == 0.0 else ("zeros", None)
        else:
            seed, offset = self._take(x.size if noise is None else math.prod(noise))
            if storage == "recompute":
                res = _core.one_call(x, p, inplace=inplace, seed=seed, offset=offset,
                                     noise_shape=noise, scaling=mode)
                out = res if res is not None else _core.forward(
                    x, p, training=True, inplace=inplace, out=None, kind=None, noise=noise,
                    mode=mode, seed=seed, offset=offset)
                saved = ("stream", (seed, offset))
            else:
                out, m = _core.forward(x, p, training=True, inplace=inplace, out=None,
                                       kind=want, noise=noise, mode=mode, seed=seed,
                                       offset=offset)
                saved = (want, _read_only(m))
        self._saved = saved + (p, out.shape, noise)
        return out

    __call__ = forward

    def backward(self, grad: npt.ArrayLike) -> FloatArray:
        """Gradient of the last forward: ``grad * mask / (1 - p)`` (exact
        zeros where dropped; ``grad * mask`` for vanilla scaling, ``grad *
        mask * a`` for alpha dropout), the identity if that forward ran in
        eval mode or with ``p == 0`` (vanilla eval: ``grad * (1 - p)``).  The
        mode the module is in now does not matter.

        Parameters
        ----------
        grad : array_like of float16, float32 or float64
            Upstream gradient, of the last forward input's shape (never
            written into).

        Returns
        -------
        ndarray
            The gradient with respect to the last forward's input.
        """
        saved = self._saved
        if saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before a forward")
        kind, data, p, shape, noise = saved
        grad = check_float_array(grad, "grad", False)
        if grad.shape != shape:
            raise ValueError(f"grad has shape {grad.shape}, but the last forward's input "
                             f"had shape {shape}")
        if kind == "identity":
            return grad
        if kind == "scale":
            res = np.empty_like(grad)
            _core.scaled(grad, res, data)
            return res
        if kind == "zeros":
            return np.zeros_like(grad)
        mode = self._mode
        if kind == "stream":
            seed, offset = data
            out = _core.one_call(grad, p, seed=seed, offset=offset, noise_shape=noise,
                                 scaling=mode, backward=True)
            if out is None:
                out = _core.backward(grad, p, inplace=False, out=None, noise=noise, mode=mode,
                                     seed=seed, offset=offset)
            return out
        # the stored mask (bool or bits), checked when it was stored
        out = _core.one_call(grad, p, mask=data, noise_shape=noise, scaling=mode,
                             backward=True)
        if out is None:
            out = _core.backward(grad, p, inplace=False, out=None, noise=noise, mode=mode,
                                 mask=data, packed=kind == "bits")
        return out

    @property
    def mask(self) -> BoolArray | None:
        """The keep-mask the last forward applied, as a bool array of the
        input's shape or the noise shape (all True after an eval-mode
        forward), or None before any forward.  With ``mask_storage="bool"``
        it is a read-only view of what ``backward`` uses (the layer keeps
        its own copy of a manual mask); otherwise a new array."""
        saved = self._saved
        if saved is None:
            return None
        kind, data, p, shape, noise = saved
        mshape = shape if noise is None else noise
        if kind in ("identity", "zeros", "scale"):
            return np.full(mshape, kind != "zeros")
        if kind == "bool":
            view: BoolArray = data.view()          # read-only, as the array it shows
            view.flags.writeable = False
            return view
        if kind == "bits":
            return unpack(data, mshape)
        seed, offset = data
        return F.keep_mask(mshape, p, seed, offset)

    def extra_repr(self) -> str:
        """torch's ``p=..., inplace=...``, then what differs from the defaults."""
        text = f"p={self.p}, inplace={self.inplace}"
        if self.noise_shape is not None:
            text += f", noise_shape={self.noise_shape}"
        if self._mode == "vanilla":
            text += ", scaling='vanilla'"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class _ChannelDropout(Dropout):
    # the torch function whose shape rules apply (each subclass sets it)
    _function: str = None  # type: ignore[assignment]

    def __init__(self, p: float = 0.5, inplace: bool = False, *, rng: RNGLike = None,
                 mask_storage: MaskStorage = "bits",
                 scaling: Scaling = "inverted") -> None:
        super().__init__(p, inplace, rng=rng, mask_storage=mask_storage, scaling=scaling)

    def _noise(self, x: FloatArray, active: bool) -> tuple[int, ...] | None:
        return _core.channel_noise(self._function, x.shape, active, stacklevel=4)


_CHANNEL_DOC = """Channel-wise dropout as ``torch.nn.{cls}``: `cydrop.{fn}` as a layer.

    Each channel of an input of shape {shapes} is zeroed as a whole (one
    stream word per channel); torch's rules for other ranks.  State,
    threads and ``backward`` as `Dropout`; ``mask`` is the per-channel mask
    of shape ``(N, C, 1, ...)``.

    Parameters
    ----------
    p : float
        Probability of a channel to be zeroed, in [0, 1].
    inplace, rng, mask_storage, scaling
        As in `Dropout` (there is no ``noise_shape``: it is ``(N, C, 1, ...)``).

    Examples
    --------
    >>> import numpy as np, cydrop
    >>> layer = cydrop.{cls}(p=0.5, rng=0)
    >>> y = layer(np.ones({example}))
    >>> layer.mask.shape, bool(np.array_equal(layer.backward(np.ones({example})), y))
    ({mshape}, True)
    """


class Dropout1d(_ChannelDropout):
    __doc__ = _CHANNEL_DOC.format(cls="Dropout1d", fn="dropout1d", shapes="(N, C, L) or (C, L)",
                                  example="(2, 3, 5)", mshape="(2, 3, 1)")
    _function = "dropout1d"


class Dropout2d(_ChannelDropout):
    __doc__ = _CHANNEL_DOC.format(cls="Dropout2d", fn="dropout2d",
                                  shapes="(N, C, H, W) (3-D: read as (N, C, L), with a warning)",
                                  example="(2, 3, 4, 4)", mshape="(2, 3, 1, 1)")
    _function = "dropout2d"


class Dropout3d(_ChannelDropout):
    __doc__ = _CHANNEL_DOC.format(cls="Dropout3d", fn="dropout3d",
                                  shapes="(N, C, D, H, W) or (C, D, H, W)",
                                  example="(3, 2, 2, 2)", mshape="(3, 1, 1, 1)")
    _function = "dropout3d"


class AlphaDropout(Dropout):
    """Alpha dropout as ``torch.nn.AlphaDropout``: `cydrop.alpha_dropout` as a
    layer (dropped elements take SELU's negative saturation value, then
    ``a * x + b``; the identity in eval mode).  Parameters, state, threads
    and ``backward`` (``grad * mask * a``) as `Dropout`; ``noise_shape`` too.

    Parameters
    ----------
    p : float
        Probability of an element to be dropped, in [0, 1].
    inplace, rng, mask_storage, noise_shape
        As in `Dropout` (there is no ``scaling``).

    Examples
    --------
    >>> import numpy as np, cydrop
    >>> layer = cydrop.AlphaDropout(p=0.2, rng=0)
    >>> y = layer(np.zeros(5))
    >>> g = layer.backward(np.ones(5))
    >>> bool(np.array_equal(g > 0, layer.mask))
    True
    """
    _mode: _core.Mode = "alpha"

    def __init__(self, p: float = 0.5, inplace: bool = False, *, rng: RNGLike = None,
                 mask_storage: MaskStorage = "bits",
                 noise_shape: NoiseShape = None) -> None:
        super().__init__(p, inplace, rng=rng, mask_storage=mask_storage,
                         noise_shape=noise_shape)


class FeatureAlphaDropout(AlphaDropout):
    """Channel-wise alpha dropout as ``torch.nn.FeatureAlphaDropout``:
    `cydrop.feature_alpha_dropout` as a layer (one flag per channel,
    ``(N, C, 1, ...)``; inputs of at least 2 dimensions).

    Parameters
    ----------
    p : float
        Probability of a channel to be dropped, in [0, 1].
    inplace, rng, mask_storage
        As in `Dropout`.

    Examples
    --------
    >>> import numpy as np, cydrop
    >>> layer = cydrop.FeatureAlphaDropout(p=0.2, rng=0)
    >>> y = layer(np.zeros((2, 3, 4)))
    >>> layer.mask.shape
    (2, 3, 1)
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *, rng: RNGLike = None,
                 mask_storage: MaskStorage = "bits") -> None:
        super().__init__(p, inplace, rng=rng, mask_storage=mask_storage)

    def _noise(self, x: FloatArray, active: bool) -> tuple[int, ...] | None:
        return _core.feature_noise(x.shape, active)
