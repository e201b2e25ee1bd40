"""The Cython API (``cydrop/kernels.pxd``), used the way a downstream
extension uses it: a small Cython module is written to a temporary
directory, built with ``cythonize`` and the C compiler from a ``setup.py``
that finds cydrop through ``cydrop.get_include()``, imported, and every API
function is called inside ``with nogil:`` (and the stream functions inside a
``prange``).  Its results must equal the Python API's bit for bit, for both
dtypes."""
import importlib.util
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cydrop

pytest.importorskip("Cython", reason="building a downstream extension needs Cython "
                                     "(in the test extra)")
if not any(shutil.which(cc) for cc in ("cc", "gcc", "clang")):
    # the wheel stage of .ci/run tests an installed wheel with no compiler on
    # PATH, as a user without one has; every other stage builds this
    pytest.skip("building a downstream extension needs a C compiler on PATH",
                allow_module_level=True)

USER_PYX = r'''
# cython: language_level=3, boundscheck=False, wraparound=False
from cython.parallel cimport prange
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from cydrop.kernels cimport (
    floating, DROPOUT_OK, DROPOUT_ERR_LENGTH, DROPOUT_ERR_P,
    apply_mask, apply_mask_inplace, apply_bits, apply_bits_inplace,
    forward, forward_mask, forward_bits,
    backward_mask, backward_bits, backward_stream,
    fill_words, keep_threshold, keep_scale,
    CYDROP_API_VERSION_MAJOR, CYDROP_API_VERSION_MINOR, CYDROP_API_VERSION,
)

cdef extern from *:
    """
    #if CYDROP_API_VERSION_MAJOR != 1 || CYDROP_API_VERSION != 0x0100 + CYDROP_API_VERSION_MINOR
    #error "built for cydrop's Cython API 1.x"
    #endif
    """

OK, ERR_LENGTH, ERR_P = DROPOUT_OK, DROPOUT_ERR_LENGTH, DROPOUT_ERR_P
API_VERSION = (CYDROP_API_VERSION_MAJOR, CYDROP_API_VERSION_MINOR)


def call_apply_mask(const floating[::1] x, const uint8_t[::1] m, double scale,
                    floating[::1] out):
    cdef int s
    with nogil:
        s = apply_mask(x, m, scale, out)
    return s


def call_apply_mask_inplace(floating[::1] x, const uint8_t[::1] m, double scale):
    cdef int s
    with nogil:
        s = apply_mask_inplace(x, m, scale)
    return s


def call_apply_bits(const floating[::1] x, const uint8_t[::1] b, double scale,
                    floating[::1] out):
    cdef int s
    with nogil:
        s = apply_bits(x, b, scale, out)
    return s


def call_apply_bits_inplace(floating[::1] x, const uint8_t[::1] b, double scale):
    cdef int s
    with nogil:
        s = apply_bits_inplace(x, b, scale)
    return s


def call_forward(const floating[::1] x, double p, uint64_t seed, uint64_t offset,
                 floating[::1] out):
    cdef int s
    with nogil:
        s = forward(x, p, seed, offset, out)
    return s


def call_forward_mask(const floating[::1] x, double p, uint64_t seed, uint64_t offset,
                      floating[::1] out, uint8_t[::1] m):
    cdef int s
    with nogil:
        s = forward_mask(x, p, seed, offset, out, m)
    return s


def call_forward_bits(const floating[::1] x, double p, uint64_t seed, uint64_t offset,
                      floating[::1] out, uint8_t[::1] b):
    cdef int s
    with nogil:
        s = forward_bits(x, p, seed, offset, out, b)
    return s


def call_backward_mask(const floating[::1] g, const uint8_t[::1] m, double p,
                       floating[::1] out):
    cdef int s
    with nogil:
        s = backward_mask(g, m, p, out)
    return s


def call_backward_bits(const floating[::1] g, const uint8_t[::1] b, double p,
                       floating[::1] out):
    cdef int s
    with nogil:
        s = backward_bits(g, b, p, out)
    return s


def call_backward_stream(const floating[::1] g, double p, uint64_t seed, uint64_t offset,
                         floating[::1] out):
    cdef int s
    with nogil:
        s = backward_stream(g, p, seed, offset, out)
    return s


def call_fill_words(uint32_t[::1] words, uint64_t seed, uint64_t offset):
    cdef int s
    with nogil:
        s = fill_words(words, seed, offset)
    return s


def call_threshold_and_scale(double p):
    cdef uint32_t t
    cdef double sc
    with nogil:
        t = keep_threshold(p)
        sc = keep_scale(p)
    return t, sc


def rows_in_prange(const floating[:, ::1] x, double p, uint64_t seed, uint64_t offset,
                   floating[:, ::1] y, floating[:, ::1] g, uint8_t[:, ::1] m):
    """Row r of a (rows, width) array is positions r*width.. of the whole: each
    thread draws its rows' masks from offset + r*width, forward and backward."""
    cdef Py_ssize_t r, width = x.shape[1]
    cdef int bad = 0
    for r in prange(x.shape[0], nogil=True, schedule="static", num_threads=2):
        if forward_mask(x[r], p, seed, offset + <uint64_t>(r * width), y[r], m[r]) != DROPOUT_OK:
            bad += 1
        if backward_stream(x[r], p, seed, offset + <uint64_t>(r * width), g[r]) != DROPOUT_OK:
            bad += 1
    return bad
'''

