"""The asv benchmark-type plugin ``asv_bench_cydrop`` (asv_bench/asv_bench_cydrop):
discovered by asv_runner as a distribution named ``asv_bench*``, its ``ratio_``
benchmarks run through asv_runner's own child-process entry point
(``asv_runner.run._run``, what asv's spawners call) and return samples.

Each check runs in a fresh interpreter: asv_runner collects the benchmark
types once, when ``asv_runner.benchmarks`` is first imported.  The plugin is
made visible there without installing it: its source directory goes on
``PYTHONPATH`` beside a minimal ``asv_bench_cydrop-*.dist-info`` (what
``importlib.metadata.distributions()``, and so asv_runner, looks for).
Skipped where asv_runner is not installed (``pip install -e ".[bench]"``).
"""
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("asv_runner")

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_SRC = ROOT / "asv_bench" / "asv_bench_cydrop"
SUITE = ROOT / "asv_bench" / "benchmarks"

TOY_SUITE = '''
import os
from asv_runner.benchmarks.mark import SkipNotImplemented


def work(n):
    s = 0
    for i in range(n):
        s += i
    return s


class Toy:
    params = [[200, 800], ["run", "skip_in_setup", "skip_in_method"]]
    param_names = ["n", "mode"]
    repeat = (8, 12, 5.0)
    sample_time = 0.002
    warmup_time = 0.0
    timeout = 33

    def setup(self, n, mode):
        self.log("setup", n, mode)
        if mode == "skip_in_setup":
            raise SkipNotImplemented("skipped in setup")
        self.n = n

    def teardown(self, n, mode):
        self.log("teardown", n, mode)

    def log(self, *what):
        with open(os.environ["TOY_LOG"], "a") as f:
            f.write(" ".join(map(str, what)) + "\\n")

    def ratio_double(self, n, mode):
        if mode == "skip_in_method":
            raise SkipNotImplemented("skipped in the method")
        self.log("ratio", n, mode)
        return (lambda: work(2 * self.n)), (lambda: work(self.n))

    def time_plain(self, n, mode):
        work(n)


class Broken:
    def ratio_not_a_pair(self):
        return 1.0


def ratio_module_level():
    return (lambda: work(300)), (lambda: work(300))


# A made-up clock for Clocked: it moves only when Clocked's callables run.
CLOCK = [0.0]
UNIT = 2.0 ** -20       # made-up seconds per unit of work (exact in binary)


def made_up_clock():
    return CLOCK[0]


class Clocked:
    """ratio_double timed by the ratio type's ``timer`` attribute on a
    made-up clock: each call advances it by its work, so every pair's ratio
    is exactly 2 whatever the machine's load, and only if both callables
    ran, each time divided by its own number of calls (the calibration
    picks 2 calls per sample for the function, 3 for the reference)."""
    params = [800]
    param_names = ["n"]
    repeat = (8, 12, 5.0)
    sample_time = 0.002
    warmup_time = 0.0
    timer = staticmethod(made_up_clock)

    def setup(self, n):
        self.calls = {"function": 0, "reference": 0}
        self.log("setup", n)

    def teardown(self, n):
        self.log("teardown", n, self.calls["function"], self.calls["reference"])

    def log(self, *what):
        with open(os.environ["TOY_LOG"], "a") as f:
            f.write(" ".join(map(str, what)) + "\\n")

    def tick(self, which, work):
        self.calls[which] += 1
        CLOCK[0] += work * UNIT

    def ratio_double(self, n):
        self.log("ratio", n)
        return (lambda: self.tick("function", 2 * n)), (lambda: self.tick("reference", n))
'''


@pytest.fixture(scope="module")
def toy_suite(tmp_path_factory):
    root = tmp_path_factory.mktemp("suite")
    bench = root / "benchmarks"
    bench.mkdir()
    (bench / "__init__.py").write_text("")
    (bench / "bench_toy.py").write_text(TOY_SUITE)
    return bench


def run_py(code, plugin_path, tmp_path, **env):
    full_env = dict(os.environ, PYTHONPATH=plugin_path, TOY_LOG=str(tmp_path / "log"), **env)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full_env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


DISCOVER = """
    import json
    from asv_runner.benchmarks import benchmark_types
    from asv_runner._aux import update_sys_path
    from asv_runner.discovery import disc_benchmarks
    update_sys_path(%r)
    out = {"types": [t.__module__ + "." + t.__name__ for t in benchmark_types],
           "benchmarks": {b.name: {"type": b.type, "unit": b.unit, "params": b.params,
                                   "rounds": getattr(b, "rounds", None),
                                   "timeout": b.timeout}
                          for b in disc_benchmarks(%r)}}
    print(json.dumps(out))
"""


