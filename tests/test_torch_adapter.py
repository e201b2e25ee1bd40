"""cydrop.torch: the custom operators, autograd, torch.compile, seeding,
in-place rules, the module and the fallback.  Skips cleanly without torch.

The torch.compile tests are few and small: ``aot_eager`` (no C++ build, ~2 s)
for most checks and one Inductor compile (C++ through gcc, ~10-30 s on a
busy 2-core machine).
"""
import copy
import shutil
import subprocess
import sys

import numpy as np

import pytest

import cydrop

torch = pytest.importorskip("torch")
ct = pytest.importorskip("cydrop.torch")
F = torch.nn.functional

TORCH_DTYPES = {np.float32: torch.float32, np.float64: torch.float64}
SEEDS = [0, 1, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 0x0123456789ABCDEF]


def _data(shape, tdtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, dtype=tdtype, generator=g)
    x[x == 0] = 1
    return x


@pytest.fixture(params=["eager", "operator"])
def path(request, monkeypatch):
    """Both ways to the kernels: the eager fast path (autograd.Function) and
    the custom operator with its registered autograd (what torch.compile
    and tracing use)."""
    if request.param == "operator":
        monkeypatch.setattr(ct, "_eager", lambda t: False)
    return request.param


def _key_of_next_draw():
    """The key the next call without seed= takes from torch's default
    generator, drawn on a copy of its state (the generator is left as it was)."""
    state = torch.get_rng_state()
    lo, hi = torch.randint(0, 2**32, (2,), dtype=torch.int64).tolist()
    torch.set_rng_state(state)
    return lo | (hi << 32)


# -- import and registration ---------------------------------------------------


def test_import_cydrop_does_not_import_torch():
    code = "import sys, cydrop; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ops_are_registered_with_the_documented_schemas():
    assert str(torch.ops.cydrop.dropout.default._schema) == (
        "cydrop::dropout(Tensor input, float p, Tensor seed, SymInt offset, bool store_mask)"
        " -> (Tensor, Tensor)")
    assert str(torch.ops.cydrop.dropout_backward.default._schema) == (
        "cydrop::dropout_backward(Tensor grad, Tensor mask_bits, float p, Tensor seed, "
        "SymInt offset) -> Tensor")
    assert str(torch.ops.cydrop.dropout_.default._schema) == (
        "cydrop::dropout_(Tensor(a0!) input, float p, Tensor seed, SymInt offset) -> ()")


@pytest.mark.parametrize("store_mask", [True, False])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided", "0-d", "empty"])
def test_opcheck_dropout(layout, store_mask):
    x = {"contiguous": _data((4, 6)), "transposed": _data((6, 4)).t(),
         "strided": _data((5, 9))[1:, ::2], "0-d": _data(()), "empty": _data((0, 3))}[layout]
    x.requires_grad_(True)
    torch.library.opcheck(torch.ops.cydrop.dropout.default,
                          (x, 0.3, ct.seed_tensor(2**64 - 1), -4, store_mask))


@pytest.mark.parametrize("stored", [True, False])
def test_opcheck_backward_and_inplace(stored):
    key = ct.seed_tensor(99)
    g = _data((7, 5)).requires_grad_(True)
    bits = (torch.from_numpy(cydrop.keep_mask((7, 5), 0.4, 99, 0, packed=True)) if stored
            else torch.empty(0, dtype=torch.uint8))
    torch.library.opcheck(torch.ops.cydrop.dropout_backward.default, (g, bits, 0.4, key, 0))
    torch.library.opcheck(torch.ops.cydrop.dropout_.default, (_data((7, 5)), 0.4, key, 0))


# -- seeds ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_seed_round_trips_through_int64(seed):
    t = ct.seed_tensor(seed)
    assert t.dtype == torch.int64 and t.shape == (2,)
    assert ct.seed_value(t) == seed
    # the signed view of the same words decodes to the same key
    lo, hi = t.tolist()
    signed = torch.tensor([lo - 2**32 if lo >= 2**31 else lo,
                           hi - 2**32 if hi >= 2**31 else hi], dtype=torch.int64)
    assert ct.seed_value(signed) == seed


@pytest.mark.parametrize("seed,offset", [(0, 0), (2**64 - 1, 2**64 - 4), (2**63, 2**63 + 8),
                                         (12345, 1000)])
