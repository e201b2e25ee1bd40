"""The measurements a user runs on their own machine: ``python -m cydrop bench``.

One module per concern (docs/design.md, "Benchmarks: where they live"):

- `cydrop._bench.cli`: the command line (``bench``, ``bench limit``,
  ``bench family``, ``bench training``, ``bench busy``), the one entry point;
- `cydrop._bench.timing`: how a call is timed (medians of samples, paired
  rounds), the CPU's name, the thread limits: the one timing core;
- `cydrop._bench.table`: the speed table's rows, its limit and report;
- `cydrop._bench.plot`: ``--plot`` (matplotlib, imported only then);
- `cydrop._bench.paired`: ``bench limit`` and ``bench family``, ratios in
  paired rounds;
- `cydrop._bench.training`: ``bench training``, an MLP trained with torch's
  and cydrop.torch's Dropout (torch imported when it runs);
- `cydrop._bench.busy`: ``bench busy``, the default thread count against
  one thread with CPU-bound processes running beside.

Only NumPy is required; torch, threadpoolctl and matplotlib are used when
installed (``pip install 'cydrop[bench]'``).
"""
from .cli import add_arguments, main, run

__all__ = ["add_arguments", "main", "run"]
