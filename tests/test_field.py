"""cydrop as it is used in the field: worker processes (every start method,
threads used before), pickles and checkpoints, garbage collection and
finalizers during calls, signals, integer arguments at their bounds
(docs/design.md, "Processes, workers and checkpoints").

Anything that can hang -- a fork, a worker pool, a finalizer -- runs in a
child Python process with a timeout, so that a regression fails here
instead of stalling the suite.  The torch cases skip cleanly without torch.
"""
import copy
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest

import cydrop
from cydrop import _kernels

HAVE_FORK = hasattr(os, "fork")
needs_fork = pytest.mark.skipif(not HAVE_FORK, reason="no os.fork on this platform")
needs_openmp = pytest.mark.skipif(not _kernels.HAVE_OPENMP, reason="built without OpenMP")
TIMEOUT = 180
needs_torch = pytest.mark.skipif(
    __import__("importlib").util.find_spec("torch") is None, reason="torch not installed")


def run_script(tmp_path, code, timeout=TIMEOUT, env=None):
    """Run ``code`` as a script file in a new interpreter (from ``tmp_path``,
    so that nothing but the installed cydrop is importable), fail on a
    non-zero exit or a hang; the script's stdout, split in lines."""
    script = tmp_path / "field_script.py"
    script.write_text(textwrap.dedent(code))
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=full_env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"hung: no exit within {timeout} s\nstdout:\n{e.stdout}\nstderr:\n{e.stderr}")
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout.splitlines()


def _parse(lines, tag):
    """The lines ``tag value...`` of a script's output, values split."""
    return [line.split()[1:] for line in lines if line.startswith(tag + " ")]


# ---------------------------------------------------------------------------
# Worker processes: threads used before the fork, every start method


# The parent runs a 2-thread call (the OpenMP team starts), then each worker
# makes a call of 2**20 elements from the default stream and with an
# explicit seed, and reports its masks' hashes and thread count.
POOL_SCRIPT = """
import concurrent.futures, hashlib, multiprocessing as mp, os, sys
import numpy as np, cydrop
from cydrop import _kernels

N = 1 << 20

def digest(m):
    return hashlib.sha1(np.packbits(m).tobytes()).hexdigest()[:16]

def work(k):
    x = np.ones(N, np.float32)
    _, m = cydrop.dropout(x, 0.5, return_mask=True)
    _, ms = cydrop.dropout(x, 0.5, seed=11, offset=8, return_mask=True)
    return (os.getpid(), digest(m), digest(ms), cydrop.get_num_threads(),
            _kernels.fork_serial())

def put(q, k):
    q.put(work(k))

if __name__ == "__main__":
    method, how = sys.argv[1], sys.argv[2]
    if sys.argv[3] != "-":
        cydrop.manual_seed(int(sys.argv[3]))
    cydrop.set_num_threads(2)
    x = np.ones(N, np.float32)
    cydrop.dropout(x, 0.5)                      # a parallel call before the fork
    if how == "pool":
        with mp.get_context(method).Pool(2) as pool:
            results = pool.map(work, range(4), chunksize=1)
    elif how == "executor":
        with concurrent.futures.ProcessPoolExecutor(
                2, mp_context=mp.get_context(method)) as ex:
            results = list(ex.map(work, range(4)))
    else:
        ctx = mp.get_context(method)
        q = ctx.Queue()
        procs = [ctx.Process(target=put, args=(q, k)) for k in range(2)]
        for p in procs:
            p.start()
        results = [q.get(timeout=120) for _ in procs]
        for p in procs:
            p.join()
    print("parent", *work(-1)[1:3])
    for r in results:
        print("worker", *r)
"""


def _pool_run(tmp_path, method, how, seed="-"):
    lines = run_script(tmp_path, POOL_SCRIPT.replace("sys.argv[1], sys.argv[2]",
                                                     f"{method!r}, {how!r}")
                       .replace("sys.argv[3]", repr(seed)))
    parent = _parse(lines, "parent")[0]
    workers = _parse(lines, "worker")
    return parent, workers


STARTS = [("fork", "pool"), ("fork", "executor"), ("fork", "process"),
          ("spawn", "pool"), ("forkserver", "executor")]


