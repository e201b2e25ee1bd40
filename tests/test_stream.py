"""The random stream is normative (docs/design.md): known answers, the word
layout, p's threshold, offsets, shapes, layouts and every SIMD path."""
import numpy as np
import pytest

import cydrop
from cydrop import _kernels

import _reference as ref

# Random123 kat_vectors, the "philox4x32 10" lines: counter, key -> output.
KAT = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]
# ... and the 7-round line for the same pi-digit input.
KAT7 = ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
        (0x4DFCCABA, 0x190A87F0, 0xC47362BA, 0xB6B5242A))

# Every path, on every CPU: the ones this CPU (or CYDROP_SIMD) lacks skip,
# saying so, instead of silently dropping out of the run.
IMPLS = [pytest.param(name, marks=pytest.mark.skipif(
    not _kernels.impl_supported(name),
    reason=f"this CPU/build cannot run the {name} Philox path (or CYDROP_SIMD caps it)"))
    for name in _kernels.IMPLS]


@pytest.mark.parametrize("ctr,key,expected", KAT)
def test_known_answers(ctr, key, expected):
    assert cydrop.philox4x32_10(ctr, key) == expected
    assert ref.philox4x32(ctr, key) == expected  # the test's own reference agrees


def test_known_answer_7_rounds():
    ctr, key, expected = KAT7
    assert _kernels.philox4x32(ctr, key, 7) == expected
    assert ref.philox4x32(ctr, key, 7) == expected


def test_scalar_path_is_always_available():
    assert _kernels.impl_supported("scalar")
    assert _kernels.get_impl() in _kernels.available_impls()


def test_simd_environment_caps_the_cpu():
    # CYDROP_SIMD=name: that path is used and nothing above it counts as
    # available (a run behaves as on a CPU that stops there).
    import os
    name = os.environ.get("CYDROP_SIMD")
    avail = _kernels.available_impls()
    if name:
        assert _kernels.get_impl() == name and avail[-1] == name
    else:
        assert _kernels.get_impl() == avail[-1]   # the fastest this CPU runs
    for above in list(_kernels.IMPLS)[len(avail):]:
        with pytest.raises(ValueError, match="not available"):
            _kernels.set_impl(above)


def test_simd_environment_is_checked_at_import():
    import os
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", "import cydrop"], capture_output=True,
                       text=True, env={**os.environ, "CYDROP_SIMD": "sse9"})
    assert r.returncode != 0 and "CYDROP_SIMD='sse9' is not a Philox path" in r.stderr


# -- the end of the stream: word indices wrap modulo 2**64 ---------------------

END = 2**64


@pytest.mark.parametrize("offset", [END - 1, END - 4, END - 6, END - 4099])
def test_stream_wraps_at_2_64(offset):
    n = 4107                       # crosses the end; more than one work item for 4099
    words = cydrop.stream_words(77, offset, n)
    np.testing.assert_array_equal(words, ref.stream_words(77, offset, n))
    # after the wrap the words are those at the start of the stream
    k = END - offset
    np.testing.assert_array_equal(words[k:], cydrop.stream_words(77, 0, n - k))


@pytest.mark.parametrize("offset", [END - 1, END - 5, END - 3 * 2048 - 3])
def test_dropout_and_keep_mask_wrap_at_2_64(offset, dtype):
    shape = (7, 1031)
    x = np.random.default_rng(6).standard_normal(shape).astype(dtype) + 3
    expected = ref.keep_mask(shape, 0.4, 3, offset)
    out, mask = cydrop.dropout(x, 0.4, seed=3, offset=offset, return_mask=True)
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(out, ref.numpy_dropout(x, expected, 0.4))
    np.testing.assert_array_equal(cydrop.keep_mask(shape, 0.4, 3, offset), expected)
    np.testing.assert_array_equal(cydrop.keep_mask(shape, 0.4, 3, offset, packed=True),
                                  np.packbits(expected.ravel(), bitorder="little"))
    np.testing.assert_array_equal(cydrop.dropout_backward(x, None, 0.4, seed=3, offset=offset),
                                  out)


def test_module_position_wraps_at_2_64():
    layer = cydrop.Dropout(0.5, rng=11)
    layer.set_state((11, END - 8))
    x = np.ones(10)
    layer(x)
    assert layer.get_state() == (11, 4)            # END - 8 + 12, modulo 2**64
    np.testing.assert_array_equal(layer.mask, ref.keep_mask((10,), 0.5, 11, END - 8))
    layer(x)
    np.testing.assert_array_equal(layer.mask, ref.keep_mask((10,), 0.5, 11, 4))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("block0", [0, 5, 2**32 - 7, 2**32 - 16, 2**62 - 3])
def test_every_simd_path_matches_the_reference(impl, block0):
    # 37 blocks: whole SIMD groups plus a scalar tail; blocks crossing 2**32
    # exercise the carry into the counter's second word.
    seed = 0x0123456789ABCDEF
    words = np.empty(4 * 37, np.uint32)
    _kernels.fill_blocks(words, block0, seed, impl)
    expected = ref.stream_words(seed, 4 * block0, 4 * 37)
    np.testing.assert_array_equal(words, expected)


