"""The README's tour (and the layer, cydrop.torch and cydrop.dask calls a user
makes), as a typing check: ``mypy --strict tests/typing/tour.py`` must pass
(tests/test_typing.py), with the types cydrop's annotations give -- e.g.
``return_mask=True`` makes ``dropout`` return an ``(array, mask)`` pair.

The annotated variables state what a user may rely on; mypy checks that the
call's type is assignable to them.  ``python tests/typing/tour.py`` runs the
same calls (tests/test_typing.py does that too), so nothing here is only a
type checker's fiction.  Not collected by pytest (tests/typing/conftest.py).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

import cydrop

FloatArray = npt.NDArray[np.floating[Any]]
BoolArray = npt.NDArray[np.bool_]
BitsArray = npt.NDArray[np.uint8]


def readme_tour() -> None:
    """README.md, "Tour", call for call."""
    x = np.random.default_rng(0).standard_normal((64, 1024)).astype(np.float32)

    # torch.nn.functional.dropout semantics
    y = cydrop.dropout(x, p=0.45)                      # fresh mask from the default stream
    y = cydrop.dropout(x, 0.45, training=False)        # returns x itself
    cydrop.dropout(x, 0.45, inplace=True)              # writes into x, returns x

    # reproducible masks: (seed, offset) -> the same mask everywhere
    y, mask = cydrop.dropout(x, 0.45, seed=1234, offset=0, return_mask=True)
    assert np.array_equal(mask, cydrop.keep_mask(x.shape, 0.45, seed=1234, offset=0))
    y, bits = cydrop.dropout(x, 0.45, seed=1234, return_mask="bits")  # 1 bit per element

    # backward: with a bool mask, packed bits, or nothing stored at all
    g = np.ones_like(x)
    dx = cydrop.dropout_backward(g, mask, 0.45)
    dx = cydrop.dropout_backward(g, bits, 0.45)
    dx = cydrop.dropout_backward(g, None, 0.45, seed=1234, offset=0)   # mask regenerated

    # a given keep-mask (the NumPy tutorials' manual_mask)
    y = cydrop.dropout(x, 0.45, mask=np.random.default_rng(1).random(x.shape) > 0.45)

    # the layer, for NumPy networks written by hand
    layer = cydrop.Dropout(p=0.45, rng=0, mask_storage="recompute")   # or "bits", "bool"
    y = layer(x)                     # training forward; the stream position advances
    dx = layer.backward(g)           # the same mask, regenerated from (seed, offset)
    layer.eval(); assert layer(x) is x
    state = layer.get_state()        # (seed, offset): replay a step exactly

    cydrop.set_num_threads(2)        # OpenMP; results do not depend on it

    # the family: channel-wise, a broadcast mask, alpha dropout, vanilla scaling, float16
    imgs = np.random.default_rng(2).standard_normal((8, 16, 32, 32)).astype(np.float32)
    y, cmask = cydrop.dropout2d(imgs, 0.2, seed=7, return_mask=True)   # cmask: (8, 16, 1, 1)
    dx = cydrop.dropout_backward(np.ones_like(imgs), cmask, 0.2, noise_shape=cmask.shape)
    y = cydrop.dropout(imgs, 0.2, seed=7, noise_shape=(None, None, 1, 1))  # the same, Keras-style
    y = cydrop.dropout1d(imgs[0], 0.2)                                  # (C, L) or (N, C, L)
    y, m = cydrop.alpha_dropout(x, 0.1, training=True, return_mask=True) # for SELU networks
    dx = cydrop.alpha_dropout_backward(g, m, 0.1)
    y = cydrop.feature_alpha_dropout(imgs, 0.1, training=True)
    y = cydrop.dropout(x, 0.45, scaling="vanilla")                      # train: x * mask
    y = cydrop.dropout(x, 0.45, training=False, scaling="vanilla")      # eval:  x * (1 - p)
    y = cydrop.dropout(x.astype(np.float16), 0.45)                      # float32 math, rounded once
    layers = [cydrop.Dropout2d(0.2), cydrop.Dropout3d(0.2), cydrop.AlphaDropout(0.1),
              cydrop.FeatureAlphaDropout(0.1), cydrop.Dropout(0.45, noise_shape=(None, 1))]

    # what the calls above give, as a user may rely on it
    y_: FloatArray = y
    dx_: FloatArray = dx
    mask_: BoolArray = mask
    bits_: BitsArray = bits
    cmask_: BoolArray = cmask
    m_: BoolArray = m
    state_: tuple[int, int] = state
    layers_: list[cydrop.Dropout] = layers
    del y_, dx_, mask_, bits_, cmask_, m_, state_, layers_


def layer_tour() -> None:
    """A layer's state, copies for workers, modes and mask; the other
    functions of the package."""
    x = np.ones((4, 6), np.float32)
    layer = cydrop.Dropout(0.5, rng=np.random.default_rng(3), mask_storage="bits")
    y: FloatArray = layer.forward(x)
    y = layer(x, mask=np.ones((4, 6), bool))          # a manual mask
    seen: BoolArray | None = layer.mask
    g: FloatArray = layer.backward(np.ones_like(y))
    state: tuple[int, int] = layer.get_state()
    layer.set_state(state)
    same: cydrop.Dropout = layer.train().train(False).eval()
    workers: list[cydrop.Dropout] = layer.spawn(2)
    a, b = workers
    assert a.get_state() != b.get_state()
    channels: list[cydrop.Dropout2d] = cydrop.Dropout2d(0.2, rng=1).spawn(3)
    text: str = layer.extra_repr() + repr(layer)
    alpha = cydrop.AlphaDropout(0.1, rng=2, noise_shape=(None, 1))
    y = alpha(x)
    del seen, g, same, channels, text

    # return_mask given as a run-time bool: either form, to tell apart
    want: bool = len(y) > 0
    res = cydrop.dropout(x, 0.5, seed=np.uint64(9), return_mask=want)
    if isinstance(res, tuple):
        y, keep = res
        assert keep.shape == x.shape
    else:
        y = res
    packed: BitsArray = cydrop.keep_mask((4, 6), 0.5, seed=9, packed=True)
    flags: BoolArray = cydrop.keep_mask(24, 0.5, seed=9, offset=8)
    words: npt.NDArray[np.uint32] = cydrop.stream_words(9, 0, 8)
    block: tuple[int, int, int, int] = cydrop.philox4x32_10((0, 0, 0, 0), (9, 0))
    cydrop.manual_seed(5)
    cydrop.manual_seed(None)
    key: int = cydrop.initial_seed()
    threads: int = cydrop.get_num_threads()
    include: str = cydrop.get_include()
    version: str = cydrop.__version__
    del packed, flags, words, block, key, threads, include, version


def torch_tour() -> None:
    """cydrop.torch: the functions, modules and helpers."""
    import torch

    import cydrop.torch

    x = torch.randn(8, 16, requires_grad=True)
    y: torch.Tensor = cydrop.torch.dropout(x, 0.25)
    y = cydrop.torch.dropout(x, 0.25, seed=12, offset=4, mask_storage="recompute")
    (grad,) = torch.autograd.grad(y.sum(), (x,))
    gen = torch.Generator().manual_seed(0)
    y = cydrop.torch.dropout(x, 0.25, generator=gen)
    imgs = torch.randn(2, 3, 4, 4)
    y = cydrop.torch.dropout1d(imgs[0], 0.2)
    y = cydrop.torch.dropout2d(imgs, 0.2, seed=1)
    y = cydrop.torch.dropout3d(imgs, 0.2)
    y = cydrop.torch.alpha_dropout(imgs, 0.2, training=True)
    y = cydrop.torch.feature_alpha_dropout(imgs, 0.2, True, seed=3)

    model = torch.nn.Sequential(torch.nn.Linear(16, 16), cydrop.torch.Dropout(p=0.25),
                                cydrop.torch.Dropout2d(0.1, mask_storage="recompute"),
                                cydrop.torch.AlphaDropout(0.1, generator=gen))
    net: torch.nn.Sequential = cydrop.torch.convert_dropout(
        torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.1)))
    # (the replacement, a cydrop.torch.Dropout, is a torch.nn.Dropout)
    layer: torch.nn.Dropout = cydrop.torch.convert_dropout(torch.nn.Dropout(0.5))
    out: torch.Tensor = model[1](x)
    text: str = layer.extra_repr()

    key: torch.Tensor = cydrop.torch.seed_tensor(2**64 - 1)
    assert cydrop.torch.seed_value(key) == 2**64 - 1
    dtypes: frozenset[torch.dtype] = cydrop.torch.kernel_dtypes()
    before: int = cydrop.torch.set_result_cache(64 << 20)
    held: int = cydrop.torch.result_cache_bytes()
    cydrop.torch.set_result_cache(before)
    del grad, net, out, text, dtypes, held


def dask_tour() -> None:
    """cydrop.dask: lazily, bit for bit the in-memory result."""
    import dask.array as da

    import cydrop.dask

    # (da.ones and np.asarray: dask's from_array, ones_like and compute are not
    # annotated, and mypy --strict reports calls to them in the caller)
    x = da.ones((64, 1024), chunks=(16, 512), dtype=np.float32)
    y: da.Array = cydrop.dask.dropout(x, 0.45, seed=1234)
    y, mask = cydrop.dask.dropout(x, 0.45, seed=1234, offset=8, return_mask=True)
    y, bits = cydrop.dask.dropout(x, 0.45, seed=1234, return_mask="bits")
    g = da.ones((64, 1024), chunks=(32, 1024), dtype=np.float64)
    dx: da.Array = cydrop.dask.dropout_backward(g, 0.45, seed=1234, offset=8)
    keep: da.Array = cydrop.dask.keep_mask((64, 1024), 0.45, seed=1234, chunks=(32, 256))
    packed: da.Array = cydrop.dask.keep_mask((64, 1024), 0.45, 1234, packed=True)
    computed = np.asarray(y)        # computes
    assert np.array_equal(computed, cydrop.dropout(np.ones((64, 1024), np.float32), 0.45,
                                                   seed=1234))
    del mask, bits, dx, keep, packed


if __name__ == "__main__":
    readme_tour()
    layer_tour()
    torch_tour()
    dask_tour()
    print("tour: ok")