@needs_fork
@pytest.mark.parametrize("method,how", STARTS, ids=[f"{m}-{h}" for m, h in STARTS])
def test_workers_finish_and_draw_their_own_masks(tmp_path, method, how):
    parent, workers = _pool_run(tmp_path, method, how)
    assert len(workers) >= 2
    by_pid = {}
    for pid, default_mask, seeded_mask, threads, serial in workers:
        by_pid.setdefault(pid, []).append(default_mask)
        # an explicit seed is a pure function of its arguments, everywhere
        assert seeded_mask == parent[1]
        if method == "fork" and _kernels.HAVE_OPENMP:
            # the parent's OpenMP team had started: the child stays serial
            assert (threads, serial) == ("1", "True")
        else:
            assert serial == "False"
    # the default stream: no worker repeats the parent's masks or another's
    drawn = [m for masks in by_pid.values() for m in masks]
    assert len(set(drawn)) == len(drawn), workers
    assert parent[0] not in drawn


@needs_fork
def test_forked_children_are_reproducible_after_manual_seed(tmp_path):
    runs = [_pool_run(tmp_path, "fork", "process", seed=5) for _ in range(2)]
    first = sorted(w[1] for w in runs[0][1])
    assert first == sorted(w[1] for w in runs[1][1])
    assert runs[0][0] == runs[1][0]                  # the parent too


@needs_fork
@needs_openmp
def test_os_fork_after_parallel_call_finishes_and_warns_on_threads(tmp_path):
    lines = run_script(tmp_path, """
        import os, warnings
        import numpy as np, cydrop
        cydrop.set_num_threads(2)
        x = np.ones(1 << 20, np.float32)
        cydrop.dropout(x, 0.5)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                cydrop.set_num_threads(2)
            y = cydrop.dropout(np.ones(1 << 16, np.float32), 0.5, seed=1)   # >= 16384
            msg = f"{cydrop.get_num_threads()} {len(caught)} {caught[0].category.__name__}"
            os.write(w, msg.encode())
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("child", os.read(r, 100).decode(), status)
        print("parent", cydrop.get_num_threads())
    """)
    (child,) = _parse(lines, "child")
    assert child == ["1", "1", "RuntimeWarning", "0"]
    assert _parse(lines, "parent") == [["2"]]


@needs_fork
@needs_openmp
def test_fork_before_any_parallel_call_keeps_threads(tmp_path):
    # the parent never started its OpenMP team: the child may start its own
    lines = run_script(tmp_path, """
        import os
        import numpy as np, cydrop
        from cydrop import _kernels
        cydrop.set_num_threads(2)
        cydrop.dropout(np.ones(100, np.float32), 0.5)     # serial: no team
        pid = os.fork()
        if pid == 0:
            y = cydrop.dropout(np.ones(1 << 20, np.float32), 0.5, seed=1)
            os._exit(0 if not _kernels.fork_serial() and cydrop.get_num_threads() == 2 else 3)
        print("status", os.waitpid(pid, 0)[1])
    """)
    assert _parse(lines, "status") == [["0"]]


@needs_torch
@needs_fork
@needs_openmp
def test_fork_after_torch_started_its_openmp_threads(tmp_path):
    # torch's libgomp can be the very runtime cydrop calls (a source build
    # links the system libgomp.so.1, and torch loaded a library of that
    # name first): torch's threads alone make a forked child's OpenMP hang
    lines = run_script(tmp_path, """
        import os
        import numpy as np, torch, cydrop
        from cydrop import _kernels
        torch.set_num_threads(2)
        a = torch.randn(1024, 1024)
        for _ in range(5):
            (a @ a).relu_().sum()                      # torch's parallel kernels
        cydrop.dropout(np.ones(64, np.float32), 0.5)   # cydrop: serial, no team
        pid = os.fork()
        if pid == 0:
            y = cydrop.dropout(np.ones(1 << 20, np.float32), 0.5, seed=1)
            os._exit(0 if _kernels.fork_serial() and cydrop.get_num_threads() == 1 else 3)
        print("status", os.waitpid(pid, 0)[1])
    """)
    assert _parse(lines, "status") == [["0"]]


