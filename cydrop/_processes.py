"""What cydrop does in a process forked from one that imported it
(docs/design.md, "Processes, workers and checkpoints").

``os.register_at_fork`` runs `_after_in_child` in every child made by
``os.fork`` -- ``multiprocessing`` and ``ProcessPoolExecutor`` with the fork
start method, and the children of a forkserver -- before any of the child's
own code:

1. the kernels go serial if the parent's OpenMP threads may have started
   (libgomp's thread pool does not survive a fork: entering it in the child
   hangs): cydrop ran a parallel call, or torch is imported (torch's
   OpenMP threads may be the same runtime's: a build that links the
   system's ``libgomp.so.1`` shares the one torch loaded);
2. the streams whose key came from the operating system -- the default
   stream, and layers made with ``rng=None`` -- get a key of their own,
   `derive_key` of the parent's key and the child's index (the number of
   children this process had forked before it, taken in the forking thread
   before the fork, so that threads forking at once get different ones), so that no two processes
   draw the same masks, and a parent seeded with `cydrop.manual_seed`
   gives its children the same keys on every run;
3. the callbacks registered with `at_fork_child` run (in registration
   order), e.g. locks re-made in the child.

A process started with spawn imports cydrop afresh: it keys its default
stream from the operating system, and its kernels may use threads.
"""
from __future__ import annotations

import itertools
import os
import sys
import threading
from typing import Callable, TypeVar

import numpy as np

from . import _kernels

# the spawn_key tag of a forked child's key ("fork"), so that it never equals
# a key `derive_key` gives for another purpose (a layer's `spawn`)
FORK_TAG = 0x666F726B

_C = TypeVar("_C", bound=Callable[[int], object])

_counter = itertools.count()   # the index of the next child forked from this process
_forking = threading.local()   # the index the forking thread took (before the fork)
_callbacks: list[Callable[[int], object]] = []   # f(index) to run in a forked child


def derive_key(seed: int, *spawn_key: int) -> int:
    """A 64-bit key derived from ``seed`` and the integers ``spawn_key``
    by NumPy's ``SeedSequence`` (the hashing ``Generator.spawn`` uses):
    distinct inputs give independent keys."""
    state = np.random.SeedSequence(seed, spawn_key=spawn_key).generate_state(1, np.uint64)
    return int(state[0])


def child_key(seed: int, index: int) -> int:
    """The key a forked child gives a stream keyed from the OS: derived
    from the parent's ``seed`` and the child's ``index`` (tagged, so that
    it never equals a `spawn`ed layer's key)."""
    return derive_key(seed, FORK_TAG, index)


def at_fork_child(callback: _C) -> _C:
    """Run ``callback(index)`` in every child forked from now on, ``index``
    being the child's number among this process's forks (0 for the first)."""
    _callbacks.append(callback)
    return callback


def _before() -> None:
    # in the forking thread, before the fork: next() on a count is atomic
    # (threads forking at once take different indices), and the thread's
    # local value is what the child, which has only this thread, reads
    _forking.index = next(_counter)


def _after_in_child() -> None:
    global _counter
    index = getattr(_forking, "index", 0)
    _counter = itertools.count()
    _kernels._after_fork_child("torch" in sys.modules)
    for callback in _callbacks:
        callback(index)


if hasattr(os, "register_at_fork"):      # not on Windows
    os.register_at_fork(before=_before, after_in_child=_after_in_child)