def test_explicit_seed_is_cydrops_stream(seed, offset, dtype):
    x = _data((33, 7), TORCH_DTYPES[dtype])
    y = ct.dropout(x, 0.37, seed=seed, offset=offset)
    np.testing.assert_array_equal(
        y.numpy(), cydrop.dropout(x.numpy(), 0.37, seed=seed, offset=offset))


@pytest.mark.parametrize("tdtype", sorted(ct.kernel_dtypes(), key=str))
def test_every_kernel_dtype_runs_on_the_kernels(tdtype, path):
    x = (_data((21, 13)) * 3).to(tdtype).requires_grad_(True)
    g = _data((21, 13), seed=2).to(tdtype)
    y = ct.dropout(x, 0.35, seed=17, offset=8)
    y.backward(g)
    assert y.dtype == tdtype
    np.testing.assert_array_equal(y.detach().numpy(), cydrop.dropout(
        x.detach().numpy(), 0.35, seed=17, offset=8))
    np.testing.assert_array_equal(x.grad.numpy(), cydrop.dropout_backward(
        g.numpy(), p=0.35, seed=17, offset=8))
    torch.library.opcheck(torch.ops.cydrop.dropout.default,
                          (x, 0.35, ct.seed_tensor(17), 8, True))


def test_default_generator_rule(path):
    x = _data((64, 5))
    torch.manual_seed(11)
    key = _key_of_next_draw()
    y = ct.dropout(x, 0.5)
    np.testing.assert_array_equal(y.numpy(), cydrop.dropout(x.numpy(), 0.5, seed=key))
    y2 = ct.dropout(x, 0.5)       # the generator advanced: another key
    assert not torch.equal(y, y2)
    torch.manual_seed(11)
    assert torch.equal(ct.dropout(x, 0.5), y)     # reproducible
    assert torch.equal(ct.dropout(x, 0.5), y2)


def test_generator_argument():
    x = _data((64, 5))
    g = torch.Generator().manual_seed(3)
    lo, hi = torch.randint(0, 2**32, (2,), dtype=torch.int64,
                           generator=torch.Generator().manual_seed(3)).tolist()
    state = torch.get_rng_state()
    y = ct.dropout(x, 0.5, generator=g)
    assert torch.equal(torch.get_rng_state(), state)    # the default one untouched
    np.testing.assert_array_equal(y.numpy(), cydrop.dropout(x.numpy(), 0.5,
                                                            seed=lo | (hi << 32)))
    layer = ct.Dropout(0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(layer(x), y)


def test_mask_does_not_depend_on_torch_thread_count():
    x = _data(2**20, torch.float32)
    before, cydrop_before = torch.get_num_threads(), cydrop.get_num_threads()
    outs = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            torch.manual_seed(4)
            outs.append(ct.dropout(x, 0.45))
            assert cydrop.get_num_threads() == n       # the kernels follow torch's count
    finally:
        torch.set_num_threads(before)
        cydrop.set_num_threads(cydrop_before)
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])


# -- forward and gradient ------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: _data((8, 9)),
    lambda: _data((9, 8)).t(),
    lambda: _data((6, 10))[::2, 1::3],
    lambda: _data((1, 9)).expand(4, 9),                 # zero stride, read only
    lambda: _data((2, 3, 4, 5)).to(memory_format=torch.channels_last),
    lambda: _data(()),
], ids=["contiguous", "transposed", "sliced", "expanded", "channels_last", "0-d"])
@pytest.mark.parametrize("mask_storage", ["bits", "recompute"])
def test_layouts_forward_and_gradient(make, mask_storage, path):
    x = make().requires_grad_(True)
    xn = x.detach().numpy()
    g = _data(tuple(x.shape), seed=5)
    y = ct.dropout(x, 0.3, seed=21, offset=8, mask_storage=mask_storage)
    y.backward(g)
    np.testing.assert_array_equal(y.detach().numpy(), cydrop.dropout(xn, 0.3, seed=21, offset=8))
    np.testing.assert_array_equal(
        x.grad.numpy(), cydrop.dropout_backward(g.numpy(), p=0.3, seed=21, offset=8))


@pytest.mark.parametrize("mask_storage", ["bits", "recompute"])
def test_gradcheck_float64(mask_storage, path):
    x = _data((5, 7)).requires_grad_(True)

    def f(t):      # the same (seed, offset) every call: the mask held fixed
        return ct.dropout(t, 0.4, seed=77, mask_storage=mask_storage)

    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))


