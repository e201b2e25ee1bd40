"""Draw the ratio and count benchmarks over commits from asv's stored results, offline.

``asv publish`` writes a site whose JavaScript loads from CDNs: blank without
internet.  This draws the same history into a PNG with matplotlib: one panel
per ratio benchmark (kernel vs peer), one line per parameter set, commits in
commit-date order on the x axis, the median and asv's 99% confidence interval
for each, and the regression threshold (``--factor`` times the baseline
commit's value, dashed) that ``asv continuous --factor`` gates on; points
above it are circled in red.

The count benchmarks (``bench_count``: instructions and cost under
valgrind, the same on every run of a commit) are drawn beside the ratios,
each parameter set relative to its value at the baseline commit (so the
dashed threshold is ``--factor`` itself); their panels say "count / count
at <baseline>".

Run from asv_bench/ (where asv.conf.json is), after ``asv run`` or
``asv continuous`` stored results::

    python plot_history.py                      # -> ratio_history.png
    python plot_history.py -b '^bench_count\.' --factor 1.03 -o counts.png
    python plot_history.py -b '^bench_ratio\\.Forward' --factor 1.2 -o fwd.png
    python plot_history.py --baseline main      # threshold from main's values
"""
import argparse
import itertools
import os
import re
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from asv.config import Config  # noqa: E402
from asv.results import iter_results_for_machine  # noqa: E402
from asv.util import load_json  # noqa: E402


def _git(conf_dir, repo, *args):
    return subprocess.run(["git", "-C", os.path.join(conf_dir, repo), *args],
                          capture_output=True, text=True, check=True).stdout.strip()


def load_history(conf, machine, regex, conf_dir):
    """``{benchmark: {param_label: {commit: (value, lo, hi, n)}}}``, the
    benchmarks' types (``ratio`` or ``count``), and the commits in date order."""
    bench_file = os.path.join(conf.results_dir, "benchmarks.json")
    benchmarks = load_json(bench_file, api_version=2) if os.path.isfile(bench_file) else {}
    benchmarks.pop("version", None)
    rx = re.compile(regex)
    data, dates, types = {}, {}, {}
    for res in iter_results_for_machine(conf.results_dir, machine):
        for key in res.get_all_result_keys():
            if not rx.search(key):
                continue
            if benchmarks and key not in benchmarks:
                continue   # a benchmark the suite no longer has
            kind = benchmarks.get(key, {}).get("type", "ratio")
            if kind not in ("ratio", "count"):
                continue
            types[key] = kind
            params = res.get_result_params(key)
            combos = list(itertools.product(*params)) if params else [()]
            values = res.get_result_value(key, params)
            stats = res.get_result_stats(key, params)
            if not params:
                values, stats = [values], [stats]
            for combo, v, s in zip(combos, values, stats):
                if v is None or v != v:   # failed or skipped
                    continue
                label = ", ".join(p.strip("'") for p in combo) or "-"
                lo = s.get("ci_99_a", v) if s else v
                hi = s.get("ci_99_b", v) if s else v
                n = s.get("repeat", 1) if s else 1
                data.setdefault(key, {}).setdefault(label, {})[res.commit_hash] = (v, lo, hi, n)
                dates[res.commit_hash] = res.date or 0
    commits = sorted(dates, key=lambda c: dates[c])
    return data, types, commits


def resolve(conf_dir, repo, rev):
    try:
        return _git(conf_dir, repo, "rev-parse", rev)
    except subprocess.CalledProcessError:
        sys.exit(f"plot_history: unknown commit {rev!r}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="asv.conf.json")
    ap.add_argument("-m", "--machine", help="asv machine name (default: the only/first one)")
    ap.add_argument("-b", "--bench", default=r"^bench_(ratio|count)\.",
                    help="benchmark regex (default: the ratio and count benchmarks)")
    ap.add_argument("--factor", type=float, default=1.2,
                    help="regression threshold, as asv continuous --factor (default 1.2)")
    ap.add_argument("--baseline", help="commit whose values the threshold is relative "
                    "to (default: the oldest plotted commit)")
    ap.add_argument("-o", "--output", default="ratio_history.png")
    args = ap.parse_args(argv)

    conf = Config.load(args.config)
    conf_dir = os.path.dirname(os.path.abspath(args.config))
    machines = sorted(d for d in os.listdir(conf.results_dir)
                      if os.path.isdir(os.path.join(conf.results_dir, d)))
    if not machines:
        sys.exit(f"plot_history: no results in {conf.results_dir}")
    machine = args.machine or machines[0]
    data, types, commits = load_history(conf, machine, args.bench, conf_dir)
    if not data:
        sys.exit(f"plot_history: no ratio or count results matching {args.bench!r} "
                 f"for {machine}")
    baseline = resolve(conf_dir, conf.repo, args.baseline) if args.baseline else commits[0]

    labels = []
    for c in commits:
        try:
            subject = _git(conf_dir, conf.repo, "log", "-1", "--format=%s", c)[:28]
        except subprocess.CalledProcessError:
            subject = ""
        labels.append(f"{c[:8]}\n{subject}")

    names = sorted(data)
    ncol = 2 if len(names) > 1 else 1
    nrow = (len(names) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(7.5 * ncol, 3.6 * nrow + 0.8),
                             squeeze=False, sharex=True)
    x_of = {c: i for i, c in enumerate(commits)}
    for ax, name in zip(axes.flat, names):
        counted = types.get(name) == "count"
        for j, (label, series) in enumerate(sorted(data[name].items())):
            color = f"C{j % 10}"
            if counted:
                # relative to the baseline commit's count (or the series' first)
                ref = series.get(baseline) or series[min(series, key=lambda c: x_of[c])]
                series = {c: tuple(v / ref[0] for v in vals[:3]) + (vals[3],)
                          for c, vals in series.items()}
            cs = [c for c in commits if c in series]
            xs = [x_of[c] for c in cs]
            ys = [series[c][0] for c in cs]
            err = [[series[c][0] - series[c][1] for c in cs],
                   [series[c][2] - series[c][0] for c in cs]]
            ax.errorbar(xs, ys, yerr=err, marker="o", ms=4, capsize=3, color=color,
                        label=label)
            base = series.get(baseline)
            if base is None and counted:
                base = (1.0,)
            if base is not None:
                limit = base[0] * args.factor
                ax.axhline(limit, color=color, ls="--", lw=0.9, alpha=0.8)
                bad = [(x, y) for x, y in zip(xs, ys) if y > limit]
                if bad:
                    ax.scatter(*zip(*bad), s=140, facecolors="none", edgecolors="red",
                               linewidths=1.8, zorder=5)
        ax.set_title(name.replace("bench_ratio.", "").replace("bench_count.", "count: "),
                     fontsize=10)
        ax.set_ylabel(f"count / count at {baseline[:8]}" if counted
                      else "time ratio (lower is better)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, title="parameters" if counted else "dtype, size",
                  title_fontsize=7, loc="best")
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xticks(range(len(commits)))
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
    fig.suptitle(f"cydrop ratio and count benchmarks on {machine}: median and 99% CI "
                 f"per commit (counts: exact, relative); "
                 f"dashed: {args.factor:g} x the value at {baseline[:8]} "
                 f"(the asv continuous --factor threshold); red circle: above it",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"{args.output}: {len(names)} panels, {len(commits)} commits, machine {machine}")


if __name__ == "__main__":
    main()
