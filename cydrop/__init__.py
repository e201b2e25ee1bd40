"""cydrop: dropout for NumPy arrays on the CPU.

Compiled Cython kernels (GIL released, OpenMP across cores) for the masked
scaling in place and out of place, the backward pass, and a fused forward
whose mask comes from the counter-based Philox4x32-10 stream: the same mask on
any thread count, memory layout or machine.  Semantics follow
``torch.nn.functional.dropout`` / ``torch.nn.Dropout``.
"""
import numbers
import operator
import os
import warnings
from typing import SupportsIndex

import numpy as np

from ._version import __version__

try:
    from . import _kernels
except ImportError as _error:     # no compiled module next to these sources
    _here = os.path.dirname(os.path.abspath(__file__))
    if any(name.startswith("_kernels.") and name.endswith((".so", ".pyd"))
           for name in os.listdir(_here)):
        raise                      # it is there but does not load: say why as Python does
    raise ImportError(
        f"cydrop is being imported from {_here}, a source tree whose compiled module "
        f"(cydrop._kernels) has not been built; an installed cydrop, if any, is shadowed "
        f"because this directory's parent comes first on sys.path (it is the current "
        f"directory, or the script's). Either build it in place with an editable install "
        f"(pip install -e . in {os.path.dirname(_here)}), or run Python from another "
        f"directory so that the installed cydrop is imported.") from _error

from . import _processes
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


def get_include() -> str:
    """The directory that holds cydrop's ``.pxd`` files, for Cython's ``include_path``.

    Put it on Cython's ``include_path`` (and the C compiler's include path)
    to build an extension that cimports cydrop's Cython API, as
    ``numpy.get_include()`` is used::

        from Cython.Build import cythonize
        cythonize(extensions, include_path=[cydrop.get_include()])

    It holds the ``cydrop`` package with its ``.pxd`` files
    (``from cydrop.kernels cimport forward``; see ``cydrop/kernels.pxd``).
    Cython also finds them through ``sys.path`` when cydrop is installed.

    Returns
    -------
    str
        The directory (the parent of the ``cydrop`` package).
    """
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def get_num_threads() -> int:
    """Number of threads the kernels use when called from this thread
    (1 in a build without OpenMP, and in a forked child that runs serially;
    see `set_num_threads`)."""
    return _kernels.get_num_threads()


def set_num_threads(n: SupportsIndex) -> None:
    """Set the number of threads the kernels use, for the whole process.

    Parameters
    ----------
    n : int
        At least 1 (a float such as 2.5, or a bool, is a ``TypeError``).

    Notes
    -----
    "For the whole process" means: every Python thread's kernel calls use
    ``n`` threads from now on, not only the caller's, with two exceptions.
    A thread whose OpenMP limit was lowered below the default after this
    call (by ``threadpoolctl.threadpool_limits``, or by
    ``torch.set_num_threads`` when torch was imported first: torch loads
    its libgomp into the global symbol scope, and cydrop's OpenMP calls
    then bind to it) uses that lower limit; this call raises the calling
    thread's limit back, so the latest call wins there.  And no
    call uses more than ``4 * os.sched_getaffinity(0)`` threads (4 per CPU
    the process may run on; ``_kernels.thread_cap()``): a larger ``n`` is
    used as that cap, with a ``RuntimeWarning``, as is a larger
    ``OMP_NUM_THREADS`` (silently).  Threads beyond the cores only wait on
    memory here, and OpenMP cannot start tens of thousands of them.
    Without a call, the count is OpenMP's limit: ``OMP_NUM_THREADS`` or the
    number of cores.

    In a child forked after the parent ran a parallel call, the kernels run
    serially whatever ``n`` is (OpenMP's threads do not survive a fork), and
    asking for more than one thread there warns; use the spawn or forkserver
    start method for workers that use threads (docs/design.md, "Processes,
    workers and checkpoints").  Results never depend on the thread count.
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"number of threads must be an integer, got {type(n).__name__}")
    n = operator.index(n)
    if n < 1:
        raise ValueError(f"number of threads must be >= 1, got {n}")
    cap = _kernels.thread_cap()
    if n > 1 and _kernels.fork_serial():
        warnings.warn(f"cydrop.set_num_threads({n}) in a forked child: the kernels run "
                      f"serially here, because the parent had started OpenMP's threads, "
                      f"which do not survive a fork; start workers with the spawn or "
                      f"forkserver method to use threads in them", RuntimeWarning,
                      stacklevel=2)
    elif n > cap:
        warnings.warn(f"cydrop.set_num_threads({n}): using {cap} threads, 4 per CPU this "
                      f"process may run on ({_kernels.usable_cpus()})", RuntimeWarning,
                      stacklevel=2)
    _kernels.set_num_threads(min(n, cap))


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