def test_store_mask_false_keeps_no_mask():
    out, bits = torch.ops.cydrop.dropout(_data((10, 10)), 0.5, ct.seed_tensor(1), 0, False)
    assert bits.numel() == 0 and bits.dtype == torch.uint8
    out, bits = torch.ops.cydrop.dropout(_data((10, 10)), 0.5, ct.seed_tensor(1), 0, True)
    np.testing.assert_array_equal(bits.numpy(), cydrop.keep_mask((10, 10), 0.5, 1, packed=True))


@pytest.mark.parametrize("p", [0.1, 0.45, 0.9])
def test_parity_with_native_dropout_given_the_same_mask(p, dtype, path):
    # native_dropout's forward is input * mask * scale and its gradient
    # native_dropout_backward(grad, mask, scale): given cydrop's mask, both
    # agree with cydrop.torch to 1 ulp (the scale is rounded once in both)
    tdtype = TORCH_DTYPES[dtype]
    x = _data((40, 30), tdtype).requires_grad_(True)
    g = _data((40, 30), tdtype, seed=1)
    y = ct.dropout(x, p, seed=5)
    y.backward(g)
    mask = torch.from_numpy(cydrop.keep_mask((40, 30), p, 5))
    scale = 1.0 / (1.0 - p)
    t_fwd = torch.ops.aten.native_dropout_backward(x.detach(), mask, scale)
    t_grad = torch.ops.aten.native_dropout_backward(g, mask, scale)
    np.testing.assert_array_max_ulp(y.detach().numpy(), t_fwd.numpy(), maxulp=1)
    np.testing.assert_array_max_ulp(x.grad.numpy(), t_grad.numpy(), maxulp=1)
    assert torch.equal(y.detach() == 0, ~mask)


def test_returns_input_like_torch(dtype):
    x = _data((3, 4), TORCH_DTYPES[dtype])
    assert ct.dropout(x, 0.5, training=False) is x
    assert ct.dropout(x, 0.0) is x
    e = _data((0, 4))
    assert ct.dropout(e, 0.5) is e and F.dropout(e, 0.5) is e


def test_p_one_gives_zeros_and_zero_gradient(path):
    x = torch.full((4, 4), float("nan"), dtype=torch.float64, requires_grad=True)
    y = ct.dropout(x, 1.0)
    assert torch.equal(y.detach(), torch.zeros(4, 4, dtype=torch.float64))  # torch: NaN
    y.backward(torch.ones(4, 4, dtype=torch.float64))
    assert torch.equal(x.grad, torch.zeros(4, 4, dtype=torch.float64))


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_bad_p_is_torchs_error(p):
    with pytest.raises(ValueError) as t_err:
        F.dropout(torch.ones(3), p)
    with pytest.raises(ValueError) as c_err:
        ct.dropout(torch.ones(3), p)
    assert str(c_err.value) == str(t_err.value)
    with pytest.raises(ValueError) as t_err:
        torch.nn.Dropout(p)
    with pytest.raises(ValueError) as c_err:
        ct.Dropout(p)
    assert str(c_err.value) == str(t_err.value)


def test_bad_arguments():
    x = torch.ones(3)
    # NaN: torch raises RuntimeError from its kernel, cydrop ValueError up front
    with pytest.raises(ValueError, match="between 0 and 1, but got nan"):
        ct.dropout(x, float("nan"))
    with pytest.raises(ValueError, match="mask_storage"):
        ct.dropout(x, 0.5, mask_storage="bool")
    with pytest.raises(ValueError, match="mask_storage"):
        ct.Dropout(0.5, mask_storage="nothing")
    with pytest.raises(ValueError, match="not both"):
        ct.dropout(x, 0.5, seed=1, generator=torch.Generator())
    with pytest.raises(ValueError, match="offset= needs seed="):
        ct.dropout(x, 0.5, offset=4)
    with pytest.raises(ValueError, match=r"\[0, 2\*\*64\)"):
        ct.dropout(x, 0.5, seed=2**64)
    with pytest.raises(ValueError, match=r"\[0, 2\*\*64\)"):
        ct.dropout(x, 0.5, seed=1, offset=-1)
    with pytest.raises(TypeError, match="torch.Tensor"):
        ct.dropout(np.ones(3), 0.5)
    with pytest.raises(ValueError, match="int64 tensor of shape"):
        torch.ops.cydrop.dropout(x, 0.5, torch.zeros(3, dtype=torch.int64), 0, True)
    with pytest.raises(ValueError, match="mask_bits must be uint8"):
        torch.ops.cydrop.dropout_backward(torch.ones(20), torch.zeros(2, dtype=torch.uint8),
                                          0.5, ct.seed_tensor(1), 0)


