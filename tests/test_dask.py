"""cydrop.dask: chunked == in-memory, bit for bit, on Dask's schedulers."""
import contextlib
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

import cydrop  # noqa: E402
import cydrop.dask as cdask  # noqa: E402

U64 = 2**64


def bits_of(a):
    """The array's bytes as unsigned integers: equality is bit for bit."""
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def assert_bit_equal(got, want):
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(bits_of(np.ascontiguousarray(got)),
                                  bits_of(np.ascontiguousarray(want)))


def packed_per_block(mask, chunks):
    """The documented "bits" layout: for each block in the C order of the
    block grid, np.packbits(block_mask.ravel(), bitorder="little")."""
    starts = [np.cumsum((0,) + c[:-1]) for c in chunks]
    out = [np.packbits(mask[tuple(slice(s, s + n) for s, n in zip(st_, sh))].ravel(),
                       bitorder="little")
           for st_, sh in zip(itertools.product(*starts), itertools.product(*chunks))]
    return np.concatenate(out) if out else np.zeros(0, np.uint8)


@contextlib.contextmanager
def block_path(path):
    """Force one of the block strategies of cydrop.dask (the default picks by
    run length): "runs" = a kernel call per run, "span" = the covering span."""
    saved = cdask._LONG_RUN, cdask._SPAN_FACTOR
    if path == "runs":
        cdask._LONG_RUN = 0
    elif path == "span":
        cdask._LONG_RUN, cdask._SPAN_FACTOR = U64, U64
    try:
        yield
    finally:
        cdask._LONG_RUN, cdask._SPAN_FACTOR = saved


@st.composite
def chunked_arrays(draw):
    """A shape of 1-4 dims (empty axes too) and a random, ragged chunking."""
    shape = tuple(draw(st.lists(st.integers(0, 9), min_size=1, max_size=4)))
    chunks = []
    for n in shape:
        if n == 0:
            chunks.append((0,))
            continue
        cuts = draw(st.sets(st.integers(1, n - 1), max_size=n - 1)) if n > 1 else set()
        edges = [0, *sorted(cuts), n]
        chunks.append(tuple(b - a for a, b in zip(edges, edges[1:])))
    return shape, tuple(chunks)


offsets = st.one_of(st.just(0), st.integers(0, 2**64 - 1), st.integers(2**64 - 300, 2**64 - 1))
probs = st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0, 1 / 3])


@given(geom=chunked_arrays(), geom2=chunked_arrays(), p=probs, seed=st.integers(0, 2**64 - 1),
       offset=offsets, dtype=st.sampled_from([np.float32, np.float64]),
       path=st.sampled_from(["auto", "runs", "span"]))
def test_chunked_equals_in_memory(geom, geom2, p, seed, offset, dtype, path):
    shape, chunks = geom
    a = np.random.default_rng(seed % 1000).standard_normal(shape).astype(dtype)
    x = da.from_array(a, chunks=chunks)
    ref, ref_mask = cydrop.dropout(a, p, seed=seed, offset=offset, return_mask=True)
    with block_path(path), dask.config.set(scheduler="sync"):
        assert_bit_equal(cdask.dropout(x, p, seed=seed, offset=offset).compute(), ref)
        y, m = cdask.dropout(x, p, seed=seed, offset=offset, return_mask=True)
        assert m.dtype == bool and m.chunks == x.chunks
        y, m = dask.compute(y, m)
        assert_bit_equal(y, ref)
        np.testing.assert_array_equal(m, ref_mask)
        _, b = cdask.dropout(x, p, seed=seed, offset=offset, return_mask="bits")
        np.testing.assert_array_equal(b.compute(), packed_per_block(ref_mask, x.chunks))
        np.testing.assert_array_equal(
            cdask.keep_mask(shape, p, seed, offset, chunks=chunks).compute(),
            cydrop.keep_mask(shape, p, seed, offset))
        # backward, on another chunking than the forward's
        g = np.random.default_rng(1).standard_normal(shape).astype(dtype)
        gshape2, chunks2 = geom2
        if gshape2 == shape:
            chunks = chunks2
        dg = cdask.dropout_backward(da.from_array(g, chunks=chunks), p, seed=seed, offset=offset)
        assert_bit_equal(dg.compute(), cydrop.dropout_backward(g, p=p, seed=seed, offset=offset))


