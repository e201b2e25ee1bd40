"""Type aliases of the public signatures (typing only: NumPy's ``numpy.typing``
and the standard library; never torch or dask).

Runtime objects, so that ``typing.get_type_hints`` resolves cydrop's
annotations; written with ``Union`` / ``Optional`` for Python 3.9.
"""
from typing import Any, Literal, Optional, Sequence, SupportsIndex, Union

import numpy as np
import numpy.typing as npt

#: a float16/32/64 array: what the functions return (of the input's dtype)
FloatArray = npt.NDArray[np.floating[Any]]
#: a keep-mask, one bool per element
BoolArray = npt.NDArray[np.bool_]
#: a keep-mask packed one bit per element (``np.packbits(m.ravel(), bitorder="little")``)
BitsArray = npt.NDArray[np.uint8]
#: either form of a keep-mask
MaskArray = Union[BoolArray, BitsArray]

#: ``training``: a bool (numpy.bool_ too); anything else is a TypeError
Training = Union[bool, np.bool_]
#: ``rng``: None (fresh entropy), an int (the seed itself) or a Generator
RNGLike = Union[None, int, np.integer[Any], np.random.Generator]
#: ``noise_shape``: one entry per axis, each 1, None (the input's size) or the size
NoiseShape = Optional[Sequence[Optional[SupportsIndex]]]
#: ``shape``: an int or a sequence of ints
ShapeLike = Union[SupportsIndex, Sequence[SupportsIndex]]
#: ``scaling``
Scaling = Literal["inverted", "vanilla"]
#: ``return_mask``: False (no mask), True or "bool" (bool array), "bits" (packed)
ReturnMask = Union[bool, Literal["bool", "bits"]]
#: ``mask_storage`` of a `cydrop.Dropout` layer
MaskStorage = Literal["bits", "bool", "recompute"]