# -- in place ------------------------------------------------------------------


def test_inplace_without_grad_writes_the_tensor():
    x = _data((16, 9))
    want = ct.dropout(x, 0.4, seed=3)
    ptr = x.data_ptr()
    assert ct.dropout(x, 0.4, inplace=True, seed=3) is x
    assert x.data_ptr() == ptr and torch.equal(x, want)
    v = _data((10, 10))
    view = v[::2, 1:]
    want = ct.dropout(view, 0.4, seed=8)
    ct.dropout(view, 0.4, inplace=True, seed=8)
    assert torch.equal(view, want)


def test_inplace_on_leaf_requiring_grad_raises_torchs_error():
    for make in (lambda l: l, lambda l: l[1:]):
        leaf = torch.ones(5, requires_grad=True)
        with pytest.raises(RuntimeError) as t_err:
            F.dropout(make(leaf), 0.5, True, True)
        state = torch.get_rng_state()
        with pytest.raises(RuntimeError) as c_err:
            ct.dropout(make(leaf), 0.5, True, True)
        assert str(c_err.value) == str(t_err.value)
        assert torch.equal(torch.get_rng_state(), state)     # nothing drawn
        assert torch.equal(leaf.detach(), torch.ones(5))      # nothing written
    leaf = torch.ones(5, requires_grad=True)
    with torch.no_grad():                                     # allowed, as torch
        ct.dropout(leaf, 0.5, True, True, seed=1)
    assert torch.equal(leaf.detach(), ct.dropout(torch.ones(5), 0.5, seed=1))


def test_inplace_on_non_leaf_with_grad(path):
    x = _data((6, 7)).requires_grad_(True)
    h = x * 1.0
    out = ct.dropout(h, 0.3, inplace=True, seed=12)
    assert out is h
    g = _data((6, 7), seed=9)
    h.backward(g)
    np.testing.assert_array_equal(h.detach().numpy(),
                                  cydrop.dropout(x.detach().numpy(), 0.3, seed=12))
    np.testing.assert_array_equal(x.grad.numpy(),
                                  cydrop.dropout_backward(g.numpy(), p=0.3, seed=12))


def test_inplace_on_overlapping_memory_raises_torchs_error():
    base = torch.ones(1, 5)
    with pytest.raises(RuntimeError) as t_err:
        F.dropout(base.expand(4, 5), 0.5, True, True)
    with pytest.raises(RuntimeError) as c_err:
        ct.dropout(base.expand(4, 5), 0.5, True, True)
    assert str(c_err.value) == str(t_err.value)
    assert torch.equal(base, torch.ones(1, 5))


# -- the module ----------------------------------------------------------------


def test_module_is_a_torch_dropout():
    layer = ct.Dropout(0.25, True)
    assert isinstance(layer, torch.nn.Dropout)
    assert repr(layer) == repr(torch.nn.Dropout(0.25, True)) == "Dropout(p=0.25, inplace=True)"
    assert repr(ct.Dropout(0.1, mask_storage="recompute")) == \
        "Dropout(p=0.1, inplace=False, mask_storage='recompute')"
    x = _data((4, 4))
    assert layer.eval()(x) is x and not layer.training
    layer.train()
    torch.manual_seed(2)
    key = _key_of_next_draw()
    y = ct.Dropout(0.25)(x)
    np.testing.assert_array_equal(y.numpy(), cydrop.dropout(x.numpy(), 0.25, seed=key))
    clone = copy.deepcopy(ct.Dropout(0.3, mask_storage="recompute"))
    assert (clone.p, clone.mask_storage) == (0.3, "recompute")


def _mlp(dropout_cls):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), dropout_cls(0.2),
                               torch.nn.Linear(8, 2))


def test_state_dict_loads_both_ways():
    theirs, ours = _mlp(torch.nn.Dropout), _mlp(ct.Dropout)
    with torch.no_grad():
        for prm in theirs.parameters():
            prm.add_(1.0)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    for a, b in zip(theirs.parameters(), ours.parameters()):
        assert torch.equal(a, b)
    theirs.load_state_dict(_mlp(ct.Dropout).state_dict(), strict=True)
    assert list(theirs.state_dict()) == list(ours.state_dict())


