"""cydrop: dropout for NumPy arrays on the CPU.

Compiled Cython kernels (GIL released, OpenMP across cores) for the masked
scaling in place and out of place, the backward pass, and a fused forward
whose mask comes from the counter-based Philox4x32-10 stream: the same mask on
any thread count, memory layout or machine.  Semantics follow
``torch.nn.functional.dropout`` / ``torch.nn.Dropout``.
"""
import os

from ._version import __version__
from . import _kernels
from ._checks import RankError
from .functional import (
    alpha_dropout,
    alpha_dropout_backward,
    dropout,
    dropout1d,
    dropout2d,
    dropout3d,
    dropout_backward,
    feature_alpha_dropout,
    initial_seed,
    keep_mask,
    manual_seed,
    philox4x32_10,
    stream_words,
)
from .module import AlphaDropout, Dropout, Dropout1d, Dropout2d, Dropout3d, FeatureAlphaDropout


def get_include():
    """The directory to put on Cython's ``include_path`` (and the C
    compiler's include path) to build an extension that cimports cydrop's
    Cython API, as ``numpy.get_include()`` is used::

        from Cython.Build import cythonize
        cythonize(extensions, include_path=[cydrop.get_include()])

    It holds the ``cydrop`` package with its ``.pxd`` files
    (``from cydrop.kernels cimport forward``; see ``cydrop/kernels.pxd``).
    Cython also finds them through ``sys.path`` when cydrop is installed.
    """
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def get_num_threads():
    """Number of threads the kernels use when called from this thread
    (1 in a build without OpenMP)."""
    return _kernels.get_num_threads()


def set_num_threads(n):
    """Set the number of threads the kernels use, for the whole process.

    Without a call, the count is OpenMP's: ``OMP_NUM_THREADS`` or the number
    of cores.  ``threadpoolctl.threadpool_limits`` (and anything else that
    lowers OpenMP's limit in a thread) caps it further in that thread.
    Results never depend on it.
    """
    _kernels.set_num_threads(n)


__all__ = [
    "AlphaDropout",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "FeatureAlphaDropout",
    "RankError",
    "__version__",
    "alpha_dropout",
    "alpha_dropout_backward",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "dropout_backward",
    "feature_alpha_dropout",
    "get_include",
    "get_num_threads",
    "initial_seed",
    "keep_mask",
    "manual_seed",
    "philox4x32_10",
    "set_num_threads",
    "stream_words",
]