SETUP_PY = r'''
import cydrop
from Cython.Build import cythonize
from setuptools import Extension, setup

ext = Extension("cydrop_user", ["cydrop_user.pyx"],
                extra_compile_args=["-fopenmp", "-O2"], extra_link_args=["-fopenmp"])
setup(ext_modules=cythonize([ext], include_path=[cydrop.get_include()], quiet=True))
'''


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """The downstream extension, built and imported."""
    d = tmp_path_factory.mktemp("downstream")
    (d / "cydrop_user.pyx").write_text(textwrap.dedent(USER_PYX))
    (d / "setup.py").write_text(textwrap.dedent(SETUP_PY))
    r = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=d,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    built = next(d.glob("cydrop_user*.so"), None) or next(d.glob("cydrop_user*.pyd"))
    spec = importlib.util.spec_from_file_location("cydrop_user", built)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_api_version_compiled_in_matches_the_installed_build(user):
    # the macros reached the downstream C compiler (the #if above) and
    # agree with what the running cydrop was built with
    from cydrop import _kernels
    assert user.API_VERSION == _kernels.CYTHON_API_VERSION == (1, 0)


def test_get_include_finds_the_pxd_files():
    import os
    inc = cydrop.get_include()
    for name in ("kernels.pxd", "_kernels.pxd", "types.pxd"):
        assert os.path.isfile(os.path.join(inc, "cydrop", name)), name


P = 0.37
SEED, OFFSET = 0xC0FFEE, 2**64 - 1000     # an offset whose calls wrap the stream
N = 5 * 2048 + 13                          # several work items and a ragged tail