def test_convert_dropout():
    net = _mlp(torch.nn.Dropout).eval()
    net.add_module("inner", torch.nn.Sequential(torch.nn.Dropout(0.7, inplace=True)))
    out = ct.convert_dropout(net, mask_storage="recompute")
    assert out is net
    assert type(net[2]) is ct.Dropout and net[2].p == 0.2 and not net[2].training
    inner = net.inner[0]
    assert type(inner) is ct.Dropout and inner.inplace and inner.mask_storage == "recompute"
    single = ct.convert_dropout(torch.nn.Dropout(0.4))
    assert type(single) is ct.Dropout and single.p == 0.4


# -- fallback to torch ---------------------------------------------------------


def test_float16_runs_on_the_kernels():
    """float16 is a kernel dtype: the float32 computation rounded, the mask
    cydrop's (not torch's) for the key drawn."""
    assert torch.float16 in ct.kernel_dtypes() and torch.bfloat16 not in ct.kernel_dtypes()
    x = torch.randn(50, 20).to(torch.float16)
    y = ct.dropout(x, 0.3, seed=5)
    want = cydrop.dropout(x.numpy(), 0.3, seed=5)
    assert y.dtype == torch.float16 and np.array_equal(y.numpy(), want)


@pytest.mark.parametrize("tdtype", [torch.bfloat16])
def test_fallback_dtypes_are_torchs_dropout(tdtype):
    x = torch.randn(50, 20).to(tdtype).requires_grad_(True)
    torch.manual_seed(6)
    want = F.dropout(x, 0.3)
    torch.manual_seed(6)
    got = ct.dropout(x, 0.3)
    assert torch.equal(got, want) and got.dtype == tdtype
    got.sum().backward()
    assert x.grad is not None
    g1 = ct.dropout(x.detach(), 0.3, generator=torch.Generator().manual_seed(1))
    g2 = ct.dropout(x.detach(), 0.3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(g1, g2)
    with pytest.raises(ValueError, match="seed= picks cydrop's stream"):
        ct.dropout(x, 0.3, seed=1)


def test_fallback_meta_device():
    x = torch.empty(3, 4, device="meta")
    y = ct.Dropout(0.5)(x)
    assert y.device.type == "meta" and y.shape == (3, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_fallback_cuda():  # pragma: no cover - no device here
    x = torch.randn(100, device="cuda")
    torch.manual_seed(1)
    want = F.dropout(x, 0.5)
    torch.manual_seed(1)
    assert torch.equal(ct.dropout(x, 0.5), want)


# -- torch.compile -------------------------------------------------------------


def _compile_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), ct.Dropout(0.3),
                               torch.nn.Linear(32, 4), ct.Dropout(0.1, mask_storage="recompute"))


def _eager_and_compiled_step(compiled, eager, x, seed):
    torch.manual_seed(seed)
    y = eager(x)
    y.square().sum().backward()
    torch.manual_seed(seed)
    yc = compiled(x)
    yc.square().sum().backward()
    return y, yc


def test_compile_aot_eager_fullgraph_matches_eager():
    torch._dynamo.reset()
    eager = _compile_model()
    compiled = torch.compile(_compile_model(), fullgraph=True, backend="aot_eager")
    for batch, seed in ((8, 1), (5, 2), (8, 3)):       # a second shape: a recompile
        x = _data((batch, 16), torch.float32)
        y, yc = _eager_and_compiled_step(compiled, eager, x, seed)
        assert torch.equal(y, yc)
        with torch.no_grad():
            assert not torch.equal(yc, eager.eval()(x))     # dropout did something
        eager.train()
        for a, b in zip(eager.parameters(), compiled.parameters()):
            assert torch.equal(a.grad, b.grad)
    compiled.eval()
    assert torch.equal(compiled(x), eager.eval()(x))


@pytest.mark.skipif(not any(shutil.which(c) for c in ("c++", "g++", "clang++")),
                    reason="torch.compile's inductor needs a C++ compiler on PATH (the "
                           "wheel stage of .ci/run tests a compiler-free install)")
