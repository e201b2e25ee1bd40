"""Smoke tests of ``python -m cydrop bench`` (cydrop._bench) on tiny sizes:
the table, and the subcommands ``limit``, ``family`` and ``training``.

Nothing here checks speed (docs/design.md: speed lives in the bench command and
asv); only that the commands run, print what they promise, and write their
plot, and that the limit they print (max(copy, Philox words on the active
path)) and the ratios to it are the arithmetic of what the run measured: the
table's medians, and in ``bench limit`` the medians of per-round ratios.
"""
import argparse
import pytest

import cydrop
from cydrop._bench import cli, paired, plot, table, timing

TINY = ["--sizes", "1024", "2**6", "--repeat", "3"]


def test_parse_size():
    assert cli.parse_size("2**20") == 1048576
    assert cli.parse_size("2^10") == 1024
    assert cli.parse_size("1048576") == 1048576
    assert cli.parse_size("1_000") == 1000
    for bad in ("0", "-4", "abc", "2**", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            cli.parse_size(bad)


def test_defaults():
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args([])
    assert args.sizes == [2**16, 2**20, 2**22, 2**24]
    assert (args.dtype, args.threads, args.p, args.plot) == ("float32", 1, 0.45, None)


@pytest.mark.parametrize("argv", [["--p", "1"], ["--p", "0"], ["--threads", "0"],
                                  ["--dtype", "int8"], ["--sizes", "0"],
                                  ["--repeat", "0"]])
def test_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2


def _rows_here():
    torch = table._import_torch()
    return [impl for impl in table.IMPLS if table._runs_here(impl, torch)]


def test_runs_and_prints_table(capsys):
    threads_before = cydrop.get_num_threads()
    assert cli.main(TINY) == 0
    assert cydrop.get_num_threads() == threads_before  # restored
    text = capsys.readouterr().out
    here = _rows_here()
    for impl in here:
        assert text.count(impl.label) >= 3  # key + one row per size
    for impl in set(table.IMPLS) - set(here):   # a SIMD path this CPU lacks, or torch
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
    assert cli.main(TINY) == 0
    text = capsys.readouterr().out
    for name in cydrop._kernels.IMPLS:
        assert (f"philox words ({name})" in text) == (name in cpu)
    assert f"limit = max(copy, philox {cpu[-1]}): " in text
    test_runs_and_prints_table(capsys)


# -- the limit: max(copy, Philox words alone on the active path) ---------------

def _capture_results(monkeypatch):
    """The `Results` a run prints (what `_table` receives)."""
    seen = []
    real_table = table._table

    def capture(res):
        seen.append(res)
        return real_table(res)

    monkeypatch.setattr(table, "_table", capture)
    return seen


def _table_rows(text):
    """{(size, label): cells after the label} of the printed table."""
    rows = {}
    labels = sorted((impl.label for impl in table.IMPLS), key=len, reverse=True)
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
    assert cli.main(TINY) == 0
    text = capsys.readouterr().out
    (res,) = seen
    path = cydrop._kernels.get_impl()
    assert res.path == path
    block = text.split(f"limit = max(copy, philox {path}): ", 1)[1].split("\n\n", 1)[0]
    lines = block.splitlines()
    assert lines[1].split() == ["size", "np.copyto", "philox", "words", f"({path})",
                                "limit", "binds"]
    printed = {line.split()[0]: line.split() for line in lines[2:]}
    assert sorted(printed) == sorted(table._size_name(n) for n in res.sizes)
    for n in res.sizes:
        copy, philox = res.seconds[n, "copy"], res.seconds[n, f"philox_{path}"]
        limit = max(copy, philox)
        assert res.limit(n) == limit and res.limit(n, "copy") == copy
        fmt = table._format_time
        cells = printed[table._size_name(n)]
        # "<size> <copy> us <philox> us <limit> us <binds>"
        assert " ".join(cells[1:7]) == f"{fmt(copy)} {fmt(philox)} {fmt(limit)}"
        assert cells[7] == ("philox" if philox > copy else "copy")
        # the summary line quotes the fused forward's ratio to the same limit
        fused = res.seconds[n, "fused"]
        assert (f"{table._size_name(n)}: fused forward = {fused / copy:.1f}x copy, "
                f"{fused / limit:.2f}x limit ({cells[7]} binds)") in text


def test_x_limit_column(monkeypatch, capsys):
    seen = _capture_results(monkeypatch)
    assert cli.main(TINY) == 0
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
            cells = rows[table._size_name(n), impl.label]
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
    impls = [table._BY_KEY[k] for k in ("copy", "fused", "masked", "half", f"philox_{path}")]
    res = table.Results(sizes=[2**10, 2**20], impls=impls, path=path, threads=threads)
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
    rows = _table_rows("\n".join(table._table(res)))
    assert rows["2**20", "cydrop forward"][4:6] == ["3.00x", "1.50x"]
    assert rows["2**10", "cydrop forward"][4:6] == ["1.50x", "1.50x"]
    assert rows["2**20", "cydrop masked scaling"][4:6] == ["1.20x", "1.20x"]
    assert rows["2**20", "cydrop forward float16"][5] == "1.2x"   # ref / cydrop, no x limit
    assert len(rows["2**20", "philox words (avx2)"]) == 5          # no x limit
    block = table._limit_block(res)
    assert block[0].startswith("limit = max(copy, philox avx2): ")
    assert block[2].split() == ["2**10", "4.00", "us", "2.00", "us", "4.00", "us", "copy"]
    assert block[3].split() == ["2**20", "1.00", "ms", "2.00", "ms", "2.00", "ms", "philox"]
    assert len(block) == 4
    assert "one thread's limit" in table._limit_block(_fake_results(threads=2))[-1]


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
    plot.write_plot(res, args.plot, args)
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
    cli.add_arguments(sub.add_parser("bench"))
    args = parser.parse_args(["bench", "--dtype", "float64", "--threads", "2",
                              "--p", "0.3", *TINY])
    assert cli.run(args) == 0
    assert "float64" in capsys.readouterr().out


def test_plot_writes_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "bench.png"
    assert cli.main([*TINY, "--plot", str(png)]) == 0
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
    assert cli.main([*TINY, "--plot", str(png)]) == 2
    assert not png.exists()
    assert "--plot needs matplotlib" in capsys.readouterr().err


def test_command_line_as_typed(monkeypatch):
    import os

    main_py = os.path.join(os.path.dirname(cydrop.__file__), "__main__.py")
    monkeypatch.setattr("sys.argv", [main_py, "bench", "--sizes", "2**20", "--repeat", "7"])
    args = argparse.Namespace(sizes=[2**20], dtype="float32", threads=1, p=0.45,
                              repeat=7, plot=None)
    assert cli.command_line(args) == "python -m cydrop bench --sizes '2**20' --repeat 7"


# -- the timing core: paired rounds ------------------------------------------

def test_paired_rounds_times_every_case_each_round(monkeypatch):
    clock = iter(range(1, 1000))
    monkeypatch.setattr(timing, "best", lambda fn, calls: (fn(), float(next(clock)))[1])
    calls, entered = [], []

    class Around:
        def __enter__(self):
            entered.append(len(calls))

        def __exit__(self, *exc):
            entered.append(-len(calls))

    def cases(r):
        yield "a", lambda: calls.append(("a", r)), 3
        yield "b", lambda: calls.append(("b", r)), 9, Around
        if r == 1:
            yield "c", lambda: calls.append(("c", r)), 1

    t = timing.paired_rounds(cases, 2)
    assert calls == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("c", 1)]
    assert entered == [1, -2, 3, -4]          # around "b" only, left before the next case
    assert t == {"a": [1.0, 3.0], "b": [2.0, 4.0], "c": [5.0]}
    assert timing.ratios(t, "b", "a") == [2.0, 4.0 / 3.0]
    assert timing.ratios(t, "a", [0.5, 1.5]) == [2.0, 2.0]
    assert timing.round_max({"x": [1, 5], "y": [2, 3]}, "x", "y") == [2, 5]
    assert timing.median_range([1.0, 3.0, 2.0]) == " 2.00x  (min 1.00, max 3.00)"


