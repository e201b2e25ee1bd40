# Result buffers (included by _kernels.pyx): fresh results from 1 MiB on
# (the one-call entries', and the general path's through new_result_like)
# are allocated through a NumPy memory handler that recycles freed results
# (result_cache.h says how; docs/design.md, "Results: fresh memory and
# streaming stores", says why).

cdef extern from "result_cache.h":
    int cydrop_rc_init() except -1
    void cydrop_rc_after_fork() noexcept nogil
    size_t cydrop_rc_set_max(size_t max_bytes) noexcept nogil
    size_t cydrop_rc_held_bytes() noexcept nogil
    object cydrop_rc_new_like(cnp.ndarray proto)
    size_t CYDROP_RC_MIN_BYTES

cydrop_rc_init()

#: Results of at least this many bytes come from the recycling handler.
RESULT_CACHE_MIN_BYTES = CYDROP_RC_MIN_BYTES


def set_result_cache(size_t max_bytes):
    """Keep freed results (of the one-call entries, from
    ``RESULT_CACHE_MIN_BYTES`` on) for reuse up to ``max_bytes`` in all
    (default 512 MiB; 0 keeps none and frees what is kept).  Returns the
    previous bound."""
    return cydrop_rc_set_max(max_bytes)


def result_cache_bytes():
    """Bytes of freed results kept for reuse now."""
    return cydrop_rc_held_bytes()


def new_result_like(cnp.ndarray x not None):
    """An uninitialised array of x's shape, dtype and layout (as
    ``np.empty_like(x)`` for a plain ndarray), its memory recycled from a
    freed result when one of exactly its size is kept.  The caller writes
    every element."""
    return cydrop_rc_new_like(x)


def _apply_result_cache_env():
    """``CYDROP_RESULT_CACHE=N``: keep at most N bytes of freed results
    (0: none, every result fresh memory as np.empty_like's)."""
    text = os.environ.get("CYDROP_RESULT_CACHE", "")
    if not text:
        return
    try:
        n = int(text)
        if n < 0:
            raise ValueError
    except ValueError:
        raise ImportError(f"CYDROP_RESULT_CACHE={text!r} is not a byte count "
                          f"(an integer >= 0; 0 keeps no freed results)") from None
    set_result_cache(n)


_apply_result_cache_env()