def test_compile_inductor_fullgraph_matches_eager():
    # Inductor draws random numbers with its own generator unless told to
    # fall back to torch's ops: with fallback_random the key torch.compile
    # draws is the eager one, so masks, outputs and gradients are equal.
    import torch._inductor.config as inductor_config
    torch._dynamo.reset()
    eager = _compile_model()
    compiled = torch.compile(_compile_model(), fullgraph=True)
    x = _data((8, 16), torch.float32)
    with inductor_config.patch(fallback_random=True):
        y, yc = _eager_and_compiled_step(compiled, eager, x, 7)
    torch.testing.assert_close(yc, y)
    assert torch.equal(yc == 0, y == 0)
    for a, b in zip(eager.parameters(), compiled.parameters()):
        torch.testing.assert_close(b.grad, a.grad)


def test_compile_traces_the_operator_and_the_seed_draw():
    # Dynamo's graph holds the key draw (randint) and cydrop::dropout: no
    # graph break, no fast path under compile
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm.code)
        return gm.forward

    torch._dynamo.reset()
    f = torch.compile(lambda t: ct.dropout(t, 0.5) * 2, fullgraph=True, backend=backend)
    y = f(torch.ones(64, requires_grad=True))
    assert y.shape == (64,)
    assert len(graphs) == 1
    assert "torch.ops.cydrop.dropout" in graphs[0] and "randint" in graphs[0]


# -- the result cache ----------------------------------------------------------


def test_result_cache_reuses_only_freed_buffers():
    before = ct.set_result_cache(64 << 20)
    try:
        ct.set_result_cache(0)                      # start empty
        ct.set_result_cache(64 << 20)
        x = _data(1 << 18, torch.float32)           # 1 MiB results: cached
        y = ct.dropout(x, 0.5, seed=1)
        ptr = y.data_ptr()
        view = y[10:]                               # keeps the memory alive
        del y
        assert ct.result_cache_bytes() == 0
        z = ct.dropout(x, 0.5, seed=2)
        assert z.data_ptr() != ptr                  # not handed out twice
        del view
        assert ct.result_cache_bytes() == 1 << 20   # back for reuse
        w = ct.dropout(x, 0.5, seed=3)
        assert w.data_ptr() == ptr and ct.result_cache_bytes() == 0
        np.testing.assert_array_equal(w.numpy(), cydrop.dropout(x.numpy(), 0.5, seed=3))
        del w, z
        assert ct.result_cache_bytes() == 2 << 20
        ct.set_result_cache(1 << 20)                # oldest dropped to fit
        assert ct.result_cache_bytes() == 1 << 20
        ct.set_result_cache(0)
        assert ct.result_cache_bytes() == 0
        y = ct.dropout(x, 0.5, seed=1)
        del y
        assert ct.result_cache_bytes() == 0         # off: nothing kept
        small = ct.dropout(_data(1000, torch.float32), 0.5, seed=1)
        del small
        assert ct.result_cache_bytes() == 0
    finally:
        ct.set_result_cache(before)
    with pytest.raises(ValueError):
        ct.set_result_cache(-1)


def test_torch_export_holds_the_operator_and_matches_eager():
    m = torch.nn.Sequential(torch.nn.Linear(4, 8), ct.Dropout(0.5)).train()
    ep = torch.export.export(m, (torch.randn(3, 4),))
    targets = [str(n.target) for n in ep.graph.nodes if n.op == "call_function"]
    assert "cydrop.dropout.default" in targets
    torch.manual_seed(0)
    a = ep.module()(torch.ones(3, 4))
    torch.manual_seed(0)
    assert torch.equal(a, m(torch.ones(3, 4)))


