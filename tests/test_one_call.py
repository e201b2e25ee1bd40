"""The one-call rule (cydrop._core.one_call), proved from the signatures.

A call may skip every Python check and go to one kernel entry
(``_kernels.default_forward`` / ``default_masked``) when its arguments are
at values the entries handle.  One predicate decides (``one_call``), with a
table of what it does with each parameter (``ONE_CALL_RULE``).  Here:

- every parameter of every public call that can reach the predicate (and
  of the family functions and layers beside them) is in that table and in
  this file's table of sample values: adding a keyword to a signature
  fails this test until the rule (and a sample) know it;
- for each parameter, at each sample value, the call is made twice from
  the same stream state: through the entries as they are (recorded), and
  with entries that always decline (the general path).  Results, masks,
  errors, warnings, what was written and the stream positions must agree:
  a value either turns the one-call path off or is handled by it.
"""
import inspect
import warnings

import numpy as np
import pytest

import cydrop
from cydrop import _core, _kernels

ENTRIES = ("default_forward", "default_masked")

FUNCTIONS = {
    "dropout": cydrop.dropout,
    "dropout_backward": cydrop.dropout_backward,
    "dropout1d": cydrop.dropout1d,
    "dropout2d": cydrop.dropout2d,
    "dropout3d": cydrop.dropout3d,
    "alpha_dropout": cydrop.alpha_dropout,
    "feature_alpha_dropout": cydrop.feature_alpha_dropout,
    "alpha_dropout_backward": cydrop.alpha_dropout_backward,
}
LAYERS = {cls.__name__: cls for cls in (cydrop.Dropout, cydrop.Dropout1d, cydrop.Dropout2d,
                                         cydrop.Dropout3d, cydrop.AlphaDropout,
                                         cydrop.FeatureAlphaDropout)}
# the shape each target is called with (a channel-wise one: its batched rank)
SHAPES = {"dropout1d": (2, 3, 8), "Dropout1d": (2, 3, 8),
          "dropout2d": (2, 3, 4, 4), "Dropout2d": (2, 3, 4, 4),
          "dropout3d": (2, 3, 2, 2, 2), "Dropout3d": (2, 3, 2, 2, 2),
          "feature_alpha_dropout": (3, 4, 5), "FeatureAlphaDropout": (3, 4, 5)}
DEFAULT_SHAPE = (6, 10)

# The call each target is varied from, one parameter at a time (several
# bases where the signature has alternatives: a mask or a seed).
BASES = {
    "dropout": [{"p": 0.5}],
    "dropout_backward": [{"mask": "mask", "p": 0.5}, {"p": 0.5, "seed": 3, "offset": 4}],
    "alpha_dropout": [{"p": 0.5, "training": True}],
    "feature_alpha_dropout": [{"p": 0.5, "training": True}],
    "alpha_dropout_backward": [{"mask": "mask", "p": 0.5}, {"p": 0.5, "seed": 3, "offset": 4}],
}


class Ctx:
    """The fresh arrays of one run (the same on every run)."""

    def __init__(self, shape, mshape):
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal(shape).astype(np.float32)
        self.mask = rng.random(mshape) < 0.5
        self.shape, self.mshape = shape, mshape


def _strided(c):
    big = np.zeros(c.shape[:-1] + (2 * c.shape[-1],), np.float32)
    big[..., ::2] = c.x
    return big[..., ::2]


