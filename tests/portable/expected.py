"""What tests/portable/stream_check.c must print, from the Python reference.

The stream words come from ``cydrop.stream_words`` (the installed package,
whatever path it picks on this CPU) and are checked here against the
plain-Python Philox of tests/_reference.py, written independently of the C
header; the known answers are Random123's (docs/design.md); the element-loop
results are NumPy's ``np.where(word >= thr, x * scale, 0)`` and checked
against ``cydrop.dropout``; the float16 conversions are NumPy's, with NaNs
as half.h documents them (quiet bit set, top payload bits kept).

The cases and the inputs are those of stream_check.c: change both together.
Run: python tests/portable/expected.py > expected.txt
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import cydrop  # noqa: E402
import _reference  # noqa: E402  (tests/_reference.py)

KAT = [  # counter, key, philox4x32_10: Random123's kat_vectors (docs/design.md)
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]

WORD_CASES = [  # seed, offset, n
    (0, 0, 4),
    (0, 1, 11),
    (1, 2, 13),
    (12345, 3, 1031),
    (2**64 - 1, 2**64 - 7, 19),
    (2**64 - 2, 5, 37),
    (2**63, 2**64 - 398, 1000),
    (0xA4093822299F31D0, 4 * 0xFFFFFFF0 + 1, 300),
    (0x0123456789ABCDEF, 2**63 - 1, 7),
]

APPLY_CASES = [  # seed, first block b0, n, p
    (42, 0, 1000, 0.3),
    (2**64 - 1, 0xFFFFFFF6, 517, 0.5),
    (7, 5, 333, 0.9),
    (2**64 - 3, 2**62 - 256, 1024, 0.1),
]

F2H_MANTS = [
    0x000000, 0x000001, 0x000FFF, 0x001000, 0x001001, 0x001FFF, 0x002000,
    0x002FFF, 0x003000, 0x003001, 0x003FFF, 0x7FE000, 0x7FEFFF, 0x7FF000,
    0x7FF001, 0x7FFFFF, 0x400000, 0x400001, 0x3FFFFF, 0x1FFFFF, 0x200000,
    0x0FFFFF, 0x100000, 0x07FFFF, 0x080000, 0x555555, 0x2AAAAA, 0x123456,
]
F2H_SPREAD = 1 << 20

FNV_INIT = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
M64 = 2**64 - 1


def fnv1a64(data):
    h = FNV_INIT
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & M64
    return h


def words(seed, offset, n):
    w = np.asarray(cydrop.stream_words(seed, offset, n), dtype=np.uint64)
    ref = _reference.stream_words(seed, offset, n)
    assert np.array_equal(w, ref), ("cydrop.stream_words != tests/_reference.py", seed, offset, n)
    return [int(v) for v in w]


def x_inputs(n, dtype):
    """stream_check.c's x32/x64: full mantissas in [1, 2), every third negative."""
    k = np.arange(n, dtype=np.uint64)
    neg = (k % 3) == 0
    if dtype == np.float32:
        u = np.uint64(0x3F800000) | (((k * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF))
                                     >> np.uint64(9))
        u = u | np.where(neg, np.uint64(0x80000000), np.uint64(0))
        return u.astype("<u4").view("<f4")
    u = 0x3FF0000000000000 | ((k * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(12))
    u = u | np.where(neg, np.uint64(0x8000000000000000), np.uint64(0))
    return u.astype("<u8").view("<f8")


def apply_line(seed, b0, n, p, dtype):
    w = np.array(words(seed, 4 * b0, n), dtype=np.uint64)
    thr = int(np.floor(p * 2**32))
    x = x_inputs(n, dtype)
    scale = dtype(1.0 / (1.0 - p))
    keep = w >= thr
    o = np.where(keep, x * scale, dtype(0))
    y = cydrop.dropout(x, p, seed=seed, offset=4 * b0)
    assert y.tobytes() == o.tobytes(), ("cydrop.dropout != numpy reference", seed, b0, n, p)
    name = "float" if dtype == np.float32 else "double"
    return "apply %s %d %d %d %d kept=%d fnv=%016x" % (
        name, seed, b0, n, thr, int(keep.sum()), fnv1a64(o.tobytes()))


def h2f_bits():
    h = np.arange(65536, dtype=np.uint32)
    f = h.astype(np.uint16).view(np.float16).astype(np.float32).view(np.uint32)
    nan = ((h & 0x7C00) == 0x7C00) & ((h & 0x3FF) != 0)
    quiet = ((h & 0x8000) << 16) | 0x7F800000 | ((h & 0x3FF) << 13) | 0x400000
    return np.where(nan, quiet, f).astype("<u4")


def f2h_inputs():
    s = np.arange(2, dtype=np.uint32)[:, None, None]
    e = np.arange(256, dtype=np.uint32)[None, :, None]
    m = np.array(F2H_MANTS, dtype=np.uint32)[None, None, :]
    grid = ((s << 31) | (e << 23) | m).ravel()
    k = np.arange(F2H_SPREAD, dtype=np.uint64)
    spread = ((k * 0x9E3779B1 + 0x7F4A7C15) & 0xFFFFFFFF).astype(np.uint32)
    return np.concatenate([grid, spread])


def f2h_bits(u):
    with np.errstate(over="ignore", invalid="ignore"):
        h = u.view(np.float32).astype(np.float16).view(np.uint16).astype(np.uint32)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    quiet = ((u >> 16) & 0x8000) | 0x7E00 | ((u >> 13) & 0x3FF)
    return np.where(nan, quiet, h).astype("<u2")


def main():
    out = []
    for k, (ctr, key, expected) in enumerate(KAT):
        got = tuple(int(v) for v in cydrop.philox4x32_10(ctr, key))
        assert got == expected == _reference.philox4x32(ctr, key), (k, got)
        out.append("kat %d %s" % (k, " ".join("%08x" % v for v in got)))
    for seed, offset, n in WORD_CASES:
        out.append("words %d %d %d" % (seed, offset, n))
        w = words(seed, offset, n)
        out.extend(" ".join("%08x" % v for v in w[i:i + 8]) for i in range(0, n, 8))
    for seed, b0, n, p in APPLY_CASES:
        out.append(apply_line(seed, b0, n, p, np.float32))
        out.append(apply_line(seed, b0, n, p, np.float64))
    out.append("half h2f fnv=%016x" % fnv1a64(h2f_bits().tobytes()))
    u = f2h_inputs()
    out.append("half f2h %d fnv=%016x" % (u.size, fnv1a64(f2h_bits(u).tobytes())))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