@pytest.mark.parametrize("path", ["auto", "runs", "span"])
@pytest.mark.parametrize("shape,chunks", [
    ((64, 100), (64, 30)),            # split along the last axis only
    ((40, 50), (7, 50)),              # along axis 0 only: one run per block
    ((6, 7, 8, 9), (2, 3, 8, 4)),     # every axis but one
    ((5, 6, 7, 8), (1, 1, 1, 1)),     # every axis, single elements
    ((3, 1, 4097), (2, 1, 4000)),     # long runs
    ((1, 3000, 5), (1, 1000, 5)),
])
def test_geometries_threaded(shape, chunks, path, dtype):
    a = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    x = da.from_array(a, chunks=chunks)
    with block_path(path):
        y, m = cdask.dropout(x, 0.4, seed=11, offset=7, return_mask=True)
        y, m, dg = dask.compute(y, m, cdask.dropout_backward(x, 0.4, seed=11, offset=7),
                                scheduler="threads", num_workers=2)
    ref, ref_mask = cydrop.dropout(a, 0.4, seed=11, offset=7, return_mask=True)
    assert_bit_equal(y, ref)
    np.testing.assert_array_equal(m, ref_mask)
    assert_bit_equal(dg, cydrop.dropout_backward(a, p=0.4, seed=11, offset=7))


def test_lazy():
    """Building the graph computes nothing: the input's only block raises."""
    def boom():
        raise RuntimeError("computed")
    x = da.from_delayed(dask.delayed(boom)(), shape=(4, 4), dtype=np.float32)
    y, m = cdask.dropout(x, 0.5, seed=1, return_mask="bits")
    dx = cdask.dropout_backward(x, 0.5, seed=1)
    assert isinstance(y, da.Array) and isinstance(m, da.Array) and isinstance(dx, da.Array)
    with pytest.raises(RuntimeError, match="computed"):
        y.compute(scheduler="sync")


def test_identity_and_zeros():
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    x = da.from_array(a, chunks=2)
    assert cdask.dropout(x, 0.0, seed=1) is x
    assert cdask.dropout(x, 0.7, seed=1, training=False) is x
    assert cdask.dropout_backward(x, 0.0, seed=1) is x
    y, m = cdask.dropout(x, 0.5, seed=1, training=False, return_mask=True)
    assert y is x and m.compute().all()
    y, m = cdask.dropout(x, 1.0, seed=1, return_mask=True)
    assert y.chunks == x.chunks and m.chunks == x.chunks
    assert_bit_equal(y.compute(), np.zeros_like(a))
    assert not m.compute().any()
    assert_bit_equal(cdask.dropout_backward(x, 1.0, seed=1).compute(), np.zeros_like(a))


def test_keep_mask_packed():
    m = cdask.keep_mask((9, 10), 0.3, 5, 2**64 - 7, chunks=(4, 3), packed=True)
    assert m.dtype == np.uint8 and m.ndim == 1
    ref = cydrop.keep_mask((9, 10), 0.3, 5, 2**64 - 7)
    np.testing.assert_array_equal(m.compute(),
                                  packed_per_block(ref, ((4, 4, 1), (3, 3, 3, 1))))


def _message(exc_type, fn):
    with pytest.raises(exc_type) as info:
        fn()
    return str(info.value)


@pytest.mark.parametrize("kwargs,exc", [
    (dict(p=1.5), ValueError),
    (dict(p=float("nan")), ValueError),
    (dict(p=True), ValueError),
    (dict(p="0.5"), ValueError),
    (dict(seed=-1), ValueError),
    (dict(seed=2**64), ValueError),
    (dict(seed=1.0), TypeError),
    (dict(offset=-3), ValueError),
    (dict(offset=2**64), ValueError),
    (dict(offset="1"), TypeError),
])
def test_bad_arguments_at_graph_time(kwargs, exc):
    """Raised at once, with the in-memory API's message."""
    a = np.ones((4, 4), np.float32)
    args = dict(p=0.5, seed=1, offset=0) | kwargs
    x = da.from_array(a, chunks=2)
    want = _message(exc, lambda: cydrop.dropout(a, args["p"], seed=args["seed"],
                                                offset=args["offset"]))
    assert _message(exc, lambda: cdask.dropout(x, args["p"], seed=args["seed"],
                                               offset=args["offset"])) == want
    want = _message(exc, lambda: cydrop.dropout_backward(a, p=args["p"], seed=args["seed"],
                                                         offset=args["offset"]))
    assert _message(exc, lambda: cdask.dropout_backward(x, args["p"], seed=args["seed"],
                                                        offset=args["offset"])) == want
    want = _message(exc, lambda: cydrop.keep_mask((4, 4), args["p"], args["seed"],
                                                  args["offset"]))
    assert _message(exc, lambda: cdask.keep_mask((4, 4), args["p"], args["seed"],
                                                 args["offset"], chunks=2)) == want