@needs_fork
def test_threads_forking_at_once_give_children_distinct_keys(tmp_path):
    lines = run_script(tmp_path, """
        import os, threading
        import cydrop
        r, w = os.pipe()
        def forks():
            for _ in range(25):
                pid = os.fork()
                if pid == 0:
                    os.write(w, f"{cydrop.initial_seed()}\\n".encode())
                    os._exit(0)
                os.waitpid(pid, 0)
        threads = [threading.Thread(target=forks) for _ in range(4)]
        for t in threads: t.start()
        for t in threads: t.join()
        os.close(w)
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
        keys = data.decode().split()
        print("keys", len(keys), len(set(keys)), cydrop.initial_seed() in keys)
    """)
    assert _parse(lines, "keys") == [["100", "100", "False"]]


MODULE_FORK_SCRIPT = """
import os, hashlib
import numpy as np, cydrop
os_keyed = cydrop.Dropout(0.5)
seeded = cydrop.Dropout(0.5, rng=7)
(spawned,) = os_keyed.spawn(1)          # from an OS key: re-keyed too
restored = cydrop.Dropout(0.5)
restored.set_state((9, 0))              # a key the user chose: kept
x = np.ones(4096)
def digest(layer):
    layer(x)
    return hashlib.sha1(np.packbits(layer.mask).tobytes()).hexdigest()[:12]
r, w = os.pipe()
pids = []
for k in range(2):
    pid = os.fork()
    if pid == 0:
        os.write(w, f"child {digest(os_keyed)} {digest(seeded)} {digest(spawned)} "
                    f"{digest(restored)}\\n".encode())
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
os.close(w)
print(os.read(r, 1000).decode().strip())
print("parent", digest(os_keyed), digest(seeded), digest(spawned), digest(restored))
"""


@needs_fork
def test_forked_child_rekeys_os_keyed_layers_only(tmp_path):
    lines = run_script(tmp_path, MODULE_FORK_SCRIPT)
    children = _parse(lines, "child")
    (parent,) = _parse(lines, "parent")
    assert len(children) == 2
    # rng=None: every process its own masks
    assert len({c[0] for c in children} | {parent[0]}) == 3
    # rng=7: the layer's stream is data, copied as pickle would copy it
    assert {c[1] for c in children} == {parent[1]}
    assert len({c[2] for c in children} | {parent[2]}) == 3    # spawned from an OS key
    assert {c[3] for c in children} == {parent[3]}             # set_state's key kept


# ---------------------------------------------------------------------------
# Threads: set_num_threads' bounds and meaning


@pytest.fixture
def restore_threads():
    before = _kernels.requested_threads()
    yield
    _kernels.set_num_threads(before) if before else _kernels.reset_num_threads()


@pytest.mark.parametrize("bad", [2.5, 2.0, "2", None, True, np.bool_(True)])
def test_set_num_threads_rejects_non_integers(bad, restore_threads):
    before = cydrop.get_num_threads()
    with pytest.raises(TypeError, match="number of threads must be an integer"):
        cydrop.set_num_threads(bad)
    assert cydrop.get_num_threads() == before


@needs_openmp
def test_set_num_threads_caps_huge_requests(restore_threads):
    cap = _kernels.thread_cap()
    assert cap == 4 * _kernels.usable_cpus()
    with pytest.warns(RuntimeWarning, match=f"using {cap} threads"):
        cydrop.set_num_threads(10**5)
    assert cydrop.get_num_threads() == cap
    with pytest.warns(RuntimeWarning):
        cydrop.set_num_threads(2**70)
    cydrop.set_num_threads(np.int64(cap))           # at the cap: no warning
    assert cydrop.get_num_threads() == cap


def test_huge_thread_count_runs_in_a_child(tmp_path):
    # the crash this guards against (a segfault in libgomp's team start) would
    # take the test process down: in a child
    lines = run_script(tmp_path, """
        import warnings
        import numpy as np, cydrop
        warnings.simplefilter("ignore")
        cydrop.set_num_threads(10**5)
        x = np.ones(1 << 22, np.float32)
        y = cydrop.dropout(x, 0.5, seed=1)
        print("ok", cydrop.get_num_threads(), bool(np.array_equal(y, cydrop.dropout(x, 0.5, seed=1))))
    """, env={"OMP_NUM_THREADS": "100000"})
    cap = 4 * _kernels.usable_cpus() if _kernels.HAVE_OPENMP else 1
    assert _parse(lines, "ok") == [[str(cap), "True"]]


