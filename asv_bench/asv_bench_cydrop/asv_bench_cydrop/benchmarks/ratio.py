"""The ``ratio`` benchmark type: ``time(function) / time(reference)``
measured in interleaved pairs, one ratio per pair, returned to asv as samples.

A benchmark method whose name starts with ``ratio_`` takes the benchmark's
parameters (after ``setup`` ran with them) and returns a pair of
zero-argument callables ``(function, reference)``::

    class Forward:
        params = [["float32", "float64"], [2**16, 2**20]]
        param_names = ["dtype", "size"]

        def setup(self, dtype, size):
            self.x = np.ones(size, dtype)
            self.out = np.empty_like(self.x)

        def ratio_to_copyto(self, dtype, size):
            x, out = self.x, self.out
            return (lambda: cydrop.dropout(x, 0.5, out=out),
                    lambda: np.copyto(out, x))

A method may also return ``(function, reference, reference2, ...)``: every
reference is timed in every pair, and the pair's ratio is to the slowest of
them in that pair -- ``time / max(references)``, a limit that is the
slower of two things, without choosing one of them once per process.

The type then

1. calls each callable once (lazy allocations, caches), then alternates the
   two for ``warmup_time`` seconds (default 0.1);
2. calibrates, for each callable separately, the number of calls that makes
   one sample last at least ``sample_time`` seconds (default 0.01), unless
   ``number`` is set (``--quick`` sets it to 1);
3. takes pairs of samples, each half the minimum of ``min_of`` (default 3)
   timings, the two callables alternating (f r r f f r: a linear drift of
   the machine hits both alike; the minimum drops time slices lost to other
   processes), and records for each pair
   ``(t_function / n_function) / (t_reference / n_reference)``;
4. stops after ``repeat`` pairs: an int, or ``(min_repeat, max_repeat,
   max_time)`` as for asv's ``time_`` benchmarks; by default at least 10 and
   at most 40 pairs, stopping after 5 s once 10 are in (half of that with
   ``rounds`` > 1, as asv's timing type does; ``--quick`` takes one pair);
5. returns ``{"samples": [ratio, ...], "number": 1}``.

asv's runner (``asv/runner.py``, ``run_benchmark``) stores any result of that
shape as samples and ``asv/results.py`` (``Results.add_result``) computes the
median and its confidence interval from them (``asv_runner.statistics.
compute_stats``); ``asv compare`` / ``asv continuous`` then apply their
Mann-Whitney U test (``asv/_stats.py``, ``is_different``) before the
``--factor`` threshold, as for timings.  ``rounds`` (default 2) runs the
benchmark in that many processes, whose samples asv pools; with
``--interleave-rounds`` the rounds of two commits alternate.

``setup`` and ``teardown`` run once per process around the whole
measurement, as for ``track_`` benchmarks (they are not re-run between
samples, unlike asv's ``time_`` type): the two callables must be repeatable.
``SkipNotImplemented`` (or ``NotImplementedError``) raised by ``setup`` or by
the method skips the parameter set; ``skip_params`` and ``timeout`` work as
for every asv benchmark (the timeout is enforced by asv on the process).
The unit is ``"ratio"``: lower is better, as for times.
"""
import re
import timeit

from asv_runner.benchmarks._base import Benchmark, _get_first_attr

wall_timer = timeit.default_timer

#: upper bound of calls per sample during calibration
MAX_NUMBER = 1 << 24


def calibrate(timer, sample_time):
    """Calls of ``timer``'s statement per sample so that one sample lasts at
    least ``sample_time`` seconds (as asv's timing type: grow by up to 10x
    per step)."""
    number = 1
    while True:
        t = timer.timeit(number)
        if t >= sample_time or number >= MAX_NUMBER:
            return number
        p = 10.0 if t <= 0 else min(10.0, max(1.1, 1.05 * sample_time / t))
        number = min(MAX_NUMBER, max(number + 1, int(p * number)))


