"""The ``count`` benchmark type: instructions and simulated cache misses of a
call under valgrind (callgrind), the same on every run of the same commit.

A benchmark method whose name starts with ``count_`` takes the benchmark's
parameters (after ``setup`` ran with them) and returns the zero-argument
callable to count::

    class Forward:
        params = [["float32", "float64"], [2**16, 2**20]]
        param_names = ["dtype", "size"]
        count_env = {"avx2": {"CYDROP_SIMD": "avx2"},
                     "scalar": {"CYDROP_SIMD": "scalar"}}
        count_env_name = "path"

        def setup(self, dtype, size):
            self.x = np.ones(size, dtype)
            self.out = np.empty_like(self.x)

        def count_fused(self, dtype, size):
            x, out = self.x, self.out
            return lambda: cydrop.dropout(x, 0.5, seed=1, out=out)

The type adds two parameters after the class's own: the environment
(``count_env_name``, default ``"env"``; one value per key of ``count_env``,
a dict label -> environment variables; absent: no such axis) and ``count``,
the figure reported: ``"instructions"`` (callgrind's ``Ir``) or ``"cost"``
(``Ir + 10 x L1 misses + 100 x LL misses`` on a pinned cache geometry;
`asv_bench_cydrop.callgrind`).  Lower is better, as for times.

How it runs: every ``count_`` benchmark of a class shares one asv
``setup_cache`` (its key: the class), which starts ONE valgrind process per
``count_env`` entry for all of the class's methods and parameter sets (so a
class pays valgrind's start and the imports once per environment, not per
benchmark); inside it each parameter set gets the class's ``setup``, the
method's callable, ``count_warmup`` (default 2) untimed calls, one call
counted -- events are collected only inside that call -- and ``teardown``.
asv's per-benchmark processes then only look their figure up.  The figures
are integers and repeat exactly, so ``rounds`` is 1 and asv compares them by
``--factor`` alone (one sample: no statistics).

``SkipNotImplemented`` (or ``NotImplementedError``) raised by ``setup`` or by
the method skips the parameter set, as ``skip_params`` does; an exception in
the counted call fails it.  ``count_timeout`` (default 900 s) bounds each
valgrind process (asv enforces it on the ``setup_cache`` too).  Without
valgrind (or a C compiler for the marker) every benchmark of the type is
skipped with a message saying so.

valgrind has no AVX-512: a process taking an AVX-512 path dies of SIGILL
under it, so ``count_env`` must pin a path valgrind runs (for cydrop
``CYDROP_SIMD=avx2`` or ``scalar``).
"""
import itertools
import os
import re
import sys

from asv_runner.benchmarks._base import Benchmark, _get_first_attr

from .. import callgrind

#: the figures a count benchmark reports, one parameter value each
FIGURES = ["instructions", "cost"]


def _key(params):
    return tuple(repr(p) for p in params)


class CountBenchmark(Benchmark):
    """asv benchmark type for methods (or functions) named ``count_*``: see
    the module docstring."""

    name_regex = re.compile("^(Count[A-Z_].+)|(count_.+)$")

    def __init__(self, name, func, attr_sources):
        Benchmark.__init__(self, name, func, attr_sources)
        self.type = "count"
        self.unit = "count"
        self.rounds = 1
        self.repeat = 1
        self.number = 1
        self._user_nparams = len(self._params)
        env = _get_first_attr(attr_sources, "count_env", None)
        self._count_env = {str(k): dict(v) for k, v in dict(env).items()} if env else None
        self._params = list(self._params)
        self.param_names = list(self.param_names)
        if self._count_env:
            self._params.append(list(self._count_env))
            self.param_names.append(str(_get_first_attr(attr_sources, "count_env_name", "env")))
        self._params.append(list(FIGURES))
        self.param_names.append("count")
        self.params = [[repr(v) for v in values] for values in self._params]
        self._warmup = int(_get_first_attr(attr_sources, "count_warmup", 2))
        self.setup_cache_timeout = int(_get_first_attr(attr_sources, "count_timeout", 900))
        # one setup_cache (one valgrind process per environment) for every
        # count_ benchmark of the class; a module-level function has its own
        self._prefix, self._methods = self._siblings(name, func)
        self._setup_cache = self._count_all
        self.setup_cache_key = f"count:{self._prefix}"
        self._counts = None

    @classmethod
    def _siblings(cls, name, func):
        owner = getattr(func, "__self__", None)
        if owner is None:
            return name, [name.rsplit(".", 1)[-1]]
        prefix = name.rsplit(".", 1)[0]
        methods = sorted(m for m in dir(type(owner))
                         if cls.name_regex.match(m) and callable(getattr(type(owner), m)))
        return prefix, methods

    def _root(self):
        """The benchmark suite's directory (what asv_runner's discovery was given)."""
        top = self.func.__module__.split(".")[0]
        return os.path.dirname(os.path.abspath(sys.modules[top].__file__))

    def _count_all(self):
        """The setup_cache: every count_ benchmark of the class (or this
        function), every parameter set, every environment, counted."""
        reason = callgrind.unavailable()
        if reason:
            print(f"asv: {reason}", file=sys.stderr)
            return {"unavailable": reason}
        names = [self._prefix] if self._prefix == self.name else [
            f"{self._prefix}.{m}" for m in self._methods]
        combos = list(itertools.product(*self._params[:self._user_nparams]))
        jobs = [{"benchmark": n, "root": self._root(), "index": i}
                for n in names for i in range(len(combos))]
        counts = {}
        for label, env in (self._count_env or {"": {}}).items():
            records = callgrind.count_jobs(jobs, env=env, warmup=self._warmup,
                                           timeout=self.setup_cache_timeout)
            for job, rec in zip(jobs, records):
                counts[(job["benchmark"], _key(combos[job["index"]]), label)] = rec
        return {"counts": counts, "instrument": callgrind.describe()}

    # the setup_cache result is this type's own, not an argument of the
    # class's setup/teardown/method (which run only in the valgrind child)
    def set_cache(self, cache):
        self._counts = cache
        self._current_cache = None

    def insert_param(self, param):      # asv_runner before set_cache
        self._counts = param

    def check(self, root):
        saved = self._params
        self._params = saved[:self._user_nparams]
        key, self.setup_cache_key = self.setup_cache_key, None
        try:
            return Benchmark.check(self, root)
        finally:
            self._params = saved
            self.setup_cache_key = key

    def _record(self):
        params = tuple(self._current_params)
        user = params[:self._user_nparams]
        label = params[self._user_nparams] if self._count_env else ""
        cache = self._counts or {}
        if "unavailable" in cache:
            return {"status": "skip", "message": cache["unavailable"]}
        rec = cache.get("counts", {}).get((self.name, _key(user), label))
        if rec is None:
            raise RuntimeError(f"{self.name}{user!r} [{label}]: no count recorded")
        return rec

    def do_setup(self):
        if tuple(self._current_params[:self._user_nparams]) in self._skip_tuples:
            return True
        rec = self._record()
        if rec["status"] == "skip":
            print(f"asv: skipped: {rec['message']}")
            return True
        return False

    def do_teardown(self):
        pass

    def run(self, *params):
        rec = self._record()
        if rec["status"] != "ok":
            raise RuntimeError(f"{self.name}: {rec['message']}")
        return rec[params[-1]]


export_as_benchmark = [CountBenchmark]
