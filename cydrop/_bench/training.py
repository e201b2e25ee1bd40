"""``python -m cydrop bench training``: a small training run on the CPU with
torch's ``nn.Dropout`` and with ``cydrop.torch.Dropout``, an MLP on synthetic
regression data, fixed seeds (it was ``benchmarks/torch_training_run.py``).

For each seed, two models with the same initial weights, the same data and
the same minibatch order are trained side by side, their steps interleaved
(one torch step, one cydrop step, ...), so that both see the same machine
load.  Printed: each seed's final held-out loss (eval mode) and mean training
loss over the last 50 steps for both, the paired differences (mean, standard
deviation, paired t statistic), and the median step time of each with their
ratio.  Only the dropout layers differ, so the step-time difference is
dropout's cost inside a real step (matmuls, optimizer and all).

    python -m cydrop bench training --seeds 10      # docs/guide/performance.md's figures
    python -m cydrop bench training --steps 50 --seeds 2   # a quick look

Needs torch (``pip install "cydrop[torch]"``), imported when the run starts;
``--plot`` needs matplotlib.  The first 5 steps of each model (fewer in a
run of 10 steps or less) are left out of the step times as warm-up.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

import cydrop

from .timing import cpu_model, limit_threads


def make_data(torch, seed, n_train, n_test, dim):
    """Targets from a random teacher MLP plus noise."""
    g = torch.Generator().manual_seed(10_000 + seed)
    x = torch.randn(n_train + n_test, dim, generator=g)
    w1 = torch.randn(dim, 128, generator=g) / math.sqrt(dim)
    w2 = torch.randn(128, 1, generator=g) / math.sqrt(128)
    y = torch.tanh(x @ w1) @ w2 + 0.1 * torch.randn(n_train + n_test, 1, generator=g)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def make_model(torch, seed, dropout_cls, dim, hidden, p):
    torch.manual_seed(seed)        # the same initial weights for both variants
    return torch.nn.Sequential(
        torch.nn.Linear(dim, hidden), torch.nn.ReLU(), dropout_cls(p),
        torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), dropout_cls(p),
        torch.nn.Linear(hidden, 1))


def run_seed(torch, seed, args):
    xtr, ytr, xte, yte = make_data(torch, seed, args.train, 2048, args.dim)
    import cydrop.torch
    variants = {"torch": torch.nn.Dropout, "cydrop": cydrop.torch.Dropout}
    models = {k: make_model(torch, seed, cls, args.dim, args.hidden, args.p)
              for k, cls in variants.items()}
    opts = {k: torch.optim.Adam(m.parameters(), lr=args.lr) for k, m in models.items()}
    order = torch.Generator().manual_seed(20_000 + seed)
    torch.manual_seed(30_000 + seed)   # the dropout keys / masks from here on
    losses = {k: [] for k in models}
    times = {k: [] for k in models}
    loss_fn = torch.nn.MSELoss()
    for _ in range(args.steps):
        idx = torch.randint(0, xtr.shape[0], (args.batch,), generator=order)
        xb, yb = xtr[idx], ytr[idx]
        for k in models:
            t0 = time.perf_counter()
            opts[k].zero_grad(set_to_none=True)
            loss = loss_fn(models[k](xb), yb)
            loss.backward()
            opts[k].step()
            times[k].append(time.perf_counter() - t0)
            losses[k].append(loss.item())
    result = {}
    for k, m in models.items():
        m.eval()
        with torch.no_grad():
            test = loss_fn(m(xte), yte).item()
        result[k] = {"test": test, "train_tail": statistics.fmean(losses[k][-50:]),
                     "losses": losses[k], "times": times[k][_warm_up(args.steps):]}
    return result


def _warm_up(steps):
    """Steps left out of the step times: 5, or half of a run of 10 or less."""
    return min(5, steps // 2)


def _sd(values):
    return statistics.stdev(values) if len(values) > 1 else float("nan")


def paired(a, b):
    d = [x - y for x, y in zip(a, b)]
    mean = statistics.fmean(d)
    sd = statistics.stdev(d) if len(d) > 1 else float("nan")
    t = mean / (sd / math.sqrt(len(d))) if len(d) > 1 and sd > 0 else float("nan")
    return mean, sd, t


def run_training(args: argparse.Namespace, command: str) -> int:
    """``python -m cydrop bench training``: see the module docstring."""
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("cydrop bench training: --plot needs matplotlib "
                  "(pip install 'cydrop[bench]')", file=sys.stderr)
            return 2
    from .._optional import import_torch
    torch = import_torch()
    if torch is None:
        print("cydrop bench training: needs torch (pip install 'cydrop[torch]')",
              file=sys.stderr)
        return 2
    with limit_threads(args.threads, torch):
        return _train_and_report(torch, args, command)


def _train_and_report(torch, args, command):
    print("cydrop.torch training run")
    print(f"  command  {command}")
    print(f"  cpu      {cpu_model()} ({os.cpu_count()} logical CPUs); philox path "
          f"{cydrop._kernels.get_impl()}")
    print(f"  versions torch {torch.__version__}, numpy {np.__version__}, cydrop "
          f"{cydrop.__version__}, python {platform.python_version()}")
    print(f"  model    MLP {args.dim}-{args.hidden}-{args.hidden}-1, ReLU, dropout p={args.p} "
          f"after each hidden layer ({args.batch}x{args.hidden} = "
          f"{args.batch * args.hidden} elements each), Adam lr {args.lr}, MSE")
    print(f"  run      {args.seeds} seeds x {args.steps} steps, batch {args.batch}, "
          f"{args.threads} thread(s), steps of the two variants interleaved")
    results = []
    for s in range(args.seeds):
        r = run_seed(torch, s, args)
        results.append(r)
        print(f"  seed {s}: held-out loss torch {r['torch']['test']:.5f}  cydrop "
              f"{r['cydrop']['test']:.5f} | last-50 train loss torch "
              f"{r['torch']['train_tail']:.5f}  cydrop {r['cydrop']['train_tail']:.5f} | "
              f"median step torch {statistics.median(r['torch']['times']) * 1e3:.2f} ms  "
              f"cydrop {statistics.median(r['cydrop']['times']) * 1e3:.2f} ms", flush=True)
    for key, name in (("test", "held-out loss (eval mode)"),
                      ("train_tail", "mean train loss, last 50 steps")):
        a = [r["torch"][key] for r in results]
        b = [r["cydrop"][key] for r in results]
        mean, sd, t = paired(b, a)
        print(f"{name}: torch {statistics.fmean(a):.5f} +- {_sd(a):.5f}, "
              f"cydrop {statistics.fmean(b):.5f} +- {_sd(b):.5f} (mean +- sd "
              f"over seeds); cydrop - torch per seed: {mean:+.5f} +- {sd:.5f}, paired "
              f"t = {t:+.2f} (df {len(a) - 1})")
    tt = [x for r in results for x in r["torch"]["times"]]
    tc = [x for r in results for x in r["cydrop"]["times"]]
    mt, mc = statistics.median(tt), statistics.median(tc)
    print(f"step time (median of {len(tt)} steps each): torch {mt * 1e3:.2f} ms, cydrop "
          f"{mc * 1e3:.2f} ms; cydrop's step = {mc / mt:.3f}x torch's "
          f"({(1 - mc / mt) * 100:.1f}% less)")
    if args.plot:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        fig = Figure(figsize=(8, 4.5), dpi=110, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for k, color in (("torch", "#d62728"), ("cydrop", "#1f4e9c")):
            curves = np.array([r[k]["losses"] for r in results])
            ax.plot(np.median(curves, axis=0), color=color, lw=1.4,
                    label=f"{k} Dropout (median of {len(results)} seeds)")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("training loss (MSE)")
        ax.set_title(f"MLP {args.dim}-{args.hidden}-{args.hidden}-1, p={args.p}, "
                     f"{args.threads} thread(s); step time: torch {mt * 1e3:.1f} ms, "
                     f"cydrop {mc * 1e3:.1f} ms", fontsize=10)
        ax.legend()
        fig.savefig(args.plot)
        print(f"plot written to {args.plot}")
    return 0