@needs_openmp
def test_set_num_threads_is_the_count_in_every_thread(restore_threads):
    # above the OpenMP default too: "for the whole process" means every thread
    n = min(3, _kernels.thread_cap())
    cydrop.set_num_threads(n)
    seen = []
    t = threading.Thread(target=lambda: seen.append(cydrop.get_num_threads()))
    t.start()
    t.join()
    assert seen == [n] and cydrop.get_num_threads() == n


# ---------------------------------------------------------------------------
# Pickles, deep copies, checkpoints


def _layers():
    yield "Dropout-bits", cydrop.Dropout(0.4, rng=3), (6, 10)
    yield "Dropout-bool", cydrop.Dropout(0.4, rng=3, mask_storage="bool"), (6, 10)
    yield "Dropout-recompute", cydrop.Dropout(0.4, rng=3, mask_storage="recompute"), (6, 10)
    yield ("Dropout-noise-vanilla",
           cydrop.Dropout(0.3, rng=4, noise_shape=(None, 1), scaling="vanilla"), (6, 10))
    yield "Dropout1d", cydrop.Dropout1d(0.5, rng=5), (2, 3, 4)
    yield "Dropout2d", cydrop.Dropout2d(0.5, rng=5, mask_storage="bool"), (2, 3, 4, 4)
    yield "Dropout3d", cydrop.Dropout3d(0.5, rng=5), (2, 3, 2, 2, 2)
    yield "AlphaDropout", cydrop.AlphaDropout(0.2, rng=6), (5, 7)
    yield "FeatureAlphaDropout", cydrop.FeatureAlphaDropout(0.2, rng=6), (2, 3, 4)
    yield "Dropout-os-keyed", cydrop.Dropout(0.5), (9,)


LAYERS = list(_layers())


def _cloudpickle_roundtrip(obj):
    cloudpickle = pytest.importorskip("cloudpickle")
    return pickle.loads(cloudpickle.dumps(obj))


COPIES = {
    "pickle": lambda o: pickle.loads(pickle.dumps(o)),
    "pickle-protocol-2": lambda o: pickle.loads(pickle.dumps(o, protocol=2)),
    "deepcopy": copy.deepcopy,
    "cloudpickle": _cloudpickle_roundtrip,
}


@pytest.mark.parametrize("how", list(COPIES))
@pytest.mark.parametrize("name,layer,shape", LAYERS, ids=[n for n, _, _ in LAYERS])
def test_layer_round_trips_whole_state(name, layer, shape, how):
    layer = copy.deepcopy(layer) if how != "deepcopy" else layer
    x = np.random.default_rng(0).standard_normal(shape)
    g = np.random.default_rng(1).standard_normal(shape)
    fresh = COPIES[how](layer)                       # before any forward
    assert fresh.get_state() == layer.get_state() and repr(fresh) == repr(layer)
    y = layer(x)
    twin = COPIES[how](layer)                         # after one
    assert type(twin) is type(layer) and repr(twin) == repr(layer)
    assert twin.get_state() == layer.get_state()
    assert (twin.p, twin.mask_storage, twin.noise_shape, twin.training, twin._mode) == (
        layer.p, layer.mask_storage, layer.noise_shape, layer.training, layer._mode)
    np.testing.assert_array_equal(twin.mask, layer.mask)
    np.testing.assert_array_equal(twin.backward(g), layer.backward(g))
    # a copy continues the same stream: the same masks from here on
    np.testing.assert_array_equal(twin(x), layer(x))
    np.testing.assert_array_equal(fresh(x), y)
    twin.eval()
    assert layer.training                            # independent objects


def test_pickled_layer_in_spawned_worker_draws_what_it_would_here(tmp_path):
    layer = cydrop.Dropout(0.5, rng=12)
    layer(np.ones(10))                                # a forward before the checkpoint
    path = tmp_path / "layer.pkl"
    path.write_bytes(pickle.dumps(layer))
    lines = run_script(tmp_path, f"""
        import multiprocessing as mp, pickle
        import numpy as np

        def work(blob):
            layer = pickle.loads(blob)
            return np.packbits(layer(np.ones(64)) != 0).tobytes().hex()

        if __name__ == "__main__":
            blob = open({str(path)!r}, "rb").read()
            with mp.get_context("spawn").Pool(1) as pool:
                print("mask", pool.apply(work, (blob,)))
    """)
    expected = np.packbits(layer(np.ones(64)) != 0).tobytes().hex()
    assert _parse(lines, "mask") == [[expected]]


