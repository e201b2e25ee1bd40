"""The ``count`` benchmark type of the asv plugin (asv_bench/asv_bench_cydrop:
``benchmarks/count.py`` and its instrument ``callgrind.py``): it counts what
it claims, exactly.

The proof is a toy C function (compiled here, called through ctypes) whose
loops are written in assembly -- ``dec``/``jnz``, two instructions an
iteration -- so that an extra loop of ``k`` iterations must add ``2 k``
instructions to the count (within `SLACK`, the interpreter's share), and
two processes must count the same.  Then the
type through asv_runner's own entry points (``_setup_cache``, ``_run``:
what asv's spawners call), the skip without valgrind, and the project's
suite (``bench_count``) as asv discovers it.

Every check runs in a child interpreter with a timeout; the ones that need
valgrind (or a C compiler) skip without it.  Skipped where asv_runner is not
installed (``pip install -e ".[bench]"``).
"""
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("asv_runner")

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_SRC = ROOT / "asv_bench" / "asv_bench_cydrop"
SUITE = ROOT / "asv_bench" / "benchmarks"

HAVE_VALGRIND = shutil.which("valgrind") is not None and shutil.which("cc") is not None
needs_valgrind = pytest.mark.skipif(not HAVE_VALGRIND, reason="valgrind or cc not installed")
x86_64 = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                            reason="the toy loop is x86-64 assembly")

# two instructions an iteration (dec, jnz), nothing else inside the loops
TOY_C = r"""
static void spin(long n)
{
    if (n > 0)
        __asm__ volatile("1:\n\tdec %0\n\tjnz 1b" : "+r"(n) : : "cc");
}

void toy(long n, long extra)
{
    spin(n);
    spin(extra);    /* the deliberate extra loop */
}
"""

TOY_MODULE = '''
import ctypes, os
LIB = ctypes.CDLL(os.environ["TOY_LIB"])
LIB.toy.argtypes = [ctypes.c_long, ctypes.c_long]
LIB.toy.restype = None


def toy(n, extra):
    f = LIB.toy
    return lambda: f(n, extra)


def not_callable():
    return 42


def raises():
    def f():
        raise ValueError("inside the counted call")
    return f
'''

TOY_SUITE = '''
import ctypes, os
from asv_runner.benchmarks.mark import SkipNotImplemented


class Toy:
    params = [[100000, 300000], ["run", "skip"]]
    param_names = ["n", "mode"]
    # (the valgrind process gets a fixed environment: the library's path too)
    count_env = {"a": {"TOY_ENV": "a", "TOY_LIB": os.environ.get("TOY_LIB", "")},
                 "b": {"TOY_ENV": "b", "TOY_LIB": os.environ.get("TOY_LIB", "")}}
    count_env_name = "flavour"

    def setup(self, n, mode):
        if mode == "skip":
            raise SkipNotImplemented("skipped in setup")
        self.lib = ctypes.CDLL(os.environ["TOY_LIB"])
        self.lib.toy.argtypes = [ctypes.c_long, ctypes.c_long]
        # the environment reaches the valgrind process: 50000 more iterations under "b"
        self.extra = 50000 if os.environ.get("TOY_ENV") == "b" else 0

    def count_toy(self, n, mode):
        f, extra = self.lib.toy, self.extra
        return lambda: f(n, extra)

    def count_twice(self, n, mode):
        f, extra = self.lib.toy, self.extra
        return lambda: (f(n, extra), f(n, extra))


def count_module_level():
    return lambda: None
'''


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The toy library, its module of callables and an asv suite around it."""
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    root = tmp_path_factory.mktemp("toy")
    (root / "toy.c").write_text(TOY_C)
    lib = root / "libtoy.so"
    subprocess.run(["cc", "-O1", "-shared", "-fPIC", "-o", str(lib), str(root / "toy.c")],
                   check=True, timeout=120)
    (root / "toy_module.py").write_text(TOY_MODULE)
    bench = root / "benchmarks"
    bench.mkdir()
    (bench / "__init__.py").write_text("")
    (bench / "bench_toy.py").write_text(TOY_SUITE)
    return {"root": root, "lib": str(lib), "bench": bench}


def run_py(code, plugin_path, cwd, timeout=600, **env):
    full_env = dict(os.environ, PYTHONPATH=plugin_path, **env)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full_env,
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc


COUNT_CALLS = """
    import json, os, sys
    sys.path.insert(0, {root!r})
    from asv_bench_cydrop import callgrind
    jobs = [{{"call": "toy_module:toy", "args": a}} for a in {args!r}]
    jobs += [{{"call": "toy_module:not_callable"}}, {{"call": "toy_module:raises"}}]
    out = callgrind.count_jobs(jobs, env={{"TOY_LIB": os.environ["TOY_LIB"]}}, timeout=300)
    print(json.dumps(out))
