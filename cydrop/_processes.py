"""What cydrop does in a process forked from one that imported it
(docs/design.md, "Processes, workers and checkpoints").

``os.register_at_fork`` runs `_after_in_child` in every child made by
``os.fork`` -- ``multiprocessing`` and ``ProcessPoolExecutor`` with the fork
start method, and the children of a forkserver -- before any of the child's
own code:

1. the kernels go serial if the parent's OpenMP threads had started
   (libgomp's thread pool does not survive a fork: entering it in the child
   hangs);
2. the streams whose key came from the operating system -- the default
   stream, and layers made with ``rng=None`` -- get a key of their own,
   `derive_key` of the parent's key and the child's index (the number of
   children this process had forked before it), so that no two processes
   draw the same masks, and a parent seeded with `cydrop.manual_seed`
   gives its children the same keys on every run;
3. the callbacks registered with `at_fork_child` run (in registration
   order), e.g. locks re-made in the child.

A process started with spawn imports cydrop afresh: it keys its default
stream from the operating system, and its kernels may use threads.
"""
from __future__ import annotations

import os

import numpy as np

from . import _kernels

# the spawn_key tag of a forked child's key ("fork"), so that it never equals
# a key `derive_key` gives for another purpose (a layer's `spawn`)
FORK_TAG = 0x666F726B

_children = 0          # children forked from this process so far
_callbacks = []        # f(index) to run in a forked child


def derive_key(seed, *spawn_key):
    """A 64-bit key derived from ``seed`` and the integers ``spawn_key``
    by NumPy's ``SeedSequence`` (the hashing ``Generator.spawn`` uses):
    distinct inputs give independent keys."""
    state = np.random.SeedSequence(seed, spawn_key=spawn_key).generate_state(1, np.uint64)
    return int(state[0])


def at_fork_child(callback):
    """Run ``callback(index)`` in every child forked from now on, ``index``
    being the child's number among this process's forks (0 for the first)."""
    _callbacks.append(callback)
    return callback


def children_forked():
    """How many children this process has forked (since it was forked itself)."""
    return _children


def _after_in_parent():
    global _children
    _children += 1


def _after_in_child():
    global _children
    index = _children
    _children = 0
    _kernels._after_fork_child()
    for callback in _callbacks:
        callback(index)


if hasattr(os, "register_at_fork"):      # not on Windows
    os.register_at_fork(after_in_parent=_after_in_parent, after_in_child=_after_in_child)