def test_spawn_gives_independent_reproducible_streams():
    layer = cydrop.Dropout(0.5, rng=21, mask_storage="bool", noise_shape=(None, 1))
    children = layer.spawn(3)
    more = layer.spawn(1)
    states = [c.get_state() for c in children + more] + [layer.get_state()]
    assert len(set(states)) == 5
    assert all(c.get_state()[1] == 0 for c in children)
    # the same on every run (a layer given rng), and the parameters carried over
    again = cydrop.Dropout(0.5, rng=21, mask_storage="bool", noise_shape=(None, 1)).spawn(3)
    assert [c.get_state() for c in again] == states[:3]
    for c in children:
        assert (repr(c), c.mask_storage, c.mask) == (repr(layer), "bool", None)
    x = np.ones((4, 64))
    masks = {c(x).tobytes() for c in children}
    assert len(masks) == 3
    assert layer.spawn(0) == []
    with pytest.raises(ValueError):
        layer.spawn(-1)
    with pytest.raises(TypeError):
        layer.spawn(1.5)


def test_shallow_copy_has_its_own_stream():
    a = cydrop.Dropout(0.5, rng=3)
    a(np.ones(8))
    b = copy.copy(a)
    assert b.get_state() == a.get_state()
    b.set_state((7, 0))
    assert a.get_state() == (3, 8)
    np.testing.assert_array_equal(copy.copy(a)(np.ones(8)), a(np.ones(8)))


def test_stream_object_pickles_and_takes_atomically():
    s = _kernels.Stream(2**64 - 1, 2**64 - 4)
    t = pickle.loads(pickle.dumps(s))
    assert t == s and t.state() == (2**64 - 1, 2**64 - 4)
    assert t.take(5) == (2**64 - 1, 2**64 - 4)
    assert t.state() == (2**64 - 1, 4)                # wraps modulo 2**64
    assert copy.deepcopy(t) == t and t != s


@pytest.mark.parametrize("name,obj", [
    ("RankError", cydrop.RankError("Feature dropout requires at least 2 dimensions")),
    ("dropout", cydrop.dropout), ("Dropout class", cydrop.Dropout),
    ("dropout_backward", cydrop.dropout_backward), ("keep_mask", cydrop.keep_mask),
])
def test_public_objects_pickle(name, obj):
    for how, roundtrip in COPIES.items():
        back = roundtrip(obj)
        if isinstance(obj, Exception):
            assert type(back) is type(obj) and back.args == obj.args
            assert isinstance(back, ValueError) and isinstance(back, RuntimeError)
        else:
            assert back is obj


# ---------------------------------------------------------------------------
# What backward uses cannot be changed from outside


@pytest.mark.parametrize("storage", ["bool", "bits", "recompute"])
@pytest.mark.parametrize("manual", ["bool", "bits", None])
def test_backward_immune_to_caller_changing_masks(storage, manual):
    x = np.arange(1.0, 17.0)
    layer = cydrop.Dropout(0.5, rng=2, mask_storage=storage)
    given = None
    if manual == "bool":
        given = np.arange(16) % 3 != 0
    elif manual == "bits":
        given = np.packbits(np.arange(16) % 3 != 0, bitorder="little")
    y = layer(x, mask=given)
    expected = layer.backward(np.ones(16))
    np.testing.assert_array_equal(expected, y / x)
    shown = layer.mask
    if given is not None:
        given[...] = ~given if given.dtype == bool else 0xFF  # the caller reuses its buffer
    try:
        shown[...] = True                                     # or writes the one shown
    except ValueError as e:
        assert "read-only" in str(e)
    np.testing.assert_array_equal(layer.backward(np.ones(16)), expected)
    np.testing.assert_array_equal(layer.mask, y != 0)


# ---------------------------------------------------------------------------
# Garbage collection, finalizers, signals