def test_without_torch_the_import_names_the_extra():
    code = ("import sys; sys.modules['torch'] = None\n"
            "try:\n    import cydrop.torch\nexcept ImportError as e:\n    print(e)\n"
            "else:\n    raise SystemExit('imported')\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert 'pip install "cydrop[torch]"' in out


# -- the dropout family: dropout1d/2d/3d, alpha_dropout, feature_alpha_dropout --

ALPHA = ("alpha_dropout", "feature_alpha_dropout")
FAMILY_CASES = [
    ("dropout1d", (4, 6, 10)), ("dropout1d", (6, 10)),
    ("dropout2d", (3, 4, 5, 6)),
    ("dropout3d", (2, 3, 2, 3, 4)), ("dropout3d", (3, 2, 3, 4)),
    ("alpha_dropout", (7, 9)), ("alpha_dropout", (3, 4, 5)),
    ("feature_alpha_dropout", (3, 4, 5)),
]
FAMILY_MODULES = {"dropout1d": "Dropout1d", "dropout2d": "Dropout2d", "dropout3d": "Dropout3d",
                  "alpha_dropout": "AlphaDropout",
                  "feature_alpha_dropout": "FeatureAlphaDropout"}


def _family_reference(name, x, g, p, seed, offset):
    """cydrop's NumPy function and its backward with the same (seed, offset)."""
    y, m = getattr(cydrop, name)(x, p, True, seed=seed, offset=offset, return_mask=True)
    back = cydrop.alpha_dropout_backward if name in ALPHA else cydrop.dropout_backward
    noise = None if m.shape == x.shape else m.shape
    return y, back(g, m, p, noise_shape=noise)


@pytest.mark.parametrize("name,shape", FAMILY_CASES)
@pytest.mark.parametrize("mask_storage", ["bits", "recompute"])
def test_family_forward_and_gradient(name, shape, mask_storage, path, dtype):
    tdtype = TORCH_DTYPES[dtype]
    x = _data(shape, tdtype).requires_grad_(True)
    g = _data(shape, tdtype, seed=3)
    y = getattr(ct, name)(x, 0.4, True, seed=2**64 - 3, offset=5, mask_storage=mask_storage)
    y.backward(g)
    want_y, want_g = _family_reference(name, x.detach().numpy(), g.numpy(), 0.4, 2**64 - 3, 5)
    np.testing.assert_array_equal(y.detach().numpy(), want_y)
    np.testing.assert_array_equal(x.grad.numpy(), want_g)


@pytest.mark.parametrize("name", sorted(FAMILY_MODULES))
def test_family_gradcheck_and_opcheck(name):
    shape = {"dropout2d": (2, 3, 2, 3), "dropout3d": (2, 3, 2, 2, 3)}.get(name, (3, 4, 5))
    x = _data(shape).requires_grad_(True)
    for storage in ("bits", "recompute"):
        def f(t):
            return getattr(ct, name)(t, 0.3, True, seed=11, mask_storage=storage)
        assert torch.autograd.gradcheck(f, (x,))
        assert torch.autograd.gradgradcheck(f, (x,))
    op = getattr(torch.ops.cydrop, name).default
    for store in (True, False):
        torch.library.opcheck(op, (x, 0.3, ct.seed_tensor(11), 0, store))


def _raised(fn):
    with pytest.raises(Exception) as err:
        fn()
    return type(err.value), str(err.value)


def test_family_rank_errors_and_warnings_are_torchs():
    for name, shape in (("dropout1d", (2, 3, 4, 5)), ("feature_alpha_dropout", (5,))):
        tfn, cfn = getattr(F, name), getattr(ct, name)
        t_type, t_text = _raised(lambda: tfn(torch.ones(shape), 0.5, True))
        c_type, c_text = _raised(lambda: cfn(torch.ones(shape), 0.5, True))
        assert c_text == t_text and issubclass(c_type, t_type)
    for name, shape in (("dropout2d", (3, 4, 5)), ("dropout3d", (2, 3))):
        with pytest.warns(UserWarning) as t_rec:
            getattr(F, name)(torch.ones(shape), 0.5, True)
        with pytest.warns(UserWarning) as c_rec:
            getattr(ct, name)(torch.ones(shape), 0.5, True, seed=1)
        assert [str(w.message) for w in c_rec] == [str(w.message) for w in t_rec]
        assert c_rec[0].filename == __file__       # points at the caller


def test_family_defaults_inplace_and_fallback():
    x = _data((3, 4, 5, 2))
    assert ct.alpha_dropout(x, 0.5) is x                 # training=False by default, as torch
    assert ct.feature_alpha_dropout(x, 0.5) is x
    assert ct.dropout2d(x, 0.5, training=False) is x
    want = ct.dropout2d(x, 0.5, seed=4)
    ct.dropout2d(x, 0.5, inplace=True, seed=4)
    assert torch.equal(x, want)
    leaf = torch.ones(2, 3, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        ct.alpha_dropout(leaf, 0.5, True, True)
    with pytest.raises(RuntimeError, match="more than one element"):
        ct.dropout2d(torch.ones(1, 3, 4, 2).expand(2, 3, 4, 2), 0.5, True, True)
    for name in FAMILY_MODULES:
        xb = torch.randn({"dropout2d": (2, 3, 4, 5), "dropout3d": (2, 3, 4, 5, 6)}.get(
            name, (2, 3, 4))).to(torch.bfloat16)
        torch.manual_seed(8)
        want = getattr(F, name)(xb, 0.5, True)
        torch.manual_seed(8)
        assert torch.equal(getattr(ct, name)(xb, 0.5, True), want)
    with pytest.raises(ValueError, match="need cydrop's kernels"):
        ct.dropout2d(torch.ones(2, 3, 4, 5, dtype=torch.bfloat16), 0.5, seed=1)


def test_family_modules_are_torchs():
    for name, cls in FAMILY_MODULES.items():
        ours, theirs = getattr(ct, cls)(0.3, True), getattr(torch.nn, cls)(0.3, True)
        assert isinstance(ours, type(theirs)) and repr(ours) == repr(theirs)
        x = _data({"dropout2d": (2, 3, 4, 5), "dropout3d": (2, 3, 4, 5, 6)}.get(name, (2, 3, 4)))
        assert ours.eval()(x) is x
        torch.manual_seed(3)
        key = _key_of_next_draw()
        got = getattr(ct, cls)(0.3)(x)
        np.testing.assert_array_equal(got.numpy(), getattr(cydrop, name)(
            x.numpy(), 0.3, True, seed=key))
    net = torch.nn.Sequential(torch.nn.Dropout2d(0.2), torch.nn.AlphaDropout(0.1))
    ct.convert_dropout(net)
    assert [type(m) for m in net] == [ct.Dropout2d, ct.AlphaDropout]


def test_family_compile_aot_eager_fullgraph_matches_eager():
    def model():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), ct.Dropout2d(0.3),
                                   torch.nn.Flatten(), torch.nn.SELU(), ct.AlphaDropout(0.2),
                                   torch.nn.Linear(4 * 6 * 6, 2))
    torch._dynamo.reset()
    eager = model()
    compiled = torch.compile(model(), fullgraph=True, backend="aot_eager")
    x = _data((5, 3, 8, 8), torch.float32)
    y, yc = _eager_and_compiled_step(compiled, eager, x, 4)
    assert torch.equal(y, yc)
    for a, b in zip(eager.parameters(), compiled.parameters()):
        assert torch.equal(a.grad, b.grad)