@pytest.mark.parametrize("impl", IMPLS)
def test_dropout_is_identical_on_every_simd_path(impl):
    x = np.random.default_rng(0).standard_normal(10_001).astype(np.float32)
    before = _kernels.get_impl()
    try:
        _kernels.set_impl("scalar")
        want, wmask = cydrop.dropout(x, 0.3, seed=9, offset=1, return_mask=True)
        _kernels.set_impl(impl)
        got, gmask = cydrop.dropout(x, 0.3, seed=9, offset=1, return_mask=True)
    finally:
        _kernels.set_impl(before)
    np.testing.assert_array_equal(gmask, wmask)
    np.testing.assert_array_equal(got, want)


def test_unknown_impl_is_refused():
    with pytest.raises(ValueError, match="not available"):
        _kernels.set_impl("sse9")


@pytest.mark.parametrize("seed", [0, 1, 2**64 - 1])
@pytest.mark.parametrize("offset", [0, 3, 2**32 + 1])
def test_stream_words(seed, offset):
    np.testing.assert_array_equal(cydrop.stream_words(seed, offset, 23),
                                  ref.stream_words(seed, offset, 23))


def _odd_strided(shape, dtype):
    base = np.random.default_rng(1).standard_normal(
        tuple(3 * s + 1 for s in shape)).astype(dtype)
    return base[tuple(slice(None, None, 3) for _ in shape)][..., ::-1]


SHAPES = [(0,), (), (1,), (7,), (3, 7), (2, 0, 3), "odd-strides"]


@pytest.mark.parametrize("p", [0.1, 0.45, 0.5, 0.9])
@pytest.mark.parametrize("seed", [0, 1, 2**64 - 1])
@pytest.mark.parametrize("offset", [0, 3, 2**32 + 1])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_dropout_keeps_what_the_stream_says(p, seed, offset, shape, dtype):
    if shape == "odd-strides":
        x = _odd_strided((4, 5), dtype)
        assert not x.flags.c_contiguous and x.strides[-1] < 0
    else:
        x = np.random.default_rng(2).standard_normal(shape).astype(dtype) + 3
    expected = ref.keep_mask(x.shape, p, seed, offset)
    out, mask = cydrop.dropout(x, p, seed=seed, offset=offset, return_mask=True)
    assert mask.dtype == bool and mask.shape == x.shape
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(out, ref.numpy_dropout(x, expected, p))
    np.testing.assert_array_equal(cydrop.keep_mask(x.shape, p, seed, offset), expected)
    bits = cydrop.dropout(x, p, seed=seed, offset=offset, return_mask="bits")[1]
    np.testing.assert_array_equal(bits, np.packbits(expected.ravel(), bitorder="little"))
    np.testing.assert_array_equal(cydrop.keep_mask(x.shape, p, seed, offset, packed=True), bits)


def test_threshold_edges():
    # word >= floor(p * 2**32): with p = k / 2**32 exactly, a word equal to
    # the threshold is kept and one below is dropped.
    words = cydrop.stream_words(5, 0, 64).astype(np.int64)
    w = int(words[10])
    p_at = w / 2**32                 # threshold == w: element 10 kept
    p_above = (w + 1) / 2**32        # threshold == w + 1: dropped
    x = np.ones(64)
    assert cydrop.dropout(x, p_at, seed=5, return_mask=True)[1][10]
    assert not cydrop.dropout(x, p_above, seed=5, return_mask=True)[1][10]


def test_chunk_boundaries_and_large_offsets():
    # Several work items, an offset not on a block boundary, a length not a
    # multiple of 8: every element still uses word offset + i.
    n = 3 * _kernels.CHUNK_ELEMENTS + 13
    seed, offset = 77, 2**40 + 2
    mask = cydrop.keep_mask(n, 0.5, seed, offset)
    np.testing.assert_array_equal(mask, ref.keep_mask((n,), 0.5, seed, offset))


LAYOUTS = {
    "C": lambda a: a,
    "F": np.asfortranarray,
    "permuted": lambda a: np.ascontiguousarray(a.transpose(1, 2, 0)).transpose(2, 0, 1),
    "step": lambda a: np.repeat(a, 2, axis=2)[..., ::2],
    "negative": lambda a: a[::-1, :, ::-1].copy()[::-1, :, ::-1],
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_layout_never_changes_the_mask(layout, dtype):
    a = np.random.default_rng(3).standard_normal((6, 5, 7)).astype(dtype)
    b = LAYOUTS[layout](a)
    np.testing.assert_array_equal(a, b)
    want, wmask = cydrop.dropout(a, 0.4, seed=11, offset=5, return_mask=True)
    got, gmask = cydrop.dropout(b, 0.4, seed=11, offset=5, return_mask=True)
    np.testing.assert_array_equal(gmask, wmask)
    np.testing.assert_array_equal(got, want)
    # in place on the strided array itself (no copy is made)
    res = cydrop.dropout(b, 0.4, inplace=True, seed=11, offset=5)
    assert res is b
    np.testing.assert_array_equal(b, want)


def test_transpose_matches_contiguous_copy(dtype):
    x = np.random.default_rng(4).standard_normal((64, 33)).astype(dtype)
    a = cydrop.dropout(x.T, 0.5, seed=3)
    b = cydrop.dropout(np.ascontiguousarray(x.T), 0.5, seed=3)
    np.testing.assert_array_equal(a, b)


def test_in_place_on_negative_strides_writes_through_the_view(dtype):
    base = np.random.default_rng(5).standard_normal(101).astype(dtype)
    view = base[::-2]
    expected = cydrop.dropout(view.copy(), 0.5, seed=8)
    cydrop.dropout(view, 0.5, inplace=True, seed=8)
    np.testing.assert_array_equal(base[::-2], expected)