def test_gc_every_allocation_workload(tmp_path):
    # gc.set_threshold(1): a collection at nearly every allocation, so that
    # finalizers run inside every call and lock the module might hold
    lines = run_script(tmp_path, """
        import gc, pickle
        import numpy as np, cydrop
        gc.set_threshold(1)
        layer = cydrop.Dropout(0.5, rng=1, mask_storage="bool")
        for i in range(40):
            x = np.ones((64, 300)) + i
            y = layer(x)
            g = layer.backward(np.ones_like(x))
            a = [cydrop.dropout(x, 0.3)]; a.append(a); del a       # cyclic garbage
            b = pickle.loads(pickle.dumps(layer))
            assert np.array_equal(b.backward(np.ones_like(x)), g)
            cydrop.dropout_backward(x, p=0.3, seed=i, offset=4 * i)
        print("done", i)
    """)
    assert _parse(lines, "done") == [["39"]]


def test_keyboard_interrupt_during_calls_leaves_whole_results(tmp_path):
    # SIGINT arrives while kernels run with the GIL released: Python raises
    # KeyboardInterrupt after the call returns, so each array is either
    # untouched or completely written, and cydrop keeps working afterwards
    lines = run_script(tmp_path, """
        import os, signal, threading, time
        import numpy as np, cydrop
        # Python installs its SIGINT handler only if SIGINT was not ignored at
        # startup (a child of a background job of a non-interactive shell
        # inherits SIG_IGN): install it, so that the signal raises here
        signal.signal(signal.SIGINT, signal.default_int_handler)
        n = 1 << 22
        base = np.random.default_rng(0).standard_normal(n).astype(np.float32)
        arrays = [base.copy() for _ in range(40)]
        def interrupt():
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=interrupt).start()
        done = 0
        try:
            for i, a in enumerate(arrays):
                cydrop.dropout(a, 0.5, inplace=True, seed=i)
                done += 1
            time.sleep(5)          # the loop can outrun the signal: wait for it here
        except KeyboardInterrupt:
            pass
        else:
            raise SystemExit("no KeyboardInterrupt")
        for i, a in enumerate(arrays):
            full = cydrop.dropout(base, 0.5, seed=i)
            assert np.array_equal(a, full) or np.array_equal(a, base), i
        assert np.array_equal(cydrop.dropout(base, 0.5, seed=1), cydrop.dropout(base, 0.5, seed=1))
        print("interrupted after", done)
    """)
    assert len(_parse(lines, "interrupted")) == 1


# ---------------------------------------------------------------------------
# Integer arguments at their bounds


U64 = 1 << 64


@pytest.mark.parametrize("seed,offset", [(0, 0), (U64 - 1, 0), (0, U64 - 1), (U64 - 1, U64 - 1),
                                         (np.uint64(U64 - 1), np.uint64(U64 - 4))])
def test_seed_and_offset_at_the_bounds(seed, offset):
    x = np.ones(37, np.float32)
    y, m = cydrop.dropout(x, 0.5, seed=seed, offset=offset, return_mask=True)
    np.testing.assert_array_equal(m, cydrop.keep_mask(37, 0.5, int(seed), int(offset)))
    words = cydrop.stream_words(int(seed), int(offset), 37)
    np.testing.assert_array_equal(m, words >= _kernels.threshold(0.5))
    np.testing.assert_array_equal(
        cydrop.dropout_backward(x, p=0.5, seed=seed, offset=offset), y)
    layer = cydrop.Dropout(0.5)
    layer.set_state((seed, offset))
    np.testing.assert_array_equal(layer(x), y)
    assert layer.get_state() == (int(seed), (int(offset) + 40) % U64)


@pytest.mark.parametrize("value,exc", [(U64, ValueError), (-1, ValueError), (2**200, ValueError),
                                       (1.0, TypeError), (True, TypeError)])