# Sample values per parameter name, each a function of the run's arrays.
# Every parameter of the signatures below must have an entry.
SAMPLES = {
    "x": [lambda c: c.x.astype(np.float64), lambda c: c.x.astype(np.float16),
          lambda c: c.x.astype(">f4"), lambda c: c.x.tolist(), _strided,
          lambda c: np.asfortranarray(c.x), lambda c: c.x.astype(np.int32)],
    "p": [lambda c: 0.25, lambda c: 0.0, lambda c: 1.0, lambda c: 1, lambda c: 0,
          lambda c: np.float64(0.5), lambda c: np.float32(0.25), lambda c: 1.5, lambda c: "0.5",
          lambda c: True],
    "training": [lambda c: False, lambda c: True, lambda c: np.bool_(True), lambda c: 1],
    "inplace": [lambda c: True, lambda c: np.bool_(True), lambda c: 1, lambda c: 0],
    "mask": [lambda c: c.mask, lambda c: np.packbits(c.mask.ravel(), bitorder="little"),
             lambda c: c.mask.tolist(), lambda c: np.asfortranarray(c.mask),
             lambda c: c.mask.astype(np.float32), lambda c: None],
    "seed": [lambda c: 7, lambda c: np.uint64(7), lambda c: 2**64 - 1, lambda c: -1,
             lambda c: 2**64, lambda c: 7.0, lambda c: None],
    "offset": [lambda c: 8, lambda c: np.int64(8), lambda c: 2**64 - 4, lambda c: 0,
               lambda c: -1, lambda c: 8.0],
    "rng": [lambda c: 5, lambda c: np.random.default_rng(1), lambda c: "bad"],
    "out": [lambda c: np.empty(c.shape, np.float32), lambda c: np.empty(c.shape, np.float64),
            lambda c: np.empty(c.shape[::-1], np.float32).T, "x",
            lambda c: np.empty(c.shape, np.float32)[::-1]],
    "return_mask": [lambda c: True, lambda c: "bool", lambda c: "bits", lambda c: "no"],
    "noise_shape": [lambda c: (None,) + (1,) * (len(c.shape) - 1), lambda c: c.shape,
                    lambda c: (2,) * len(c.shape)],
    "scaling": [lambda c: "vanilla", lambda c: "inverted", lambda c: np.str_("vanilla"),
                lambda c: "alpha"],
    "mask_storage": [lambda c: "bits", lambda c: "bool", lambda c: "recompute"],
}
SAMPLES["grad"] = SAMPLES["x"]


def _mask_shape(name, shape):
    """The keep-mask's shape for a target called on ``shape``."""
    fn = {"Dropout1d": "dropout1d", "Dropout2d": "dropout2d", "Dropout3d": "dropout3d",
          "FeatureAlphaDropout": "feature_alpha_dropout"}.get(name, name)
    if fn in ("dropout1d", "dropout2d", "dropout3d", "feature_alpha_dropout"):
        return shape[:2] + (1,) * (len(shape) - 2)
    return shape


def _parameters(fn):
    return [n for n in inspect.signature(fn).parameters if n != "self"]


def _layer_signatures():
    for name, cls in LAYERS.items():
        yield f"{name}.__init__", cls.__init__
        yield f"{name}.forward", cls.forward
        yield f"{name}.backward", cls.backward


SIGNATURES = dict(list(FUNCTIONS.items()) + list(_layer_signatures()))


@pytest.mark.parametrize("target", sorted(SIGNATURES))
def test_every_parameter_is_in_the_rule(target):
    for name in _parameters(SIGNATURES[target]):
        assert name in _core.ONE_CALL_RULE, (
            f"{target}: parameter {name!r} is not in cydrop._core.ONE_CALL_RULE: teach "
            f"one_call what to do with it (decline, or handle), then add it there")
        assert name in SAMPLES, f"{target}: add sample values for {name!r} to SAMPLES"


def test_the_rule_mirrors_dropout():
    """`one_call` takes `dropout`'s parameters, in its order, with its
    defaults (dropout passes them positionally), and every parameter of
    `dropout_backward` by name (its ``grad`` is ``x``)."""
    rule = inspect.signature(_core.one_call).parameters
    mine = inspect.signature(cydrop.dropout).parameters
    assert list(rule)[:len(mine)] == list(mine)
    assert list(rule)[len(mine):] == ["backward"]
    for name, param in mine.items():
        assert rule[name].default == param.default, name
    for name in inspect.signature(cydrop.dropout_backward).parameters:
        assert (name if name != "grad" else "x") in rule, name
    assert set(_core.ONE_CALL_RULE) <= set(rule) | {"grad", "mask_storage"}


def _record(monkeypatch, decline):
    """Wrap the entries: record the calls that took them; with ``decline``,
    every entry declines (the general path)."""
    taken = []
    for entry in ENTRIES:
        real = getattr(_kernels, entry)

        def wrapper(*args, _real=real, _entry=entry, **kwargs):
            if decline:
                return None
            res = _real(*args, **kwargs)
            if res is not None:
                taken.append(_entry)
            return res
        monkeypatch.setattr(_kernels, entry, wrapper)
    return taken


def _snapshot(value, named):
    """A comparable copy of a result: arrays by dtype, shape, contents (and
    which input object they are, if any)."""
    if isinstance(value, tuple):
        return tuple(_snapshot(v, named) for v in value)
    if isinstance(value, np.ndarray):
        who = next((k for k, v in named.items() if v is value), None)
        return (who, value.dtype.str, value.shape, value.tobytes(order="C"))
    return value