def run_benchmark(bench_dir, name, plugin_path, tmp_path, extra=None):
    """One parameter set through asv_runner's child entry point; its JSON result."""
    result_file = tmp_path / "result.json"
    code = f"""
        import json
        from asv_runner.run import _run
        _run(({str(bench_dir)!r}, {name!r}, {json.dumps(json.dumps(extra or {}))},
              "None", {str(result_file)!r}))
        print(open({str(result_file)!r}).read())
    """
    return run_py(code, plugin_path, tmp_path)


def toy_index(n, mode):
    ns, modes = [200, 800], ["run", "skip_in_setup", "skip_in_method"]
    return ns.index(n) * len(modes) + modes.index(mode)


def test_discovered_as_benchmark_type(plugin_path, toy_suite, tmp_path):
    out = run_py(DISCOVER % (str(toy_suite), str(toy_suite)), plugin_path, tmp_path)
    assert "asv_bench_cydrop.benchmarks.ratio.RatioBenchmark" in out["types"]
    b = out["benchmarks"]
    toy = b["bench_toy.Toy.ratio_double"]
    assert toy["type"] == "ratio" and toy["unit"] == "ratio"
    assert toy["params"] == [["200", "800"], ["'run'", "'skip_in_setup'", "'skip_in_method'"]]
    assert toy["timeout"] == 33 and toy["rounds"] == 2
    assert b["bench_toy.Toy.time_plain"]["type"] == "time"
    assert b["bench_toy.ratio_module_level"]["type"] == "ratio"


PLUGIN_STATE = """
    import json
    from importlib.metadata import PackageNotFoundError, version
    from asv_runner.benchmarks import benchmark_types
    try:
        version("asv_bench_cydrop")
        installed = True
    except PackageNotFoundError:
        installed = False
    print(json.dumps([sorted(t.__name__ for t in benchmark_types), installed]))
"""


def test_without_plugin_no_ratio_type(tmp_path):
    """With nothing on PYTHONPATH, asv_runner has the ratio type exactly when
    the plugin's distribution is installed in the interpreter (as in CI's asv
    stage), and not otherwise; both looked up in the same child process."""
    types, installed = run_py(PLUGIN_STATE, "", tmp_path)
    assert "TimeBenchmark" in types, types     # the listing is asv_runner's own
    assert ("RatioBenchmark" in types) == installed, (types, installed)


def test_returns_one_ratio_per_pair_as_samples(plugin_path, toy_suite, tmp_path):
    """Twice the work gives ratios of 2, function over reference, one per
    pair; timed on the benchmark's made-up clock (Clocked), so the machine's
    load cannot move them."""
    res = run_benchmark(toy_suite, "bench_toy.Clocked.ratio_double-0", plugin_path, tmp_path)
    assert set(res) == {"samples", "number"} and res["number"] == 1
    samples = res["samples"]
    assert 8 <= len(samples) <= 12
    assert all(isinstance(s, float) for s in samples)
    assert samples == pytest.approx([2.0] * len(samples), rel=1e-12), samples
    log = (tmp_path / "log").read_text().splitlines()
    assert log[:2] == ["setup 800", "ratio 800"] and len(log) == 3
    word, n, n_function, n_reference = log[2].split()
    assert (word, n) == ("teardown", "800")
    # each sample is the minimum of min_of=3 timings of each callable
    assert int(n_function) >= 3 * len(samples) and int(n_reference) >= 3 * len(samples)


def test_params_reach_setup_and_method(plugin_path, toy_suite, tmp_path):
    run_benchmark(toy_suite, f"bench_toy.Toy.ratio_double-{toy_index(200, 'run')}",
                  plugin_path, tmp_path)
    assert (tmp_path / "log").read_text().splitlines() == [
        "setup 200 run", "ratio 200 run", "teardown 200 run"]


@pytest.mark.parametrize("mode", ["skip_in_setup", "skip_in_method"])
def test_skip(plugin_path, toy_suite, tmp_path, mode):
    res = run_benchmark(toy_suite, f"bench_toy.Toy.ratio_double-{toy_index(200, mode)}",
                        plugin_path, tmp_path)
    assert isinstance(res, float) and math.isnan(res)  # what asv records as skipped
    log = (tmp_path / "log").read_text().splitlines()
    assert log[0] == f"setup 200 {mode}" and log[-1] == f"teardown 200 {mode}"
    assert f"ratio 200 {mode}" not in log


def test_quick_takes_one_pair(plugin_path, toy_suite, tmp_path):
    # what `asv run --quick` passes: one call each, one pair
    extra = {"number": 1, "repeat": 1, "warmup_time": 0, "rounds": 1}
    res = run_benchmark(toy_suite, "bench_toy.ratio_module_level", plugin_path, tmp_path, extra)
    assert res["number"] == 1 and len(res["samples"]) == 1


