"""Smoke tests of ``python -m cydrop bench`` (cydrop._bench) on tiny sizes.

Nothing here checks speed (docs/design.md: speed lives in the bench command and
asv); only that the command runs, prints its table, and writes its plot, and
that the limit it prints (max(copy, Philox words on the active path)) and the
ratios to it are the arithmetic of the medians the run measured.
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
    # paths the CPU lacks, the limit is taken on the best path it has, and the
    # table test above must hold there too.
    monkeypatch.setattr(cydrop._kernels, "impl_supported", lambda name: name in cpu)
    monkeypatch.setattr(cydrop._kernels, "get_impl", lambda: cpu[-1])
    assert _bench.main(TINY) == 0
    text = capsys.readouterr().out
    for name in cydrop._kernels.IMPLS:
        assert (f"philox words ({name})" in text) == (name in cpu)
    assert f"limit = max(copy, philox {cpu[-1]}): " in text
    test_runs_and_prints_table(capsys)


# -- the limit: max(copy, Philox words alone on the active path) ---------------

def _capture_results(monkeypatch):
    """The `Results` a run prints (what `_table` receives)."""
    seen = []
    real_table = _bench._table

    def table(res):
        seen.append(res)
        return real_table(res)

    monkeypatch.setattr(_bench, "_table", table)
    return seen


def _table_rows(text):
    """{(size, label): cells after the label} of the printed table."""
    rows = {}
    labels = sorted((impl.label for impl in _bench.IMPLS), key=len, reverse=True)
    for line in text.splitlines():
        if not line.startswith("2**"):
            continue
        size, rest = line.split(None, 1)
        label = next((lb for lb in labels if rest.startswith(lb + "  ")), None)
        if label is not None:
            rows[size, label] = rest[len(label):].split()
    return rows


def test_limit_is_max_of_copy_and_active_philox(monkeypatch, capsys):
    seen = _capture_results(monkeypatch)
    assert _bench.main(TINY) == 0
    text = capsys.readouterr().out
    (res,) = seen
    path = cydrop._kernels.get_impl()
    assert res.path == path
    block = text.split(f"limit = max(copy, philox {path}): ", 1)[1].split("\n\n", 1)[0]
    lines = block.splitlines()
    assert lines[1].split() == ["size", "np.copyto", "philox", "words", f"({path})",
                                "limit", "binds"]
    printed = {line.split()[0]: line.split() for line in lines[2:]}
    assert sorted(printed) == sorted(_bench._size_name(n) for n in res.sizes)
    for n in res.sizes:
        copy, philox = res.seconds[n, "copy"], res.seconds[n, f"philox_{path}"]
        limit = max(copy, philox)
        assert res.limit(n) == limit and res.limit(n, "copy") == copy
        fmt = _bench._format_time
        cells = printed[_bench._size_name(n)]
        # "<size> <copy> us <philox> us <limit> us <binds>"
        assert " ".join(cells[1:7]) == f"{fmt(copy)} {fmt(philox)} {fmt(limit)}"
        assert cells[7] == ("philox" if philox > copy else "copy")
        # the summary line quotes the fused forward's ratio to the same limit
        fused = res.seconds[n, "fused"]
        assert (f"{_bench._size_name(n)}: fused forward = {fused / copy:.1f}x copy, "
                f"{fused / limit:.2f}x limit ({cells[7]} binds)") in text


def test_x_limit_column(monkeypatch, capsys):
    seen = _capture_results(monkeypatch)
    assert _bench.main(TINY) == 0
    text = capsys.readouterr().out
    (res,) = seen
    head = next(line for line in text.splitlines() if line.startswith("size   implementation"))
    assert head.split()[:8] == ["size", "implementation", "median", "spread", "ns/elem",
                                "x", "copy", "x"] and head.split()[8] == "limit"
    rows = _table_rows(text)
    kinds = {impl.key: impl.limit for impl in res.impls}
    assert {k for k, v in kinds.items() if v == "stream"} == {
        "fused", "inplace", "recompute", "alpha", "vanilla"}
    assert {k for k, v in kinds.items() if v == "copy"} == {"masked", "backward", "channel2d"}
    for n in res.sizes:
        for impl in res.impls:
            cells = rows[_bench._size_name(n), impl.label]
            # median (2 cells), spread, ns/elem, x copy, then x limit if any
            t = res.seconds[n, impl.key]
            assert cells[4] == f"{t / res.seconds[n, 'copy']:.2f}x"
            if impl.limit is None:   # nothing, or only the ref / cydrop cell
                if impl.versus is None:
                    assert len(cells) == 5, cells
                else:
                    assert cells[5] == f"{t / res.seconds[n, impl.versus]:.1f}x"
                    assert cells[6].startswith("(")
                continue
            ratio = t / res.limit(n, impl.limit)
            assert cells[5] == f"{ratio:.2f}x"
            if impl.limit == "copy":
                assert cells[5] == cells[4]   # its limit is the copy
            else:                             # never above the ratio to the copy
                assert float(cells[5][:-1]) <= float(cells[4][:-1])


def _fake_results(path="avx2", threads=1):
    """Made-up medians: the copy binds at 2**10, the stream at 2**20."""
    impls = [_bench._BY_KEY[k] for k in ("copy", "fused", "masked", "half", f"philox_{path}")]
    res = _bench.Results(sizes=[2**10, 2**20], impls=impls, path=path, threads=threads)
    times = {2**10: dict(copy=4e-6, fused=6e-6, masked=5e-6, half=7e-6),
             2**20: dict(copy=1e-3, fused=3e-3, masked=1.2e-3, half=3.5e-3)}
    times[2**10][f"philox_{path}"] = 2e-6
    times[2**20][f"philox_{path}"] = 2e-3
    for n, row in times.items():
        for key, t in row.items():
            res.seconds[n, key] = t
            res.spread[n, key] = 0.1
    return res


def test_limit_rule_on_known_medians():
    res = _fake_results()
    assert res.limit(2**10) == 4e-6 and res.binds(2**10) == "copy"
    assert res.limit(2**20) == 2e-3 and res.binds(2**20) == "philox"
    assert res.limit(2**20, "copy") == 1e-3
    rows = _table_rows("\n".join(_bench._table(res)))
    assert rows["2**20", "cydrop forward"][4:6] == ["3.00x", "1.50x"]
    assert rows["2**10", "cydrop forward"][4:6] == ["1.50x", "1.50x"]
    assert rows["2**20", "cydrop masked scaling"][4:6] == ["1.20x", "1.20x"]
    assert rows["2**20", "cydrop forward float16"][5] == "1.2x"   # ref / cydrop, no x limit
    assert len(rows["2**20", "philox words (avx2)"]) == 5          # no x limit
    block = _bench._limit_block(res)
    assert block[0].startswith("limit = max(copy, philox avx2): ")
    assert block[2].split() == ["2**10", "4.00", "us", "2.00", "us", "4.00", "us", "copy"]
    assert block[3].split() == ["2**20", "1.00", "ms", "2.00", "ms", "2.00", "ms", "philox"]
    assert len(block) == 4
    assert "one thread's limit" in _bench._limit_block(_fake_results(threads=2))[-1]


def test_plot_draws_the_limit(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    figs = []
    real_savefig = Figure.savefig
    monkeypatch.setattr(Figure, "savefig",
                        lambda self, *a, **k: (figs.append(self), real_savefig(self, *a, **k)))
    res = _fake_results()
    args = argparse.Namespace(sizes=res.sizes, dtype="float32", threads=1, p=0.45,
                              repeat=3, plot=str(tmp_path / "x.png"))
    _bench.write_plot(res, args.plot, args)
    (ax,) = figs[0].axes
    (line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("limit ")]
    assert line.get_label() == "limit max(copy, philox avx2)  (2.0x copy)"
    assert line.get_linestyle() == "--" and line.get_color() == "black"
    assert list(line.get_xdata()) == [2**10, 2**20]
    assert list(line.get_ydata()) == pytest.approx([2**10 / 4e-6, 2**20 / 2e-3])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend.index(line.get_label()) == legend.index("cydrop forward  (3.0x copy)") - 1


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
