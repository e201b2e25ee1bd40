"""Smoke tests of ``python -m cydrop bench`` (cydrop._bench) on tiny sizes.

Nothing here checks speed (docs/design.md: speed lives in the bench command and
asv); only that the command runs, prints its table, and writes its plot.
"""
import argparse
import pytest

import cydrop
from cydrop import _bench

TINY = ["--sizes", "1024", "2**6", "--repeat", "3"]


def test_parse_size():
    assert _bench.parse_size("2**20") == 1048576
    assert _bench.parse_size("2^10") == 1024
    assert _bench.parse_size("1048576") == 1048576
    assert _bench.parse_size("1_000") == 1000
    for bad in ("0", "-4", "abc", "2**", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            _bench.parse_size(bad)


def test_defaults():
    parser = argparse.ArgumentParser()
    _bench.add_arguments(parser)
    args = parser.parse_args([])
    assert args.sizes == [2**16, 2**20, 2**22, 2**24]
    assert (args.dtype, args.threads, args.p, args.plot) == ("float32", 1, 0.45, None)


@pytest.mark.parametrize("argv", [["--p", "1"], ["--p", "0"], ["--threads", "0"],
                                  ["--dtype", "int8"], ["--sizes", "0"],
                                  ["--repeat", "0"]])
def test_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        _bench.main(argv)
    assert exc.value.code == 2


def _rows_here():
    torch = _bench._import_torch()
    return [impl for impl in _bench.IMPLS if _bench._runs_here(impl, torch)]


def test_runs_and_prints_table(capsys):
    threads_before = cydrop.get_num_threads()
    assert _bench.main(TINY) == 0
    assert cydrop.get_num_threads() == threads_before  # restored
    text = capsys.readouterr().out
    here = _rows_here()
    for impl in here:
        assert text.count(impl.label) >= 3  # key + one row per size
    for impl in set(_bench.IMPLS) - set(here):   # a SIMD path this CPU lacks, or torch
        assert impl.label not in text
    assert "2**10: fused forward = " in text
    assert "2**6: fused forward = " in text
    assert "numpy ref = " in text
    assert "command    python -m cydrop bench --sizes" in text


@pytest.mark.parametrize("cpu", [["scalar", "avx2"], ["scalar"]], ids=["avx2-only", "no-simd"])
def test_table_on_a_cpu_without_avx512(cpu, monkeypatch, capsys):
    # As on an AMD EPYC with AVX2 only: the bench leaves out the rows of the
    # paths the CPU lacks, and the table test above must hold there too.
    monkeypatch.setattr(cydrop._kernels, "impl_supported", lambda name: name in cpu)
    assert _bench.main(TINY) == 0
    text = capsys.readouterr().out
    for name in cydrop._kernels.IMPLS:
        assert (f"philox words ({name})" in text) == (name in cpu)
    test_runs_and_prints_table(capsys)


def test_subparser_interface(capsys):
    # As cydrop/__main__.py wires it.
    parser = argparse.ArgumentParser(prog="python -m cydrop")
    sub = parser.add_subparsers(dest="command", required=True)
    _bench.add_arguments(sub.add_parser("bench"))
    args = parser.parse_args(["bench", "--dtype", "float64", "--threads", "2",
                              "--p", "0.3", *TINY])
    assert _bench.run(args) == 0
    assert "float64" in capsys.readouterr().out


def test_plot_writes_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "bench.png"
    assert _bench.main([*TINY, "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot written to {png}" in capsys.readouterr().out


def test_plot_without_matplotlib(tmp_path, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("no matplotlib here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    png = tmp_path / "bench.png"
    assert _bench.main([*TINY, "--plot", str(png)]) == 2
    assert not png.exists()
    assert "--plot needs matplotlib" in capsys.readouterr().err


def test_command_line_as_typed(monkeypatch):
    import os

    main_py = os.path.join(os.path.dirname(cydrop.__file__), "__main__.py")
    monkeypatch.setattr("sys.argv", [main_py, "bench", "--sizes", "2**20", "--repeat", "7"])
    args = argparse.Namespace(sizes=[2**20], dtype="float32", threads=1, p=0.45,
                              repeat=7, plot=None)
    assert _bench._command_line(args) == "python -m cydrop bench --sizes '2**20' --repeat 7"
