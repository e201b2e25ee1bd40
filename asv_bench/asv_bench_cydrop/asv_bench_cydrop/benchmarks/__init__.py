"""Benchmark types exported to asv_runner (see `ratio` and `count`)."""