@pytest.mark.parametrize("dt", ["int16", "int32", "complex64", "bool"])
def test_bad_dtype_at_graph_time(dt):
    """Refused as by the in-memory API, with its message."""
    a = np.ones((4, 4), dt)
    want = _message(TypeError, lambda: cydrop.dropout(a, 0.5, seed=1))
    x = da.from_array(a, chunks=2)
    assert _message(TypeError, lambda: cdask.dropout(x, 0.5, seed=1)) == want
    want = _message(TypeError, lambda: cydrop.dropout_backward(a, p=0.5, seed=1))
    assert _message(TypeError, lambda: cdask.dropout_backward(x, 0.5, seed=1)) == want


def test_other_bad_input():
    x = da.ones((4,), chunks=2)
    with pytest.raises(ValueError, match="return_mask"):
        cdask.dropout(x, 0.5, seed=1, return_mask="packed")
    with pytest.raises(TypeError, match="dask.array.Array"):
        cdask.dropout(np.ones(4), 0.5, seed=1)
    with pytest.raises(TypeError):
        cdask.dropout(x, 0.5)          # seed is required


def test_zero_d_and_empty():
    a = np.array(3.0, np.float32)
    for seed in range(8):
        y, m = cdask.dropout(da.from_array(a), 0.5, seed=seed, return_mask="bits")
        ref, ref_m = cydrop.dropout(a, 0.5, seed=seed, return_mask="bits")
        assert_bit_equal(y.compute(), ref)
        np.testing.assert_array_equal(m.compute(), ref_m)
    e = da.zeros((0, 5), chunks=(1, 2), dtype=np.float64)
    y, m = cdask.dropout(e, 0.5, seed=0, return_mask="bits")
    assert y.compute().shape == (0, 5) and m.compute().shape == (0,)


def test_non_native_byte_order():
    a = np.arange(20, dtype=">f4").reshape(4, 5)
    y = cdask.dropout(da.from_array(a, chunks=(3, 2)), 0.5, seed=4).compute()
    assert y.dtype == np.float32
    assert_bit_equal(y, cydrop.dropout(a, 0.5, seed=4))


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as cluster, \
            distributed.Client(cluster) as c:
        yield c


def test_local_cluster(client):
    """2 worker processes: the compiled kernels import and run there; 2**24
    float32 elements in 16 blocks cut along both axes (not contiguous in
    the global order), forward, mask and backward as in memory."""
    shape, seed, offset, p = (4096, 4096), 2024, 2**64 - 1000, 0.3
    x = da.random.default_rng(0).standard_normal(shape, chunks=(1024, 1024),
                                                 dtype=np.float32)
    assert x.numblocks == (4, 4)
    y, m = cdask.dropout(x, p, seed=seed, offset=offset, return_mask=True)
    g = x.rechunk((512, 4096))    # 8 blocks, one run each
    dg = cdask.dropout_backward(g, p, seed=seed, offset=offset)
    a, y, m, dg = client.compute([x, y, m, dg], sync=True)
    ref, ref_mask = cydrop.dropout(a, p, seed=seed, offset=offset, return_mask=True)
    assert_bit_equal(y, ref)
    np.testing.assert_array_equal(m, ref_mask)
    assert_bit_equal(dg, cydrop.dropout_backward(a, p=p, seed=seed, offset=offset))
    # the workers are other processes, and they ran the blocks
    pids = set(client.run(lambda: __import__("os").getpid()).values())
    assert len(pids) == 2 and __import__("os").getpid() not in pids