def test_seed_and_offset_outside_the_bounds(value, exc):
    x = np.ones(8)
    before = x.copy()
    for call in (lambda: cydrop.dropout(x, 0.5, seed=value, inplace=True),
                 lambda: cydrop.dropout(x, 0.5, seed=1, offset=value, inplace=True),
                 lambda: cydrop.keep_mask(8, 0.5, value),
                 lambda: cydrop.stream_words(1, value, 4),
                 lambda: cydrop.manual_seed(value),
                 lambda: cydrop.Dropout(0.5).set_state((value, 0))):
        with pytest.raises(exc):
            call()
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("training", ["no", 1, 0, None, 1.0, np.array(True)])
def test_training_must_be_a_bool(training):
    x = np.ones(4)
    for fn in (cydrop.dropout, cydrop.alpha_dropout, cydrop.dropout2d):
        with pytest.raises(TypeError, match="training must be a bool"):
            fn(np.ones((2, 2, 2, 2)), 0.5, training)
    assert cydrop.dropout(x, 0.5, np.bool_(False)) is x


# ---------------------------------------------------------------------------
# cydrop.torch in the field




@needs_torch
def test_torch_result_cache_survives_cyclic_garbage(tmp_path):
    # the reproduction: a result freed by a collection that starts
    # while the cache's lock is held (its finalizer used to wait on it forever)
    lines = run_script(tmp_path, """
        import gc
        import torch, cydrop.torch as ct
        x = torch.ones(2**18)
        for i in range(3000):
            a = [ct.dropout(x, 0.5)]; a.append(a); del a
        gc.set_threshold(1)
        for i in range(300):
            a = [ct.dropout(x, 0.5)]; a.append(a); del a
        gc.collect()
        print("ok", ct.result_cache_bytes() <= 256 << 20)
    """, timeout=240)
    assert _parse(lines, "ok") == [["True"]]


@needs_torch
def test_torch_result_cache_finalizer_on_another_thread_does_not_wait():
    import cydrop.torch as ct
    cache = ct._ResultCache(64 << 20)
    arr = cache.empty((1 << 18,), np.dtype(np.float32))
    done = threading.Event()
    holder = [arr]
    del arr
    with cache._lock:                    # another thread frees while this one holds it
        t = threading.Thread(target=lambda: (holder.clear(), done.set()))
        t.start()
        t.join(30)
        assert done.is_set(), "the finalizer waited for the lock"
    assert cache.held() == 1 << 20       # filed once the lock was free
    again = cache.empty((1 << 18,), np.dtype(np.float32))
    assert cache.held() == 0 and again.nbytes == 1 << 20


@needs_torch
@needs_fork
def test_torch_fork_with_cache_lock_held_by_another_thread(tmp_path):
    lines = run_script(tmp_path, """
        import os, threading, time
        import torch, cydrop.torch as ct
        cache = ct._RESULT_CACHE
        held, release = threading.Event(), threading.Event()
        def hold():
            with cache._lock:
                held.set()
                release.wait()
        t = threading.Thread(target=hold); t.start(); held.wait()
        pid = os.fork()
        if pid == 0:
            y = ct.dropout(torch.ones(2**18), 0.5)      # >= 1 MiB: takes the cache
            os._exit(0 if y.shape == (2**18,) else 3)
        status = os.waitpid(pid, 0)[1]
        release.set(); t.join()
        print("status", status)
    """)
    assert _parse(lines, "status") == [["0"]]


@needs_torch
def test_torch_fallback_survives_a_global_patch():
    import torch
    import cydrop.torch as ct
    saved = torch.nn.functional.dropout
    torch.nn.functional.dropout = ct.dropout
    try:
        x = torch.ones(64, dtype=torch.bfloat16)
        y = torch.nn.functional.dropout(x, 0.5)           # bfloat16: torch's own
        assert y.dtype == torch.bfloat16 and set(y.unique().tolist()) <= {0.0, 2.0}
        m = torch.nn.Sequential(torch.nn.Dropout(0.5))
        ct.convert_dropout(m)
        assert m(x).dtype == torch.bfloat16
    finally:
        torch.nn.functional.dropout = saved


@needs_torch
@pytest.mark.parametrize("p", ["tensor", "tensor-int", "float32", "float64", "int64", "bool"])
def test_torch_p_as_torch_accepts_it(p):
    import torch
    import cydrop.torch as ct
    value = {"tensor": torch.tensor(0.25), "tensor-int": torch.tensor(0),
             "float32": np.float32(0.25), "float64": np.float64(0.25), "int64": np.int64(0),
             "bool": False}[p]
    x = torch.ones(32)
    expected = ct.dropout(x, float(value), seed=3)
    torch.testing.assert_close(ct.dropout(x, value, seed=3), expected, rtol=0, atol=0)
    torch.testing.assert_close(ct.dropout2d(torch.ones(2, 4, 3, 3), value, seed=3),
                               ct.dropout2d(torch.ones(2, 4, 3, 3), float(value), seed=3))
    # the module and convert_dropout (torch's Dropout keeps p as given)
    model = ct.convert_dropout(torch.nn.Sequential(torch.nn.Dropout(value)))
    assert model(x).shape == x.shape