"""


#: How far a count may stray from the loops' exact cost: the counted call
#: also runs the interpreter's side of ctypes (argument conversion, the
#: call), and its instructions move by up to ~150 between two calls of the
#: same function in one process (measured: toy(1000, 0) counted 6568, then
#: 6550 a few jobs later) with the allocator's and caches' state.  The
#: loops below run 10**5 iterations and more, so the bound is 0.3% of the
#: smallest difference checked.
SLACK = 300


@needs_valgrind
@x86_64
def test_an_extra_loop_adds_its_instructions(plugin_path, toy, tmp_path):
    """``toy(n, extra)``: each iteration of either loop is two instructions
    (dec, jnz), so the count grows by 2 per iteration -- the extra loop's
    like the main one's -- within `SLACK`; two processes count the same."""
    args = [[100000, 0], [100000, 50000], [200000, 0], [300000, 0], [100000, 150000]]
    code = COUNT_CALLS.format(root=str(toy["root"]), args=args)
    runs = [run_py(code, plugin_path, tmp_path, TOY_LIB=toy["lib"])[0] for _ in range(2)]
    first, second = runs
    ok = first[:len(args)]
    assert all(r["status"] == "ok" for r in ok), ok
    ins = [r["instructions"] for r in ok]
    assert ins == [r["instructions"] for r in second[:len(args)]]    # run to run: exactly
    base = ins[0]
    assert abs(ins[1] - base - 2 * 50000) <= SLACK, ins       # the extra loop
    assert abs(ins[2] - base - 2 * 100000) <= SLACK, ins
    assert abs(ins[3] - base - 2 * 200000) <= SLACK, ins
    assert abs(ins[4] - ins[1] - 2 * 100000) <= SLACK, ins
    # the call without its loops is small: ctypes' conversion and call
    assert 0 < base - 2 * 100000 < 20000
    w1, w2 = callgrind_weights()
    assert all(r["cost"] == r["instructions"] + w1 * r["l1_misses"] + w2 * r["ll_misses"]
               for r in ok)
    bad_value, raised = first[len(args):]
    assert bad_value["status"] == "error" and "callable to count" in bad_value["message"]
    assert raised["status"] == "error" and "inside the counted call" in raised["message"]


def callgrind_weights():
    sys.path.insert(0, str(PLUGIN_SRC))
    try:
        from asv_bench_cydrop import callgrind
    finally:
        sys.path.remove(str(PLUGIN_SRC))
    return callgrind.L1_WEIGHT, callgrind.LL_WEIGHT


DISCOVER = """
    import json
    from asv_runner.benchmarks import benchmark_types
    from asv_runner._aux import update_sys_path
    from asv_runner.discovery import disc_benchmarks
    update_sys_path(%r)
    out = {"types": [t.__module__ + "." + t.__name__ for t in benchmark_types],
           "benchmarks": {b.name: {"type": b.type, "unit": b.unit, "params": b.params,
                                   "param_names": b.param_names,
                                   "rounds": getattr(b, "rounds", None),
                                   "key": b.setup_cache_key,
                                   "cache_timeout": b.setup_cache_timeout}
                          for b in disc_benchmarks(%r)}}
    print(json.dumps(out))
"""


def test_discovered_with_its_parameters(plugin_path, toy, tmp_path):
    bench = str(toy["bench"])
    out, _ = run_py(DISCOVER % (bench, bench), plugin_path, tmp_path)
    assert "asv_bench_cydrop.benchmarks.count.CountBenchmark" in out["types"]
    b = out["benchmarks"]
    t = b["bench_toy.Toy.count_toy"]
    assert t["type"] == "count" and t["unit"] == "count" and t["rounds"] == 1
    assert t["param_names"] == ["n", "mode", "flavour", "count"]
    assert t["params"] == [["100000", "300000"], ["'run'", "'skip'"], ["'a'", "'b'"],
                           ["'instructions'", "'cost'"]]
    # one setup_cache (one valgrind process per environment) for the class
    assert t["key"] == b["bench_toy.Toy.count_twice"]["key"] == "count:bench_toy.Toy"
    assert t["cache_timeout"] == 900
    m = b["bench_toy.count_module_level"]
    assert m["params"] == [["'instructions'", "'cost'"]] and m["key"] == "count:bench_toy.count_module_level"