def test_not_a_pair_fails(plugin_path, toy_suite, tmp_path):
    result_file = tmp_path / "r.json"
    code = f"""
        from asv_runner.run import _run
        _run(({str(toy_suite)!r}, "bench_toy.Broken.ratio_not_a_pair", "{{}}", "None",
              {str(result_file)!r}))
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          env=dict(os.environ, PYTHONPATH=plugin_path), cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "pair of callables" in proc.stderr


def test_max_time_bounds_a_run(plugin_path, tmp_path):
    out = run_py("""
        import json, time
        from asv_bench_cydrop.benchmarks.ratio import interleaved_ratios
        t = time.perf_counter()
        r, nf, nr = interleaved_ratios(lambda: sum(range(500)), lambda: sum(range(500)),
                                       min_repeat=3, max_repeat=10**6, max_time=0.3,
                                       sample_time=0.002, warmup_time=0)
        print(json.dumps([len(r), time.perf_counter() - t, nf, nr]))
    """, plugin_path, tmp_path)
    n, elapsed, nf, nr = out
    assert n >= 3 and elapsed < 5 and nf > 1 and nr > 1


def test_asv_statistics_apply(plugin_path, toy_suite, tmp_path):
    """The samples go through asv's own statistics, as asv's Results does."""
    from asv_runner.statistics import compute_stats
    res = run_benchmark(toy_suite, f"bench_toy.Toy.ratio_double-{toy_index(800, 'run')}",
                        plugin_path, tmp_path)
    value, stats = compute_stats(res["samples"], res["number"])
    assert stats["repeat"] == len(res["samples"])
    assert stats["ci_99_a"] <= value <= stats["ci_99_b"]


def test_project_suite_ratios(plugin_path, tmp_path):
    """The project's bench_ratio benchmarks are all of the ratio type."""
    pytest.importorskip("cydrop")
    out = run_py(DISCOVER % (str(SUITE), str(SUITE)), plugin_path, tmp_path)
    b = out["benchmarks"]
    ratios = {n for n in b if n.startswith("bench_ratio.")}
    assert {"bench_ratio.Forward.ratio_to_copyto", "bench_ratio.Forward.ratio_to_numpy_reference",
            "bench_ratio.Masked.ratio_masked_to_copyto", "bench_ratio.Backward.ratio_backward_to_copyto",
            "bench_ratio.Torch.ratio_to_torch", "bench_ratio.Limit.ratio_forward_to_limit",
            "bench_ratio.AdapterToTorch.ratio_forward_to_torch",
            "bench_ratio.AdapterToTorch.ratio_fwd_bwd_to_torch",
            "bench_ratio.Allocating.ratio_forward_alloc_to_limit",
            "bench_ratio.Allocating.ratio_masked_alloc_to_copy",
            "bench_ratio.Allocating.ratio_backward_alloc_to_copy",
            "bench_ratio.AdapterAllocating.ratio_forward_alloc_to_limit",
            "bench_ratio.Half.ratio_float16_to_float32",
            "bench_ratio.Alpha.ratio_alpha_to_forward",
            "bench_ratio.VanillaEval.ratio_vanilla_eval_to_copyto"} <= ratios
    assert b["bench_ratio.Limit.ratio_forward_to_limit"]["params"] == [
        ["'float32'", "'float64'"], ["1048576", "16777216"]]
    for name in ("ratio_forward_to_torch", "ratio_fwd_bwd_to_torch"):   # issue 23's sizes
        assert b[f"bench_ratio.AdapterToTorch.{name}"]["params"] == [
            ["1024", "4096", "65536", "1048576"]]
    assert all(b[n]["type"] == "ratio" and b[n]["unit"] == "ratio" for n in ratios)
    assert not [n for n in b if ".track_ratio" in n]
    assert {"bench_track.KeepRate.track_keep_rate"} <= set(b)


