"""airspeed velocity benchmarks for cydrop (run from ``asv_bench/``)."""