@needs_torch
@pytest.mark.parametrize("bad,exc,text", [
    ("ndarray", TypeError, "must be float, not numpy.ndarray"),
    ("str", TypeError, "must be float, not str"),
    ("vector", TypeError, "must be float, not Tensor"),
    ("grad", TypeError, "must be float, not Tensor"),
    ("big", ValueError, "between 0 and 1"),
    ("nan", ValueError, "between 0 and 1"),
])
def test_torch_p_rejected_says_why(bad, exc, text):
    import torch
    import cydrop.torch as ct
    value = {"ndarray": np.array(0.3), "str": "0.3", "vector": torch.tensor([0.3]),
             "grad": torch.tensor(0.3, requires_grad=True), "big": torch.tensor(1.5),
             "nan": float("nan")}[bad]
    with pytest.raises(exc, match=text):
        ct.dropout(torch.ones(4), value)
    with pytest.raises(exc, match=text):
        ct.dropout1d(torch.ones(2, 4), value)


@needs_torch
@pytest.mark.parametrize("training", ["no", 1, None, np.bool_(True)])
def test_torch_training_must_be_a_bool(training):
    import torch
    import cydrop.torch as ct
    for fn in (ct.dropout, ct.dropout2d, ct.alpha_dropout):
        with pytest.raises(TypeError, match="argument 'train' \\(position 3\\) must be bool"):
            fn(torch.ones(2, 2, 2), 0.5, training)


@needs_torch
def test_torch_modules_pickle_and_deepcopy():
    import torch
    import cydrop.torch as ct
    for cls in (ct.Dropout, ct.Dropout1d, ct.Dropout2d, ct.Dropout3d, ct.AlphaDropout,
                ct.FeatureAlphaDropout):
        m = cls(0.3, mask_storage="recompute").eval()
        for how, roundtrip in COPIES.items():
            back = roundtrip(m)
            assert type(back) is cls and repr(back) == repr(m) and not back.training
    model = ct.convert_dropout(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.2)))
    state = pickle.loads(pickle.dumps(model.state_dict()))
    torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.2)).load_state_dict(state)


@needs_torch
@needs_fork
def test_torch_dataloader_workers_over_a_cydrop_model(tmp_path):
    # DataLoader's default start method on Linux is fork; the parent has run
    # parallel cydrop calls first.  Workers must finish, draw their own masks
    # (torch seeds each worker's generator), and training goes on afterwards.
    lines = run_script(tmp_path, """
        import torch, cydrop, cydrop.torch as ct
        torch.manual_seed(0)
        cydrop.set_num_threads(2)
        model = torch.nn.Sequential(torch.nn.Linear(256, 256), ct.Dropout(0.5))
        x = torch.randn(256, 256)
        model(x).sum().backward()                    # parallel kernels in the parent

        class Data(torch.utils.data.Dataset):
            def __len__(self):
                return 8
            def __getitem__(self, i):
                with torch.no_grad():
                    y = model(torch.ones(64, 256))
                return (y == 0).flatten()

        loader = torch.utils.data.DataLoader(Data(), batch_size=1, num_workers=2)
        masks = [b[0] for b in loader]
        distinct = len({tuple(m.tolist()) for m in masks})
        model(x).sum().backward()
        print("workers", len(masks), distinct)
    """, timeout=300)
    assert _parse(lines, "workers") == [["8", "8"]]


def test_dask_training_must_be_a_bool():
    da = pytest.importorskip("dask.array")
    import cydrop.dask
    x = da.ones(8, chunks=4)
    with pytest.raises(TypeError, match="training must be a bool"):
        cydrop.dask.dropout(x, 0.5, seed=1, training="no")
    assert cydrop.dask.dropout(x, 0.5, seed=1, training=np.bool_(False)) is x