# -- bench limit, bench family (the paired measurements) ----------------------

LIMIT_TINY = ["limit", "--rounds", "2", "--sizes", "2**10", "2**12", "--dtypes", "float32"]


def test_subcommands_parse_beside_the_table_options():
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--sizes", "2**10", "2**12"])
    assert args.bench_command is None and args.sizes == [2**10, 2**12]
    args = parser.parse_args(["limit"])
    assert (args.bench_command, args.rounds, args.sizes, args.dtypes, args.p) == (
        "limit", 9, [2**20, 2**24], ["float32", "float64"], 0.45)
    assert not args.streaming and not args.no_threads
    args = parser.parse_args(["family", "--rounds", "3"])
    assert (args.bench_command, args.rounds) == ("family", 3)
    assert cli.command_line(parser.parse_args(LIMIT_TINY)).startswith(
        "python -m cydrop bench limit --rounds 2 --p 0.45 --dtypes float32 --sizes '2**10' "
        "'2**12'")
    for bad in (["limit", "--rounds", "0"], ["limit", "--sizes", "0"], ["family", "--p", "1"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


BUSY_TINY = ["busy", "--sizes", "2**14", "2**15", "--burners", "0", "1", "--calls", "3"]


def test_busy_parses_and_runs(capsys):
    """``bench busy``: one table per burner count, a row per size with both
    medians, p90s and ratios; the thread setting is restored; the burner
    processes are gone afterwards (they exit when their stdin closes)."""
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["busy"])
    assert (args.sizes, args.burners, args.calls, args.threads) == (
        [2**18, 2**20, 2**22, 2**24], [0, 1, 2], 41, None)
    assert cli.command_line(parser.parse_args(BUSY_TINY)) == (
        "python -m cydrop bench busy --sizes '2**14' '2**15' --burners 0 1 --calls 3"
        "   (equivalent)")
    for bad in (["busy", "--burners", "-1"], ["busy", "--calls", "0"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
    requested = cydrop._kernels.requested_threads()
    assert cli.main(BUSY_TINY) == 0
    assert cydrop._kernels.requested_threads() == requested
    text = capsys.readouterr().out
    assert "0 burner processes" in text and "1 burner process |" in text
    rows = [line.split() for line in text.splitlines() if line.lstrip().startswith("2**1")]
    assert [r[0] for r in rows] == ["2**14", "2**15"] * 2
    assert all(r[-4].endswith("x") and r[-3].endswith("x") for r in rows)
    assert all(r[-2].endswith("%") and r[-1].endswith("%") for r in rows)


def test_limit_runs_and_prints_every_row(capsys):
    threads_before = cydrop.get_num_threads()
    assert cli.main([*LIMIT_TINY, "--streaming"]) == 0
    assert cydrop.get_num_threads() == threads_before  # restored
    text = capsys.readouterr().out
    assert f"philox: {cydrop._kernels.get_impl()} | 1 thread" in text
    for size in ("2**10", "2**12"):
        assert f"float32 {size}: copy " in text
    for label, den in (("fused forward, out=", "limit"), ("fused forward, in place", "limit"),
                       ("masked scaling (bool)", "copy"), ("backward (bool mask)", "copy"),
                       ("backward (bit mask)", "copy"), ("np.multiply(x, 2.0, out=out)", "copy"),
                       ("fused out=, streaming off", "streaming on"),
                       ("masked (bool), streaming off", "streaming on"),
                       ("fused forward, allocating", "allocating limit"),
                       ("masked scaling, allocating", "np.copy"),
                       ("backward (bool), allocating", "np.copy")):
        assert text.count(f"  {label}") == 2, label
        assert all(line.endswith(f") {den}") for line in text.splitlines()
                   if line.startswith(f"  {label}"))
    # the 2-thread rows at the largest size only
    assert text.count("  fused, 2 threads") == 1 and text.count("  np.copyto, 2 threads") == 1
    assert "16-element call cydrop.dropout(x, 0.45): " in text


def test_limit_runs_on_the_threads_asked(capsys):
    threads_before = cydrop.get_num_threads()
    assert cli.main([*LIMIT_TINY, "--threads", "2"]) == 0
    assert cydrop.get_num_threads() == threads_before  # restored
    text = capsys.readouterr().out
    assert f"philox: {cydrop._kernels.get_impl()} | 2 threads" in text
    assert "--threads 2" in text.splitlines()[0]
    assert text.count("  fused forward, allocating") == 2
    assert "  fused, 2 threads" not in text      # the speed-up rows are against 1 thread


def test_limit_ratios_are_medians_of_per_round_ratios(monkeypatch, capsys):
    # made-up per-round times: the limit is max(copy, philox) of each round
    fake = {"copy": [1.0, 1.0, 4.0], "philox": [2.0, 0.5, 1.0],
            "fused": [3.0, 1.5, 4.0], "inplace": [2.0, 1.0, 8.0],
            "masked": [1.5, 2.0, 4.0], "backward": [1.0, 1.0, 1.0],
            "backward_bits": [2.0, 2.0, 2.0], "multiply": [1.0, 1.0, 1.0],
            "copy_new": [2.0, 1.0, 2.0], "fused_new": [4.0, 2.0, 2.0],
            "masked_new": [1.0, 3.0, 2.0], "backward_new": [2.0, 2.0, 2.0]}
    monkeypatch.setattr(paired, "paired_rounds", lambda cases, rounds: fake)
    monkeypatch.setattr(paired, "_small_call", lambda: 1e-6)
    assert cli.main(["limit", "--rounds", "3", "--sizes", "2**10", "--dtypes", "float32",
                     "--no-threads"]) == 0
    rows = {line[2:32].strip(): line[32:].split() for line in capsys.readouterr().out.splitlines()
            if line.startswith("  ")}
    # per round: fused / limit = 3/2, 1.5/1, 4/4 -> median 1.5, range 1.0-1.5
    assert rows["fused forward, out="][2:] == ["1.50x", "(min", "1.00,", "max", "1.50)", "limit"]
    assert rows["fused forward, in place"][2:4] == ["1.00x", "(min"]      # 1, 1, 2
    assert rows["masked scaling (bool)"][2:] == ["1.50x", "(min", "1.00,", "max", "2.00)", "copy"]
    assert rows["backward (bit mask)"][2] == "2.00x"                         # 2, 2, 0.5
    # allocating: fused_new / max(copy_new, philox) = 4/2, 2/1, 2/2 -> 2.0 (1.0-2.0)
    assert rows["fused forward, allocating"][2:] == ["2.00x", "(min", "1.00,", "max", "2.00)",
                                                    "allocating", "limit"]
    assert rows["masked scaling, allocating"][2:4] == ["1.00x", "(min"]      # 0.5, 3, 1
    assert "fused, 2 threads" not in rows


def test_family_runs(capsys):
    assert cli.main(["family", "--rounds", "1"]) == 0
    text = capsys.readouterr().out
    assert "| 1 paired rounds" in text
    # the ratios the family table of docs/guide/performance.md quotes, each once
    labels = ["dropout2d (64,256,32,32) / copy", "dropout2d (4,256,32,32) / copy",
              "float16 / float32 forward, 2**24", "float16 / float32 forward, 2**20",
              "alpha_dropout / forward, 2**24", "alpha_dropout / forward, 2**20",
              "vanilla eval / copy, 2**20",
              "forward / copy, 2**20", "forward / copy, 2**24"]
    assert [line.split(" median ")[0].strip() for line in text.splitlines()
            if " median " in line] == labels


# -- bench training (torch) ---------------------------------------------------

TRAINING_TINY = ["training", "--seeds", "2", "--steps", "12", "--hidden", "32", "--dim", "8",
                 "--train", "256", "--batch", "16"]


def test_training_runs(capsys):
    torch = pytest.importorskip("torch")
    threads = (cydrop.get_num_threads(), torch.get_num_threads())
    assert cli.main(TRAINING_TINY) == 0
    assert (cydrop.get_num_threads(), torch.get_num_threads()) == threads  # restored
    text = capsys.readouterr().out
    assert "command  python -m cydrop bench training --seeds 2 --steps 12" in text
    assert text.count("  seed ") == 2
    assert "held-out loss (eval mode): torch " in text and "paired t = " in text
    # 12 steps, the first 5 of each model left out: 7 per seed, 14 in all
    assert "step time (median of 14 steps each): torch " in text


def test_training_without_torch(monkeypatch, capsys):
    import cydrop._optional

    monkeypatch.setattr(cydrop._optional, "import_torch", lambda: None)
    assert cli.main(TRAINING_TINY) == 2
    assert "needs torch" in capsys.readouterr().err