def interleaved_ratios(function, reference, *, min_repeat, max_repeat, max_time,
                       sample_time=0.01, warmup_time=0.1, number=0, min_of=1,
                       timer=wall_timer):
    """The measurement of the ratio type, usable on its own: returns
    ``(ratios, number_function, number_reference)``.  Each half of a pair is
    the minimum of ``min_of`` timings, the callables alternating
    (f r r f f r ...).  ``reference`` may be a tuple or list of callables:
    each is timed in every pair like the one reference (f r1 r2 r2 r1 f
    ...), and the pair's ratio is to the slowest of them in that pair
    (``number_reference`` is then a list)."""
    refs = list(reference) if isinstance(reference, (tuple, list)) else [reference]
    tf = timeit.Timer(function, timer=timer)
    trs = [timeit.Timer(r, timer=timer) for r in refs]
    start = wall_timer()
    function()
    for r in refs:
        r()
    while wall_timer() < start + warmup_time:
        function()
        for r in refs:
            r()
    if number and number > 0:
        nf = int(number)
        nrs = [int(number)] * len(refs)
    else:
        nf = calibrate(tf, sample_time)
        nrs = [calibrate(tr, sample_time) for tr in trs]
    ratios = []
    begin = wall_timer()
    min_of = max(1, int(min_of))
    flip = False
    while len(ratios) < max_repeat:
        fs, rs = [], [[] for _ in refs]
        for _ in range(min_of):
            if flip:
                for k in reversed(range(len(refs))):
                    rs[k].append(trs[k].timeit(nrs[k]))
                fs.append(tf.timeit(nf))
            else:
                fs.append(tf.timeit(nf))
                for k in range(len(refs)):
                    rs[k].append(trs[k].timeit(nrs[k]))
            flip = not flip
        slowest = max(min(rs[k]) / nrs[k] for k in range(len(refs)))
        ratios.append((min(fs) / nf) / max(slowest, 1e-12))
        if len(ratios) >= min_repeat and wall_timer() > begin + max_time:
            break
    return ratios, nf, (nrs if isinstance(reference, (tuple, list)) else nrs[0])


class RatioBenchmark(Benchmark):
    """asv benchmark type for methods (or functions) named ``ratio_*``: see
    the module docstring."""

    name_regex = re.compile("^(Ratio[A-Z_].+)|(ratio_.+)$")

    def __init__(self, name, func, attr_sources):
        Benchmark.__init__(self, name, func, attr_sources)
        self.type = "ratio"
        self.unit = "ratio"
        self._attr_sources = attr_sources
        old = int(_get_first_attr(attr_sources, "processes", 2))  # as asv's time type
        self.rounds = int(_get_first_attr(attr_sources, "rounds", old))
        self._load_vars()

    def _load_vars(self):
        # read again after setup and after asv's extra parameters (--quick,
        # -a name=value) were put first among the attribute sources
        src = self._attr_sources
        self.repeat = _get_first_attr(src, "repeat", 0)
        self.number = int(_get_first_attr(src, "number", 0))
        self.sample_time = float(_get_first_attr(src, "sample_time", 0.01))
        self.warmup_time = float(_get_first_attr(src, "warmup_time", -1))
        self.min_of = int(_get_first_attr(src, "min_of", 3))
        self.timer = _get_first_attr(src, "timer", wall_timer)

    def do_setup(self):
        skip = Benchmark.do_setup(self)
        self._load_vars()
        return skip

    def _repeat_limits(self):
        try:
            min_repeat, max_repeat, max_time = self.repeat
        except (TypeError, ValueError):
            if not self.repeat:
                min_repeat, max_repeat, max_time = 10, 40, 5.0
                if self.rounds > 1:
                    max_repeat //= 2
                    max_time /= 2.0
            else:
                min_repeat = max_repeat = int(self.repeat)
                max_time = self.timeout if self.timeout is not None else 60.0
        min_repeat, max_repeat = int(min_repeat), int(max_repeat)
        return max(1, min_repeat), max(1, min_repeat, max_repeat), float(max_time)

    def run(self, *param):
        pair = self.func(*param)
        try:
            function, *references = pair
        except (TypeError, ValueError):
            references = ()
        if not references:
            raise TypeError(f"{self.name}: a ratio_ benchmark returns a pair of "
                            f"callables (function, reference), not {pair!r}")
        if not all(callable(c) for c in (function, *references)):
            raise TypeError(f"{self.name}: (function, reference) must be callables")
        reference = references[0] if len(references) == 1 else tuple(references)
        min_repeat, max_repeat, max_time = self._repeat_limits()
        warmup_time = 0.1 if self.warmup_time < 0 else self.warmup_time
        ratios, _, _ = interleaved_ratios(
            function, reference, min_repeat=min_repeat, max_repeat=max_repeat,
            max_time=max_time, sample_time=self.sample_time,
            warmup_time=warmup_time, number=self.number, min_of=self.min_of,
            timer=self.timer)
        return {"samples": ratios, "number": 1}


export_as_benchmark = [RatioBenchmark]