def _run(call, named_fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value, exc = call(), None
        except Exception as e:  # noqa: BLE001 - compared between the two runs
            value, exc = None, (type(e), str(e))
    named = named_fn()
    return {"value": _snapshot(value, named), "exc": exc,
            "inputs": {k: _snapshot(v, {}) for k, v in named.items()},
            "warnings": [(str(w.message), w.category, w.filename, w.lineno) for w in caught],
            "stream": _kernels.default_stream_state()}


def _function_outcome(name, base, param, sample):
    shape = SHAPES.get(name, DEFAULT_SHAPE)
    c = Ctx(shape, _mask_shape(name, shape))
    kwargs = {k: (c.mask if v == "mask" else v) for k, v in base.items()}
    kwargs[param] = sample(c) if callable(sample) else c.x      # "x": out=x
    x = kwargs.pop("x", kwargs.pop("grad", c.x))
    cydrop.manual_seed(99)
    named = {"x": x, "out": kwargs.get("out"), "mask": kwargs.get("mask")}
    named = {k: v for k, v in named.items() if isinstance(v, np.ndarray)}
    return _run(lambda: FUNCTIONS[name](x, **kwargs), lambda: named)


def _layer_outcome(name, where, param, sample):
    shape = SHAPES.get(name, DEFAULT_SHAPE)
    c = Ctx(shape, _mask_shape(name, shape))
    value = sample(c) if callable(sample) else c.x
    init, fwd = {"p": 0.5}, {}
    if where == "__init__":
        init[param] = value
    elif param == "mask":
        fwd["mask"] = value
    x = value if where == "forward" and param == "x" else c.x
    g = value if where == "backward" else np.ones(shape, np.float32) * 3
    out = {}

    def call():
        layer = LAYERS[name](**init)
        if "rng" not in init:
            layer.set_state((11, 0))
        out["layer"] = layer
        y = layer.forward(x, **fwd)
        snap_y = _snapshot(y, {"x": x})
        return snap_y, layer.backward(g), layer.mask, layer.get_state()
    return _run(call, lambda: {k: v for k, v in (("x", x), ("g", g))
                               if isinstance(v, np.ndarray)})


def _cases():
    for name in FUNCTIONS:
        for b, base in enumerate(BASES.get(name, [{"p": 0.5}])):
            for param in _parameters(FUNCTIONS[name]):
                for i, sample in enumerate(SAMPLES.get(param, [])):
                    yield pytest.param("function", name, b, param, i,
                                       id=f"{name}-base{b}-{param}-{i}")
    for name in LAYERS:
        for where in ("__init__", "forward", "backward"):
            for param in _parameters(getattr(LAYERS[name], where)):
                for i, sample in enumerate(SAMPLES.get(param, [])):
                    yield pytest.param("layer", name, where, param, i,
                                       id=f"{name}.{where}-{param}-{i}")


def _outcome(kind, name, how, param, i):
    sample = SAMPLES[param][i]
    if kind == "function":
        return _function_outcome(name, BASES.get(name, [{"p": 0.5}])[how], param, sample)
    return _layer_outcome(name, how, param, sample)


@pytest.mark.parametrize("kind, name, how, param, i", list(_cases()))
def test_a_value_turns_the_one_call_path_off_or_is_handled(monkeypatch, kind, name, how,
                                                           param, i):
    taken = _record(monkeypatch, decline=False)
    fast = _outcome(kind, name, how, param, i)
    monkeypatch.undo()
    _record(monkeypatch, decline=True)
    general = _outcome(kind, name, how, param, i)
    assert fast == general, f"one-call path taken: {taken}"


@pytest.mark.parametrize("kind, name, how, entry", [
    ("function", "dropout", 0, "default_forward"),
    ("function", "dropout_backward", 0, "default_masked"),
    ("function", "dropout_backward", 1, "default_forward"),
    ("layer", "Dropout", "backward", "default_masked"),
])
def test_the_plain_calls_take_the_one_call_path(monkeypatch, kind, name, how, entry):
    """The base calls above do reach the entries (so that the comparisons
    test something): each with all defaults and plain arrays."""
    taken = _record(monkeypatch, decline=False)
    if kind == "function":
        _function_outcome(name, BASES[name][how], "p", lambda c: 0.5)
    else:
        _layer_outcome(name, how, "grad", lambda c: np.ones(DEFAULT_SHAPE, np.float32))
    assert entry in taken


def test_a_recomputing_layer_takes_the_one_call_path(monkeypatch):
    taken = _record(monkeypatch, decline=False)
    _layer_outcome("Dropout", "__init__", "mask_storage", lambda c: "recompute")
    assert taken == ["default_forward", "default_forward"]     # forward, then backward
