"""Bad input, as one table: every entry raises the documented exception type,
its message names the argument at fault, and every array passed in is byte
for byte what it was (docs/design.md, "Errors": nothing is half-written)."""
import math

import numpy as np
import pytest

import cydrop


def _arrays():
    """Fresh arrays for one entry: the call may only read them."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    m = rng.random((3, 4)) > 0.5
    read_only = x.copy()
    read_only.flags.writeable = False
    base = np.zeros(16)
    return {
        "x": x,
        "g": rng.standard_normal((3, 4)),
        "m": m,
        "bits": np.packbits(m.ravel(), bitorder="little"),
        "out": np.zeros((3, 4)),
        "x32": x.astype(np.float32),
        "i64": np.arange(12).reshape(3, 4),
        "big": x.astype(">f8"),
        "ro": read_only,
        "base": base,
        "shared": np.lib.stride_tricks.as_strided(base, (3, 4), (0, 8), writeable=True),
    }


D = cydrop.dropout
B = cydrop.dropout_backward
P_MSG = "dropout probability has to be between 0 and 1"

# (id, exception, pattern naming the argument, call(a))
TABLE = [
    # p
    ("p negative", ValueError, P_MSG, lambda a: D(a["x"], -0.1, inplace=True)),
    ("p above 1", ValueError, P_MSG, lambda a: D(a["x"], 1.5, inplace=True)),
    ("p nan", ValueError, P_MSG, lambda a: D(a["x"], math.nan, inplace=True)),
    ("p bool", ValueError, P_MSG, lambda a: D(a["x"], True, inplace=True)),
    ("p string", ValueError, P_MSG, lambda a: D(a["x"], "0.5", inplace=True)),
    ("p complex", ValueError, P_MSG, lambda a: D(a["x"], 0.5j, inplace=True)),
    ("p list", ValueError, P_MSG, lambda a: D(a["x"], [0.5] * 1000, inplace=True)),
    ("p backward", ValueError, P_MSG, lambda a: B(a["g"], a["m"], 2.0, inplace=True)),
    # dtypes
    ("x int64", TypeError, "x has dtype int64", lambda a: D(a["i64"], 0.5)),
    ("x int16", TypeError, "x has dtype int16",
     lambda a: D(a["x"].astype(np.int16), 0.5)),
    ("x longdouble", TypeError, "x has dtype float128",
     lambda a: D(a["x"].astype(np.longdouble), 0.5)),
    ("x complex", TypeError, "x has dtype complex128", lambda a: D(a["x"] + 0j, 0.5)),
    ("grad int64", TypeError, "grad has dtype int64", lambda a: B(a["i64"], a["m"], 0.5)),
    # x
    ("x list in place", TypeError, "for x, got list",
     lambda a: D(a["x"].tolist(), 0.5, inplace=True)),
    ("x read-only in place", ValueError, "x is read-only", lambda a: D(a["ro"], 0.5, inplace=True)),
    ("x shares memory in place", ValueError, "x has elements that share memory",
     lambda a: D(a["shared"], 0.5, inplace=True, seed=1)),
    ("x big-endian in place", TypeError, "x has dtype >f8",
     lambda a: D(a["big"], 0.5, inplace=True, seed=1)),
    ("grad read-only in place", ValueError, "grad is read-only",
     lambda a: B(a["ro"], a["m"], 0.5, inplace=True)),
    # out
    ("out shape", ValueError, "out has shape", lambda a: D(a["x"], 0.5, out=np.empty((4, 3)))),
    ("out dtype", ValueError, "out has dtype float32", lambda a: D(a["x"], 0.5, out=a["x32"])),
    ("out read-only", ValueError, "out is read-only", lambda a: D(a["x"], 0.5, out=a["ro"])),
    ("out list", TypeError, "out must be a numpy.ndarray",
     lambda a: D(a["x"], 0.5, out=a["out"].tolist())),
    ("out shares memory", ValueError, "out has elements that share memory",
     lambda a: D(a["x"], 0.5, seed=1, out=a["shared"])),
    ("out with inplace", ValueError, "out= and inplace=True",
     lambda a: D(a["x"], 0.5, inplace=True, out=a["out"])),
    ("backward out shape", ValueError, "out has shape",
     lambda a: B(a["g"], a["m"], 0.5, out=a["out"][:2])),
    # mask
    ("mask shape", ValueError, "mask has shape",
     lambda a: D(a["x"], 0.5, inplace=True, mask=a["m"].T)),
    ("mask float", ValueError, "mask must be a bool array",
     lambda a: D(a["x"], 0.5, inplace=True, mask=a["g"])),
    ("mask bits length", ValueError, "uint8 mask is read as packed bits",
     lambda a: D(a["x"], 0.5, inplace=True, mask=a["bits"][:1])),
    ("backward mask shape", ValueError, "mask has shape",
     lambda a: B(a["g"], a["m"][:2], 0.5, inplace=True)),
    ("backward neither mask nor seed", ValueError, "mask= or seed=",
     lambda a: B(a["g"], None, 0.5, inplace=True)),
    ("backward mask and seed", ValueError, "mask= or seed=",
     lambda a: B(a["g"], a["m"], 0.5, seed=1, inplace=True)),
    # seed
    ("seed negative", ValueError, "seed must be in", lambda a: D(a["x"], 0.5, seed=-1, inplace=True)),
    ("seed 2**64", ValueError, "seed must be in",
     lambda a: D(a["x"], 0.5, seed=2**64, inplace=True)),
    ("seed float", TypeError, "seed must be an integer",
     lambda a: D(a["x"], 0.5, seed=1.5, inplace=True)),
    ("seed bool", TypeError, "seed must be an integer",
     lambda a: D(a["x"], 0.5, seed=True, inplace=True)),
    ("seed and rng", ValueError, "seed= or rng=", lambda a: D(a["x"], 0.5, seed=1, rng=1, inplace=True)),
    ("backward seed negative", ValueError, "seed must be in",
     lambda a: B(a["g"], None, 0.5, seed=-2, inplace=True)),
    # offset
    ("offset negative", ValueError, "offset must be in",
     lambda a: D(a["x"], 0.5, seed=1, offset=-1, inplace=True)),
    ("offset string", TypeError, "offset must be an integer",
     lambda a: D(a["x"], 0.5, seed=1, offset="3", inplace=True)),
    ("offset without seed", ValueError, "offset= needs seed=",
     lambda a: D(a["x"], 0.5, offset=4, inplace=True)),
    ("backward offset 2**64", ValueError, "offset must be in",
     lambda a: B(a["g"], None, 0.5, seed=1, offset=2**64, inplace=True)),
    # rng
    ("rng string", TypeError, "rng must be", lambda a: D(a["x"], 0.5, rng="seed", inplace=True)),
    ("rng negative", ValueError, "rng must be in", lambda a: D(a["x"], 0.5, rng=-3, inplace=True)),
    ("rng float", TypeError, "rng must be", lambda a: D(a["x"], 0.5, rng=0.5, inplace=True)),
    # return_mask
    ("return_mask string", ValueError, "return_mask must be",
     lambda a: D(a["x"], 0.5, return_mask="yes", inplace=True)),
    ("return_mask int", ValueError, "return_mask must be",
     lambda a: D(a["x"], 0.5, return_mask=2, inplace=True)),
    # keep_mask / stream_words
    ("keep_mask negative shape", ValueError, "shape must not have negative",
     lambda a: cydrop.keep_mask((3, -4), 0.5, 1)),
    ("keep_mask overflowing shape", ValueError, "shape .* elements",
     lambda a: cydrop.keep_mask((2**32, 2**32), 0.5, 1, packed=True)),
    ("stream_words n", ValueError, "n must be in", lambda a: cydrop.stream_words(1, 0, -1)),
    # module arguments
    ("Dropout p", ValueError, P_MSG, lambda a: cydrop.Dropout(1.01)),
    ("Dropout mask_storage", ValueError, "mask_storage must be",
     lambda a: cydrop.Dropout(0.5, mask_storage="bytes")),
    ("Dropout rng", TypeError, "rng must be", lambda a: cydrop.Dropout(0.5, rng="x")),
    ("Dropout train mode", ValueError, "training mode is expected to be boolean",
     lambda a: cydrop.Dropout(0.5).train("no")),
    ("Dropout forward dtype", TypeError, "x has dtype int64",
     lambda a: cydrop.Dropout(0.5, rng=1)(a["i64"])),
    ("Dropout forward mask shape", ValueError, "mask has shape",
     lambda a: cydrop.Dropout(0.5, rng=1, inplace=True)(a["x"], mask=a["m"][:1])),
    ("Dropout backward shape", ValueError, "grad has shape",
     lambda a: _forward_then(a, lambda layer: layer.backward(a["g"].T))),
    # the family: noise_shape, scaling, channel-wise ranks, alpha
    ("noise_shape rank", ValueError, "noise_shape .* one entry per axis",
     lambda a: D(a["x"], 0.5, inplace=True, seed=1, noise_shape=(3,))),
    ("noise_shape size", ValueError, "noise_shape .* does not broadcast",
     lambda a: D(a["x"], 0.5, inplace=True, seed=1, noise_shape=(3, 2))),
    ("noise_shape entry", TypeError, "noise_shape entries must be ints",
     lambda a: D(a["x"], 0.5, inplace=True, seed=1, noise_shape=(3, 1.0))),
    ("noise_shape string", TypeError, "noise_shape must be a sequence",
     lambda a: D(a["x"], 0.5, inplace=True, seed=1, noise_shape="31")),
    ("noise_shape mask shape", ValueError, "mask has shape .* expected the noise shape",
     lambda a: D(a["x"], 0.5, inplace=True, mask=a["m"], noise_shape=(3, 1))),
    ("mask not broadcastable", ValueError, "mask has shape",
     lambda a: D(a["x"], 0.5, inplace=True, mask=a["m"][:2, :1])),
    ("noise bits length", ValueError, "ceil\\(3 / 8\\)",
     lambda a: D(a["x"], 0.5, inplace=True, mask=a["bits"], noise_shape=(3, 1))),
    ("backward noise_shape", ValueError, "noise_shape",
     lambda a: B(a["g"], None, 0.5, seed=1, inplace=True, noise_shape=(2, 1))),
    ("scaling", ValueError, "scaling must be 'inverted' or 'vanilla'",
     lambda a: D(a["x"], 0.5, inplace=True, scaling="classic")),
    ("Dropout scaling", ValueError, "scaling must be",
     lambda a: cydrop.Dropout(0.5, scaling=None)),
    ("dropout1d rank", RuntimeError, "dropout1d: Expected 2D or 3D input, but received a 4D",
     lambda a: cydrop.dropout1d(a["x"].reshape(1, 1, 3, 4), 0.5, inplace=True)),
    ("dropout2d 1-D", ValueError, "Feature dropout requires at least 2 dimensions",
     lambda a: cydrop.dropout2d(a["x"][0], 0.5, inplace=True)),
    ("feature alpha 1-D", ValueError, "Feature dropout requires at least 2 dimensions",
     lambda a: cydrop.feature_alpha_dropout(a["x"][0], 0.5, True, inplace=True)),
    ("alpha p", ValueError, P_MSG, lambda a: cydrop.alpha_dropout(a["x"], 1.5, True,
                                                               inplace=True)),
    ("Dropout1d forward rank", RuntimeError, "dropout1d: Expected 2D or 3D",
     lambda a: cydrop.Dropout1d(0.5, inplace=True)(a["x"][0])),
    ("alpha backward mask", ValueError, "mask has shape",
     lambda a: cydrop.alpha_dropout_backward(a["g"], a["m"].T, 0.5, inplace=True)),
    # set_state
    ("set_state short", TypeError, "state must be a \\(seed, offset\\) pair",
     lambda a: cydrop.Dropout(0.5).set_state((1,))),
    ("set_state None", TypeError, "state must be a \\(seed, offset\\) pair",
     lambda a: cydrop.Dropout(0.5).set_state(None)),
    ("set_state offset", ValueError, "state: offset must be in",
     lambda a: cydrop.Dropout(0.5).set_state((5, -1))),
    ("set_state seed", TypeError, "state: seed must be an integer",
     lambda a: cydrop.Dropout(0.5).set_state(("5", 0))),
]


def _forward_then(a, then):
    layer = cydrop.Dropout(0.5, rng=1)
    layer(a["x"].copy())
    return then(layer)


def test_table_is_wide():
    assert len(TABLE) >= 30
    assert len({entry[0] for entry in TABLE}) == len(TABLE)


@pytest.mark.filterwarnings("ignore:dropout2d. Received a 1-D input")
@pytest.mark.parametrize("name,exc,pattern,call", TABLE, ids=[e[0] for e in TABLE])
def test_bad_input(name, exc, pattern, call):
    arrays = _arrays()
    before = {k: v.tobytes() for k, v in arrays.items()}
    with pytest.raises(exc, match=pattern) as info:
        call(arrays)
    assert len(str(info.value)) < 300
    for k, v in arrays.items():
        assert v.tobytes() == before[k], f"{name}: {k} was written"