def test_busy_machine_benchmarks(plugin_path, tmp_path):
    """bench_threads.BusyMachine (issue 23's busy machine): its ratio and its
    p90 track are listed with the burner counts and sizes, and one parameter
    set with a burner runs through asv_runner's child entry point, the burner
    started in setup and gone after teardown."""
    pytest.importorskip("cydrop")
    out = run_py(DISCOVER % (str(SUITE), str(SUITE)), plugin_path, tmp_path)
    b = out["benchmarks"]
    ratio = b["bench_threads.BusyMachine.ratio_default_to_one_thread"]
    track = b["bench_threads.BusyMachine.track_p90_ratio"]
    assert ratio["type"] == "ratio" and ratio["unit"] == "ratio"
    assert track["type"] == "track" and track["unit"] == "ratio"
    assert ratio["params"] == track["params"] == [["0", "1", "2"],
                                                  ["262144", "1048576", "16777216"]]
    quick = {"number": 1, "repeat": 1, "warmup_time": 0, "rounds": 1}
    index = 1 * 3 + 0           # one burner, 2**18
    res = run_benchmark(SUITE, f"bench_threads.BusyMachine.ratio_default_to_one_thread-{index}",
                        plugin_path, tmp_path, quick)
    assert len(res["samples"]) == 1 and res["samples"][0] > 0
    res = run_benchmark(SUITE, f"bench_threads.BusyMachine.track_p90_ratio-{index}",
                        plugin_path, tmp_path)
    assert res > 0
    alive = run_py(f"""
        import json, sys
        sys.path.insert(0, {str(SUITE.parent)!r})
        from benchmarks.bench_threads import BusyMachine
        b = BusyMachine()
        b.setup(2, 2**18)
        running = [p.poll() is None for p in b.burners]
        b.teardown(2, 2**18)
        print(json.dumps([running, [p.poll() is not None for p in b.burners]]))
    """, plugin_path, tmp_path)
    assert alive == [[True, True], [True, True]]     # running in setup, gone after teardown


def test_limit_reference_is_the_slower_of_copy_and_philox(plugin_path, tmp_path):
    """`bench_ratio.Limit` hands the ratio type both halves of its limit, the
    copy and the Philox words alone on the active path, and the type divides
    each pair by the slower of the two in that pair (a made-up clock:
    nothing timed): no reference is chosen once per process, which made the
    float64 2**20 ratio bimodal.  `slower_of` (still the allocating
    benchmarks' choice) picks the larger median."""
    pytest.importorskip("cydrop")
    out = run_py(f"""
        import json, sys
        import numpy as np
        sys.path.insert(0, {str(SUITE.parent)!r})
        from benchmarks import bench_ratio
        from cydrop import _kernels
        from asv_bench_cydrop.benchmarks.ratio import interleaved_ratios

        clock = [0.0]
        def costs(*seconds):
            it = iter(seconds)
            def call():
                clock[0] += next(it)
            return call
        # one untimed call, then 5 timed ones each: medians 1 and 3, means 4.8 and 3
        a = costs(0, 1, 20, 1, 1, 1)
        b = costs(0, 3, 3, 3, 3, 3)
        picked = bench_ratio.slower_of({{"a": a, "b": b}}, timer=lambda: clock[0])[0]

        # the function costs 6; the references take turns being the slower
        # (2 or 4, 3 or 1): every pair's ratio is 6 / 4 or 6 / 3
        def cost(f):
            def call():
                clock[0] += f()
            return call
        turn = {{"r1": 0, "r2": 0}}
        def alternating(name, slow, fast):
            def f():
                turn[name] += 1
                return slow if (turn[name] // 2) % 2 else fast
            return f
        ratios, nf, nr = interleaved_ratios(
            cost(lambda: 6.0), (cost(alternating("r1", 4.0, 2.0)), cost(alternating("r2", 1.0, 3.0))),
            min_repeat=6, max_repeat=6, max_time=0, number=1, min_of=1, warmup_time=0,
            timer=lambda: clock[0])

        lim = bench_ratio.Limit()
        lim.setup("float32", 4096)
        try:
            parts = lim.ratio_forward_to_limit("float32", 4096)
            f, copy, philox = parts
            f()
            copy()
            copied = bool(np.array_equal(lim.out, lim.x))
            philox()
            words = lim.words.copy()
            _kernels.fill_blocks(lim.words, 0, bench_ratio.STREAM_SEED, lim.path)
            same_words = bool(np.array_equal(words, lim.words)) and bool(words.any())
        finally:
            lim.teardown("float32", 4096)
        print(json.dumps([picked, sorted(set(ratios)), nr, len(parts), copied, same_words,
                          lim.path, _kernels.get_impl()]))
    """, plugin_path, tmp_path)
    picked, ratios, nr, nparts, copied, same_words, path, active = out
    assert picked == "b"
    assert set(ratios) <= {1.5, 2.0} and len(ratios) == 2 and nr == [1, 1], ratios
    assert nparts == 3 and copied and same_words and path == active


def test_suite_does_not_import_the_cli_instrument():
    """asv measures every commit with the suite of the checkout it runs from:
    the suite must not time through ``cydrop._bench`` (the command line's
    instrument, which changes with the commit under test and which older
    commits lack; docs/design.md, "Benchmarks: where they live")."""
    import re

    for path in sorted(SUITE.glob("*.py")) + sorted(PLUGIN_SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"cydrop\._bench|from cydrop import _bench|cydrop\s*\.\s*_bench",
                             text), path
