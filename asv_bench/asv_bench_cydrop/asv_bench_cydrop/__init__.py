"""asv benchmark-type plugin of cydrop's benchmark suite.

asv_runner (>= 0.1) imports ``<dist>.benchmarks.<module>`` of every installed
distribution whose name starts with ``asv_bench`` and adds the classes listed
in that module's ``export_as_benchmark`` to its benchmark types.  This one
adds `asv_bench_cydrop.benchmarks.ratio.RatioBenchmark` (methods ``ratio_*``:
a function timed against its reference in interleaved pairs) and
`asv_bench_cydrop.benchmarks.count.CountBenchmark` (methods ``count_*``:
instructions and simulated cache misses under valgrind, `callgrind`).
"""
__version__ = "0.1.0"