def _through_asv_runner(bench, names, plugin_path, cwd, env):
    """asv_runner's setup_cache entry point once, then _run for each name
    (with its parameter index), as asv's spawners call them; the results."""
    code = f"""
        import json
        from asv_runner.setup_cache import _setup_cache
        from asv_runner.run import _run
        _setup_cache(({str(bench)!r}, {names[0].split('-')[0]!r}, "{{}}"))
        out = {{}}
        for name in {names!r}:
            _run(({str(bench)!r}, name, "{{}}", "None", "result.json"))
            out[name] = json.load(open("result.json"))
        print(json.dumps(out))
    """
    return run_py(code, plugin_path, cwd, **env)


def _index(n, mode, flavour, figure):
    axes = [[100000, 300000], ["run", "skip"], ["a", "b"], ["instructions", "cost"]]
    i = 0
    for axis, v in zip(axes, (n, mode, flavour, figure)):
        i = i * len(axis) + axis.index(v)
    return i


@needs_valgrind
@x86_64
def test_through_asv_runner(plugin_path, toy, tmp_path):
    """The figures asv records: integers, the environment's effect (50000
    more iterations under "b"), the skip in setup as asv's NaN, count_twice
    twice the calls' own work."""
    names = [f"bench_toy.Toy.count_toy-{_index(n, mode, fl, fig)}"
             for n in (100000, 300000) for mode in ("run", "skip") for fl in ("a", "b")
             for fig in ("instructions", "cost")]
    names += [f"bench_toy.Toy.count_twice-{_index(100000, 'run', 'a', 'instructions')}"]
    out, _ = _through_asv_runner(toy["bench"], names, plugin_path, tmp_path,
                                 {"TOY_LIB": toy["lib"]})

    def get(n, mode, fl, fig, method="count_toy"):
        return out[f"bench_toy.Toy.{method}-{_index(n, mode, fl, fig)}"]

    for fl in ("a", "b"):
        more = get(300000, "run", fl, "instructions") - get(100000, "run", fl, "instructions")
        assert abs(more - 2 * 200000) <= SLACK
        assert math.isnan(get(100000, "skip", fl, "instructions"))
        assert get(100000, "run", fl, "cost") >= get(100000, "run", fl, "instructions")
    more = get(100000, "run", "b", "instructions") - get(100000, "run", "a", "instructions")
    assert abs(more - 2 * 50000) <= SLACK
    assert isinstance(get(100000, "run", "a", "instructions"), int)
    once = get(100000, "run", "a", "instructions")
    twice = get(100000, "run", "a", "instructions", "count_twice")
    assert abs(twice - 2 * once) <= 2 * SLACK + 1000     # + the tuple, a second call's lookup


def test_without_valgrind_skips_with_a_message(plugin_path, toy, tmp_path):
    names = [f"bench_toy.Toy.count_toy-{_index(100000, 'run', 'a', 'instructions')}"]
    out, proc = _through_asv_runner(toy["bench"], names, plugin_path, tmp_path,
                                    {"TOY_LIB": toy["lib"], "ASV_VALGRIND": "/nonexistent/valgrind",
                                     "PATH": "/nonexistent"})
    assert math.isnan(out[names[0]])
    assert "valgrind is not installed" in proc.stdout + proc.stderr


def test_project_suite_counts(plugin_path, tmp_path):
    """bench_count covers the kernels the gate guards, on the avx2 and
    scalar paths (valgrind has no AVX-512), both figures."""
    pytest.importorskip("cydrop")
    out, _ = run_py(DISCOVER % (str(SUITE), str(SUITE)), plugin_path, tmp_path)
    b = out["benchmarks"]
    counts = {n for n in b if n.startswith("bench_count.")}
    assert {"bench_count.Kernels.count_forward", "bench_count.Kernels.count_masked",
            "bench_count.Kernels.count_backward_bool", "bench_count.Kernels.count_backward_packed",
            "bench_count.Kernels.count_backward_recompute", "bench_count.Family.count_channelwise",
            "bench_count.Family.count_alpha", "bench_count.Family.count_float16",
            "bench_count.PerCall.count_one_call", "bench_count.TorchAdapter.count_fwd_bwd"} == counts
    for n in counts:
        assert b[n]["type"] == "count" and b[n]["param_names"][-2:] == ["path", "count"]
        assert b[n]["params"][-1] == ["'instructions'", "'cost'"]
        assert "'avx512'" not in b[n]["params"][-2]
    assert b["bench_count.Kernels.count_forward"]["params"][-2] == ["'avx2'", "'scalar'"]
    assert b["bench_count.PerCall.count_one_call"]["params"][0] == ["16"]
    assert len({b[n]["key"] for n in counts}) == 4      # one valgrind process per class and path