def test_mask_and_result_from_one_pass(monkeypatch):
    """dask.compute(y, mask) runs one task per block for both."""
    calls = []
    real = cdask._fused_block

    def counting(x, block_info=None, **kwargs):   # map_blocks looks for block_info
        calls.append(1)
        return real(x, block_info, **kwargs)
    monkeypatch.setattr(cdask, "_fused_block", counting)
    a = np.random.default_rng(0).standard_normal((6, 10)).astype(np.float32)
    x = da.from_array(a, chunks=(4, 3))
    for kind in (True, "bits"):
        calls.clear()
        y, m = dask.compute(*cdask.dropout(x, 0.5, seed=3, return_mask=kind), scheduler="sync")
        assert len(calls) == x.npartitions
        ref, ref_m = cydrop.dropout(a, 0.5, seed=3, return_mask=True)
        assert_bit_equal(y, ref)
        want = ref_m if kind is True else packed_per_block(ref_m, x.chunks)
        np.testing.assert_array_equal(m, want)


def test_float16_blocks_equal_the_in_memory_call():
    a = np.random.default_rng(5).standard_normal((9, 10)).astype(np.float16)
    want, m = cydrop.dropout(a, 0.3, seed=4, offset=8, return_mask=True)
    got = cdask.dropout(da.from_array(a, chunks=(4, 3)), 0.3, seed=4, offset=8)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got.compute(), want)
    g = cdask.dropout_backward(da.from_array(a, chunks=(4, 3)), 0.3, seed=4, offset=8)
    np.testing.assert_array_equal(g.compute(), cydrop.dropout_backward(a, m, 0.3))


def unknown_chunks():
    """Two arrays whose chunk sizes are NaN, as after boolean indexing: 1-D,
    and 2-D with only the rows unknown."""
    d = da.from_array(np.arange(10.0), chunks=3)
    a = np.arange(24, dtype=np.float32).reshape(6, 4)
    e = da.from_array(a, chunks=(2, 3))
    return [d[d > 5], e[e[:, 0] > 4]]


@pytest.mark.parametrize("which", [0, 1], ids=["1d", "2d_rows"])
@pytest.mark.parametrize("call", [
    lambda x: cdask.dropout(x, 0.5, seed=1),
    lambda x: cdask.dropout(x, 1.0, seed=1),
    lambda x: cdask.dropout(x, 0.5, seed=1, return_mask=True),
    lambda x: cdask.dropout(x, 0.5, seed=1, return_mask="bits"),
    lambda x: cdask.dropout(x, 1.0, seed=1, return_mask=True),
    lambda x: cdask.dropout(x, 0.0, seed=1, return_mask=True),
    lambda x: cdask.dropout(x, 0.5, seed=1, training=False, return_mask="bits"),
    lambda x: cdask.dropout_backward(x, 0.5, seed=1),
    lambda x: cdask.dropout_backward(x, 1.0, seed=1),
], ids=["p", "p1", "mask", "bits", "p1_mask", "p0_mask", "eval_bits", "backward",
        "backward_p1"])
def test_unknown_chunk_sizes_refused_at_graph_time(which, call):
    """NaN chunk sizes (boolean indexing) leave the blocks' global positions
    unknown: a clear ValueError when the graph is built (it used to build
    and then fail at compute with "cannot convert float NaN to integer")."""
    x = unknown_chunks()[which]
    with pytest.raises(ValueError, match="chunk sizes of (x|grad) are unknown") as info:
        call(x)
    msg = str(info.value)
    assert "NaN" in msg and "global C-order position" in msg
    assert "compute_chunk_sizes()" in msg


def test_unknown_chunk_sizes_fine_when_nothing_is_drawn():
    """No mask, no positions: x itself, whatever its chunks."""
    for x in unknown_chunks():
        assert cdask.dropout(x, 0.0, seed=1) is x
        assert cdask.dropout(x, 0.5, seed=1, training=False) is x
        assert cdask.dropout_backward(x, 0.0, seed=1) is x


def test_unknown_chunk_sizes_after_compute_chunk_sizes():
    """The fix the message names works, and gives the in-memory result."""
    for x in unknown_chunks():
        a = x.compute()
        x.compute_chunk_sizes()
        y, m = dask.compute(*cdask.dropout(x, 0.5, seed=3, offset=2, return_mask=True))
        ref, ref_m = cydrop.dropout(a, 0.5, seed=3, offset=2, return_mask=True)
        assert_bit_equal(y, ref)
        np.testing.assert_array_equal(m, ref_m)
        assert_bit_equal(cdask.dropout_backward(x, 0.5, seed=3, offset=2).compute(),
                         cydrop.dropout_backward(a, p=0.5, seed=3, offset=2))
