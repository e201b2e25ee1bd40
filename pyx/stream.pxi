# The random stream (included by _kernels.pyx): block numbers wrapping
# modulo 2**62, a call's advance, the Philox block and fill wrappers for
# Python, `Stream` (a key and a position: what a layer draws from) and the
# default stream.  The stream's definition is docs/design.md, "The random
# stream"; the words themselves come from philox.h.

# The stream has 2**64 words, 2**62 blocks of four: word indices wrap modulo
# 2**64 (design: "The random stream"), so block numbers wrap modulo 2**62.
cdef uint64_t _NBLOCKS = (<uint64_t>1) << 62


cdef inline void _fill_wrapped(cydrop_fill_fn fill, uint32_t *words, uint64_t b,
                               uint64_t nblocks, uint64_t seed) noexcept nogil:
    """Blocks ``b, b + 1, ... (mod 2**62)``: a fill that runs past the last
    block goes on from block 0."""
    cdef uint64_t first_part
    b &= _NBLOCKS - 1
    if nblocks > _NBLOCKS - b:
        first_part = _NBLOCKS - b
        fill(words, b, <size_t>first_part, seed)
        fill(words + 4 * first_part, 0, <size_t>(nblocks - first_part), seed)
    else:
        fill(words, b, <size_t>nblocks, seed)


def stream_advance(uint64_t offset, uint64_t n):
    """The stream position after a call on ``n`` elements at ``offset``:
    ``n`` rounded up to whole 4-word blocks, modulo 2**64 (the one rule the
    default stream and every module follow)."""
    return _advance(offset, n)


cdef inline uint64_t _advance(uint64_t offset, uint64_t n) noexcept nogil:
    return offset + ((n + 3) & ~(<uint64_t>3))


def threshold(double p):
    """``floor(p * 2**32)``: words at or above it are kept (p in [0, 1))."""
    return keep_threshold(p)


def stream_into(uint32_t[::1] words not None, uint64_t seed, uint64_t offset):  # OUT
    """Write words ``offset .. offset + len(words) - 1`` (mod 2**64) of the
    stream keyed by ``seed`` into ``words``: `fill_words`, for Python."""
    with nogil:
        fill_words(words, seed, offset)


# ---------------------------------------------------------------------------
# The stream itself

def philox4x32(counter, key, int rounds=10):
    """One Philox4x32 block: four 32-bit counter words and two key words in,
    four words out (a tuple of ints).  ``rounds=10`` is the stream's."""
    cdef uint32_t c[4]
    cdef uint32_t k[2]
    cdef uint32_t out[4]
    cdef int i
    if len(counter) != 4 or len(key) != 2:
        raise ValueError("philox4x32 takes 4 counter words and 2 key words")
    for i in range(4):
        if not 0 <= counter[i] <= 0xFFFFFFFF:
            raise ValueError(f"counter word {counter[i]!r} is not a 32-bit unsigned integer")
        c[i] = counter[i]
    for i in range(2):
        if not 0 <= key[i] <= 0xFFFFFFFF:
            raise ValueError(f"key word {key[i]!r} is not a 32-bit unsigned integer")
        k[i] = key[i]
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")
    cydrop_philox4x32(c, k, rounds, out)
    return (out[0], out[1], out[2], out[3])


def fill_blocks(uint32_t[::1] words, uint64_t block0, uint64_t seed, impl=None):  # OUT
    """Write stream blocks ``block0, block0 + 1, ...`` (four words each, block
    numbers modulo 2**62) into ``words`` (its length a multiple of 4) with the
    named implementation ("scalar", "avx2", "avx512"; default: the active one)."""
    cdef cydrop_fill_fn fn = _fill
    cdef size_t nblocks = words.shape[0] // 4
    if words.shape[0] % 4:
        raise ValueError("words must hold a whole number of 4-word blocks")
    if impl is not None:
        if not impl_supported(impl):
            raise ValueError(f"Philox implementation {impl!r} is not available on this CPU/build")
        fn = cydrop_impl_fn(IMPLS[impl])
    if nblocks:
        with nogil:
            _fill_wrapped(fn, &words[0], block0, nblocks, seed)


# ---------------------------------------------------------------------------
# A stream of one's own: what a module (cydrop.Dropout) draws from.


cdef class Stream:
    """A key and a position in the Philox stream: what a `cydrop.Dropout`
    layer draws its masks from.

    `take` reserves a range and advances the position in one step that
    holds the GIL and never releases it, so that concurrent Python threads
    never get overlapping ranges, with no lock (a lock would not survive
    pickling, and one held by another thread at a fork would stay held in
    the child forever).  Pickles and copies as its ``(seed, offset)``.
    """
    cdef uint64_t _seed
    cdef uint64_t _offset

    def __init__(self, uint64_t seed=0, uint64_t offset=0):
        self._seed = seed
        self._offset = offset

    def take(self, uint64_t n):
        """``(seed, offset)`` for a call on ``n`` elements; the position
        advances by ``n`` rounded up to whole 4-word blocks (modulo 2**64)."""
        cdef uint64_t offset = self._offset
        self._offset = _advance(offset, n)
        return (self._seed, offset)

    def state(self):
        """``(seed, offset)``, without advancing."""
        return (self._seed, self._offset)

    def set(self, uint64_t seed, uint64_t offset):
        """Key ``seed``, position ``offset``."""
        self._seed = seed
        self._offset = offset

    def __reduce__(self):
        return (Stream, (self._seed, self._offset))

    def __eq__(self, other):
        if not isinstance(other, Stream):
            return NotImplemented
        return self.state() == (<Stream>other).state()

    __hash__ = None

    def __repr__(self):
        return f"Stream(seed={self._seed}, offset={self._offset})"


# ---------------------------------------------------------------------------
# The default stream (used when dropout gets no seed): a key and a position.
# These functions hold the GIL and never release it, so each call is atomic
# with respect to other Python threads: no lock needed.

cdef uint64_t _default_seed = 0
cdef uint64_t _default_offset = 0


def default_stream_reset(uint64_t seed):
    """Key the default stream with ``seed`` and restart it at position 0."""
    global _default_seed, _default_offset
    _default_seed = seed
    _default_offset = 0


def default_stream_take(Py_ssize_t n):
    """``(seed, offset)`` for a call on ``n`` elements; the position advances by
    ``n`` rounded up to whole 4-word blocks (wrapping modulo 2**64)."""
    global _default_offset
    cdef uint64_t offset = _default_offset
    _default_offset = _advance(offset, <uint64_t>n)
    return (_default_seed, offset)


def default_stream_state():
    """``(seed, offset)`` of the default stream, without advancing it."""
    return (_default_seed, _default_offset)