def _data(dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(N).astype(dtype)


def test_masked_scaling(user, dtype):
    x = _data(dtype)
    m = np.random.default_rng(1).random(N) > P
    bits = np.packbits(m, bitorder="little")
    scale = 1.0 / (1.0 - P)
    want = cydrop.dropout(x, P, mask=m)
    out = np.empty_like(x)
    assert user.call_apply_mask(x, m.view(np.uint8), scale, out) == user.OK
    np.testing.assert_array_equal(out, want)
    out[...] = np.nan
    assert user.call_apply_bits(x, bits, scale, out) == user.OK
    np.testing.assert_array_equal(out, want)
    xi = x.copy()
    assert user.call_apply_mask_inplace(xi, m.view(np.uint8), scale) == user.OK
    np.testing.assert_array_equal(xi, want)
    xi = x.copy()
    assert user.call_apply_bits_inplace(xi, bits, scale) == user.OK
    np.testing.assert_array_equal(xi, want)
    # lengths that disagree: a status, nothing written
    short = np.zeros(N - 1, dtype)
    assert user.call_apply_mask(x, m.view(np.uint8), scale, short) == user.ERR_LENGTH
    assert user.call_apply_bits_inplace(xi, bits[:-1], scale) == user.ERR_LENGTH
    assert not short.any()


@pytest.mark.parametrize("p", [0.0, P, 1.0])
def test_fused_forward_and_masks(user, dtype, p):
    x = _data(dtype)
    want, want_m = cydrop.dropout(x, p, seed=SEED, offset=OFFSET, return_mask=True)
    want_bits = np.packbits(want_m, bitorder="little")
    out = np.empty_like(x)
    assert user.call_forward(x, p, SEED, OFFSET, out) == user.OK
    np.testing.assert_array_equal(out, want)
    m = np.empty(N, np.uint8)
    assert user.call_forward_mask(x, p, SEED, OFFSET, out, m) == user.OK
    np.testing.assert_array_equal(m.view(bool), want_m)
    b = np.empty((N + 7) // 8, np.uint8)
    assert user.call_forward_bits(x, p, SEED, OFFSET, out, b) == user.OK
    np.testing.assert_array_equal(b, want_bits)
    xi = x.copy()                           # out may be x: in place
    assert user.call_forward(xi, p, SEED, OFFSET, xi) == user.OK
    np.testing.assert_array_equal(xi, want)


def test_backward(user, dtype):
    g = _data(dtype, seed=5)
    _, m = cydrop.dropout(_data(dtype), P, seed=SEED, offset=OFFSET, return_mask=True)
    want = cydrop.dropout_backward(g, m, P)
    out = np.empty_like(g)
    assert user.call_backward_mask(g, m.view(np.uint8), P, out) == user.OK
    np.testing.assert_array_equal(out, want)
    out[...] = 0
    assert user.call_backward_bits(g, np.packbits(m, bitorder="little"), P, out) == user.OK
    np.testing.assert_array_equal(out, want)
    out[...] = 0
    assert user.call_backward_stream(g, P, SEED, OFFSET, out) == user.OK
    np.testing.assert_array_equal(out, cydrop.dropout_backward(g, None, P, seed=SEED,
                                                               offset=OFFSET))
    np.testing.assert_array_equal(out, want)
    assert user.call_backward_mask(g, m.view(np.uint8), 1.0, out) == user.OK
    assert not out.any()


def test_bad_p_is_a_status(user, dtype):
    x = _data(dtype)
    out = np.zeros_like(x)
    for p in (-0.1, 1.5, float("nan")):
        assert user.call_forward(x, p, SEED, 0, out) == user.ERR_P
        assert user.call_backward_stream(x, p, SEED, 0, out) == user.ERR_P
        assert user.call_backward_mask(x, np.ones(N, np.uint8), p, out) == user.ERR_P
    assert not out.any()


@pytest.mark.parametrize("offset", [0, 1, 2, 3, 5, 2**64 - 3])
@pytest.mark.parametrize("n", [0, 1, 3, 4, 9, 1001])
def test_fill_words(user, offset, n):
    words = np.empty(n, np.uint32)
    assert user.call_fill_words(words, SEED, offset) == user.OK
    np.testing.assert_array_equal(words, cydrop.stream_words(SEED, offset, n))


def test_threshold_and_scale(user):
    for p in (0.0, 0.1, 0.45, 0.5, 0.9, 1 - 2**-33):
        t, sc = user.call_threshold_and_scale(p)
        assert t == int(np.floor(p * 2**32)) and sc == 1.0 / (1.0 - p)


def test_rows_in_prange_equal_the_whole_array(user, dtype):
    rows, width = 64, 1000
    x = np.random.default_rng(3).standard_normal((rows, width)).astype(dtype)
    y, g = np.empty_like(x), np.empty_like(x)
    m = np.empty((rows, width), np.uint8)
    assert user.rows_in_prange(x, P, SEED, OFFSET, y, g, m) == 0
    want, want_m = cydrop.dropout(x, P, seed=SEED, offset=OFFSET, return_mask=True)
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(m.view(bool), want_m)
    np.testing.assert_array_equal(g, cydrop.dropout_backward(x, None, P, seed=SEED,
                                                             offset=OFFSET))