# -- the eager fast path (issue 23 part 2) -------------------------------------


def test_eager_key_draw_is_randints_draw():
    """`_draw_key` (per-thread buffer, ``random_``) gives the key and leaves
    the generator where ``torch.randint`` (`_draw_seed`) does."""
    for gen in (None, torch.Generator().manual_seed(5)):
        state = (gen or torch.default_generator).get_state()
        a = ct.seed_value(ct._draw_seed(gen)), torch.rand(3, generator=gen)
        (gen or torch.default_generator).set_state(state)
        b = ct._draw_key(gen), torch.rand(3, generator=gen)
        assert a[0] == b[0] and torch.equal(a[1], b[1])


def test_default_forward_bits_out_is_return_masks_bits():
    from cydrop import _kernels
    x = np.random.default_rng(0).standard_normal(1003).astype(np.float32)
    y, bits = cydrop.dropout(x, 0.3, seed=2**63 + 1, offset=5, return_mask="bits")
    b = np.empty(126, np.uint8)
    np.testing.assert_array_equal(
        _kernels.default_forward(x, 0.3, None, False, 2**63 + 1, 5, False, b), y)
    np.testing.assert_array_equal(b, bits)
    for bad in (np.empty(127, np.uint8), np.empty(126, np.int8), np.empty(252, np.uint8)[::2],
                x.view(np.uint8)[:126], [0] * 126):
        assert _kernels.default_forward(x, 0.3, None, False, 1, 0, False, bad) is None


def test_eager_path_takes_the_one_call_entries(monkeypatch):
    from cydrop import _kernels
    taken = []
    for name in ("default_forward", "default_masked"):
        real = getattr(_kernels, name)
        monkeypatch.setattr(_kernels, name,
                            lambda *a, _r=real, _n=name: taken.append(_n) or _r(*a))
    x = _data(64, torch.float32).requires_grad_(True)
    ct.dropout(x, 0.5).backward(torch.ones(64))
    assert taken == ["default_forward", "default_masked"]
