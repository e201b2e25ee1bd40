"""``python -m cydrop bench --plot FILE.png``: the speed table drawn as
elements/s against size, log-log, with the limit as a dashed line.  Needs
matplotlib (imported when a plot is asked for; ``pip install 'cydrop[bench]'``).
"""
from __future__ import annotations

import argparse
import datetime

import numpy as np

import cydrop
from .table import Results, _limit_label, _size_tex, _rate_name
from .timing import cpu_model


_STYLE = {  # kind -> (line style, line width)
    "floor": (":", 2.0),
    "cydrop": ("-", 2.0),
    "reference": ("--", 1.6),
}
_COLORS = {
    "copy": "black",
    "fused": "#1f4e9c", "inplace": "#4a90d9", "masked": "#2a9d8f",
    "backward": "#7cc47c", "recompute": "#6a4c93",
    "torch": "#d62728", "numpy_ref": "#ff7f0e", "numpy_masked": "#c9a227",
    "channel2d": "#17becf", "torch_channel2d": "#e377c2", "alpha": "#8c564b",
    "torch_alpha": "#bcbd22", "vanilla": "#9467bd", "half": "#7f7f7f",
    "torch_adapter": "#00a6a6", "torch_autograd": "#a0522d",
}


def write_plot(res: Results, path: str, args: argparse.Namespace) -> None:
    """Elements/s against size, log-log, one labelled line per row, and the
    limit ``max(copy, philox <active path>)`` as a dashed black line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

    fig = Figure(figsize=(10, 6), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    biggest = max(res.sizes)
    copy = res.seconds[biggest, "copy"]
    # (time at the largest size, rates, style, color, label, draw order)
    lines = []
    for impl in res.impls:
        ls, lw = _STYLE[impl.kind]
        t = res.seconds[biggest, impl.key]
        lines.append((t, [n / res.seconds[n, impl.key] for n in res.sizes], ls, lw,
                      _COLORS.get(impl.key), f"{impl.label}  ({t / copy:.1f}x copy)", 2))
    t = res.limit(biggest)
    # on top of the row it equals (the copy's or the stream's), dashed
    lines.append((t, [n / res.limit(n) for n in res.sizes], "--", 2.4, "black",
                  f"limit {_limit_label(res.path)}  ({t / copy:.1f}x copy)", 3))
    # Legend in the order of the lines at the largest size, fastest on top.
    for t, rate, ls, lw, color, label, z in sorted(lines, key=lambda line: line[0]):
        ax.plot(res.sizes, rate, ls, lw=lw, marker="o" if z == 2 else None, ms=5,
                color=color, label=label, zorder=z)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(FixedLocator(res.sizes))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([_size_tex(n) for n in res.sizes])
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _rate_name(v)))
    ax.yaxis.set_minor_locator(NullLocator())
    if len(res.sizes) == 1:
        ax.set_xlim(res.sizes[0] / 2, res.sizes[0] * 2)
    ax.set_xlabel("array size (elements)")
    ax.set_ylabel("elements per second (higher is better)")
    ax.grid(True, which="major", alpha=0.4)
    threads = f"{args.threads} thread" + ("s" if args.threads != 1 else "")
    fig.suptitle(f"cydrop bench: {args.dtype}, {threads}, p = {args.p}", fontsize=14)
    ax.set_title(f"{cpu_model()} · numpy {np.__version__} · cydrop {cydrop.__version__} · "
                 f"{datetime.date.today().isoformat()} · legend: time / np.copyto at {_size_tex(biggest)}",
                 fontsize=9, color="0.3")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False,
              title="fastest first", fontsize=9)
    fig.savefig(path)

