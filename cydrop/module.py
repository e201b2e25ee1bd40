"""``Dropout`` as a layer for NumPy networks written by hand: ``forward``
(optionally with a manual mask), ``backward``, ``train()`` / ``eval()``."""
from __future__ import annotations

import operator
import threading

import numpy as np

from . import _kernels
from . import functional as F
from ._checks import _check_float_array, _check_p, _check_u64, _short, seed_from_rng, unpack

__all__ = ["Dropout"]

_STORAGES = ("bits", "bool", "recompute")


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

    Attributes
    ----------
    training : bool
        Train mode (the default) or eval mode.
    mask : ndarray of bool or None
        The keep-mask the last forward applied (unpacked or regenerated on
        access; all True after an eval-mode forward), None before one.

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

    Examples
    --------
    >>> import numpy as np, cydrop
    >>> layer = cydrop.Dropout(p=0.45, rng=0)
    >>> y = layer(np.ones((3, 7)))
    >>> g = layer.backward(np.ones((3, 7)))
    >>> bool(np.array_equal(g, y))
    True
    """

    def __init__(self, p=0.5, inplace=False, *, rng=None, mask_storage="bits"):
        self.p = _check_p(p)
        self.inplace = bool(inplace)
        if mask_storage not in _STORAGES:
            raise ValueError(f"mask_storage must be one of {_STORAGES}, got {mask_storage!r}")
        self.mask_storage = mask_storage
        self._seed = seed_from_rng(rng)
        self._offset = 0
        # guards (seed, offset): a forward reserves its stream range under it
        self._lock = threading.Lock()
        self.training = True
        # What backward needs from the last forward (one tuple, replaced
        # whole): (kind, data, p, shape) with kind in
        # identity/zeros/bool/bits/stream.
        self._saved = None

    # -- mode ---------------------------------------------------------------
    def train(self, mode=True):
        """Set train mode (``mode=True``) or eval mode; returns self.

        ``mode`` must be a bool (as torch: a string such as ``'no'`` would
        otherwise count as true)."""
        if not isinstance(mode, (bool, np.bool_)):
            raise ValueError(f"training mode is expected to be boolean, got "
                             f"{type(mode).__name__}")
        self.training = bool(mode)
        return self

    def eval(self):
        """Set eval mode; returns self."""
        return self.train(False)

    # -- state --------------------------------------------------------------
    def get_state(self):
        """``(seed, offset)``: the module's key and stream position."""
        with self._lock:
            return (self._seed, self._offset)

    def set_state(self, state):
        """Restore ``(seed, offset)`` from `get_state`; the next training
        forward draws the mask it drew then.

        ``state`` is checked whole before anything changes: a bad one raises
        and leaves the module as it was."""
        try:
            seed, offset = state
        except (TypeError, ValueError):
            raise TypeError(f"state must be a (seed, offset) pair of ints in [0, 2**64), "
                            f"got {_short(state)}") from None
        for name, v in (("seed", seed), ("offset", offset)):
            try:
                _check_u64(v, name)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"state: {exc} (state must be a (seed, offset) pair of "
                                f"ints in [0, 2**64))") from None
        with self._lock:
            self._seed = operator.index(seed)
            self._offset = operator.index(offset)

    def _take(self, n):
        """Reserve ``n`` words (rounded up to whole blocks) of the stream:
        ``(seed, offset)`` of the range, atomically with respect to other
        threads calling this module."""
        with self._lock:
            seed, offset = self._seed, self._offset
            self._offset = _kernels.stream_advance(offset, n)
        return seed, offset

    # -- forward / backward -------------------------------------------------
    def forward(self, x, mask=None):
        """Dropout of ``x``; in train mode with ``mask`` (bool, x's shape) that
        mask is applied instead of a drawn one."""
        p = self.p
        if not self.training:
            out = F.dropout(x, p, training=False, inplace=self.inplace)
            self._saved = ("identity", None, p, np.shape(out))
            return out
        storage = self.mask_storage
        want = "bool" if storage == "bool" else "bits"
        if mask is not None:
            out, m = F.dropout(x, p, True, self.inplace, mask=mask, return_mask=want)
            saved = ("zeros", None) if p == 1.0 else (want, m)
        elif p == 0.0:
            out = F.dropout(x, p, True, self.inplace)
            saved = ("identity", None)
        elif p == 1.0:
            out = F.dropout(x, p, True, self.inplace)
            saved = ("zeros", None)
        else:
            # checked before the stream range is taken: a call that fails
            # leaves the position where it was
            x = _check_float_array(x, "x", self.inplace)
            seed, offset = self._take(x.size)
            if storage == "recompute":
                out = F.dropout(x, p, True, self.inplace, seed=seed, offset=offset)
                saved = ("stream", (seed, offset))
            else:
                out, m = F.dropout(x, p, True, self.inplace, seed=seed, offset=offset,
                                   return_mask=want)
                saved = (want, m)
        self._saved = saved + (p, out.shape)
        return out

    __call__ = forward

    def backward(self, grad):
        """Gradient of the last forward: ``grad * mask / (1 - p)`` (exact
        zeros where dropped), the identity if that forward ran in eval mode
        or with ``p == 0``.  The mode the module is in now does not matter."""
        saved = self._saved
        if saved is None:
            raise RuntimeError("Dropout.backward called before a forward")
        kind, data, p, shape = saved
        grad = _check_float_array(grad, "grad", False)
        if grad.shape != shape:
            raise ValueError(f"grad has shape {grad.shape}, but the last forward's input "
                             f"had shape {shape}")
        if kind == "identity":
            return grad
        if kind == "zeros":
            return np.zeros_like(grad)
        if kind == "stream":
            seed, offset = data
            return F.dropout_backward(grad, None, p, seed=seed, offset=offset)
        return F.dropout_backward(grad, data, p)

    @property
    def mask(self):
        """The keep-mask the last forward applied, as a bool array (all True
        after an eval-mode forward), or None before any forward."""
        saved = self._saved
        if saved is None:
            return None
        kind, data, p, shape = saved
        if kind in ("identity", "zeros"):
            return np.full(shape, kind == "identity")
        if kind == "bool":
            return data
        if kind == "bits":
            return unpack(data, shape)
        seed, offset = data
        return F.keep_mask(shape, p, seed, offset)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"
