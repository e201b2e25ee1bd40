"""The command line of ``python -m cydrop bench``: the speed table, and the
other measurements as its subcommands.

    python -m cydrop bench [--sizes N ...] [--dtype D] [--threads T] [--p P]
                           [--repeat R] [--plot FILE.png]     # cydrop._bench.table
    python -m cydrop bench limit [--rounds 9] [--dtypes ...] [--sizes N ...]
                                 [--streaming] [--no-threads]   # cydrop._bench.paired
    python -m cydrop bench family [--rounds 11]                 # cydrop._bench.paired
    python -m cydrop bench training [--seeds 5] [--steps 300] [--plot FILE.png] ...
                                                                # cydrop._bench.training
    python -m cydrop bench busy [--sizes N ...] [--burners 0 1 2] [--calls 41]
                                                                # cydrop._bench.busy

The front end (``cydrop/__main__.py``) calls `add_arguments` on its
``bench`` subparser and `run` with the parsed arguments; `main` does both for
use from Python.  A subcommand's options follow its name.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import sys

DEFAULT_SIZES = (2**16, 2**20, 2**22, 2**24)
DEFAULT_REPEAT = 15
DEFAULT_P = 0.45


def parse_size(text: str) -> int:
    """An element count: ``1048576``, ``1_048_576``, ``2**20`` or ``2^20``."""
    s = str(text).strip()
    m = re.fullmatch(r"(\d+)\s*(?:\*\*|\^)\s*(\d+)", s)
    try:
        n = int(m.group(1)) ** int(m.group(2)) if m else int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: give an element count such as 1048576 or 2**20") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: it must be at least 1")
    if m and int(m.group(2)) > 40:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: too large")
    return n


def size_name(n: int) -> str:
    """``2**20`` for a power of two, else the count: what `parse_size` reads."""
    return f"2**{n.bit_length() - 1}" if n & (n - 1) == 0 else str(n)


def _probability(text: str) -> float:
    try:
        p = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid p {text!r}: not a number") from None
    if not 0.0 < p < 1.0:
        raise argparse.ArgumentTypeError(f"invalid p {text!r}: the bench needs 0 < p < 1")
    return p


def int_at_least(minimum: int):
    """An argparse type: an integer of at least ``minimum``."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: not an integer") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(
                f"invalid value {text!r}: it must be at least {minimum}")
        return n
    return parse


_positive_int = int_at_least(1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``bench`` options, and its ``limit``, ``family``, ``training``
    and ``busy`` subcommands, to ``parser``."""
    parser.description = (
        "Time cydrop's kernels side by side with torch.nn.functional.dropout, the "
        "NumPy reference x * (np.random.rand(*x.shape) > p) / (1 - p) and "
        "np.copyto (the memory-traffic floor), in one process, and print the "
        "medians as a table of times and ratios.  'limit' and 'family': the "
        "kernels' ratios to their limit and peers, in paired rounds; 'training': "
        "a training run with torch's and cydrop.torch's Dropout; 'busy': default "
        "threads against one thread beside CPU-bound processes.")
    parser.add_argument(
        "--sizes", nargs="+", type=parse_size, default=list(DEFAULT_SIZES), metavar="N",
        help="array sizes in elements, e.g. 2**20 or 1048576 "
             "(default: 2**16 2**20 2**22 2**24)")
    parser.add_argument(
        "--dtype", choices=("float32", "float64"), default="float32",
        help="element type (default: float32)")
    parser.add_argument(
        "--threads", type=_positive_int, default=1,
        help="threads for cydrop (OpenMP), torch and, through threadpoolctl, "
             "every other thread pool in the process (default: 1)")
    parser.add_argument(
        "--p", type=_probability, default=DEFAULT_P,
        help=f"drop probability, 0 < p < 1 (default: {DEFAULT_P})")
    parser.add_argument(
        "--repeat", type=_positive_int, default=DEFAULT_REPEAT,
        help=f"timed samples per row; the table shows their median (default: {DEFAULT_REPEAT})")
    parser.add_argument(
        "--plot", metavar="FILE.png", default=None,
        help="also write a log-log plot of elements/s against size (needs matplotlib)")

    sub = parser.add_subparsers(dest="bench_command", metavar="{limit,family,training,busy}")
    limit = sub.add_parser(
        "limit", help="the kernels against their limit max(copy, philox), paired rounds",
        description="The fused forward, masked scaling and the backward as ratios to "
                    "their limit (max(np.copyto, Philox words alone on the active path), "
                    "or the copy), the out= and the allocating forms, medians of "
                    "per-round ratios, one thread unless --threads.  "
                    "CYDROP_SIMD=scalar|avx2|avx512 selects the Philox path.")
    limit.add_argument("--rounds", type=_positive_int, default=9,
                       help="paired rounds (default: 9)")
    limit.add_argument("--p", type=_probability, default=DEFAULT_P,
                       help=f"drop probability (default: {DEFAULT_P})")
    limit.add_argument("--dtypes", nargs="+", choices=("float32", "float64"),
                       default=["float32", "float64"], help="(default: float32 float64)")
    limit.add_argument("--sizes", nargs="+", type=parse_size, default=[2**20, 2**24],
                       metavar="N", help="array sizes in elements (default: 2**20 2**24)")
    limit.add_argument("--threads", type=_positive_int, default=1,
                       help="threads for cydrop's kernels and the Philox words "
                            "(default: 1; the copies are NumPy's, one thread)")
    limit.add_argument("--no-threads", action="store_true",
                       help="skip the 2-thread rows at the largest size (with --threads 1)")
    limit.add_argument("--streaming", action="store_true",
                       help="also time non-temporal stores forced off against forced on")
    family = sub.add_parser(
        "family", help="dropout2d, float16, alpha, vanilla against their peers, paired rounds",
        description="dropout2d over np.copyto, the float16 forward over the float32 one, "
                    "alpha_dropout over the fused forward, vanilla evaluation over the "
                    "copy: medians of per-round ratios, one thread.")
    family.add_argument("--rounds", type=_positive_int, default=11,
                        help="paired rounds (default: 11)")
    family.add_argument("--p", type=_probability, default=DEFAULT_P,
                        help=f"drop probability (default: {DEFAULT_P})")
    training = sub.add_parser(
        "training", help="an MLP trained with torch's and cydrop.torch's Dropout (needs torch)",
        description="An MLP on synthetic data trained with torch's nn.Dropout and with "
                    "cydrop.torch.Dropout side by side (same weights, batches, "
                    "interleaved steps): held-out and training losses per seed, their "
                    "paired differences, and the median step time of each.")
    for name, default, what in (("seeds", 5, "seeds, one pair of models each"),
                                ("steps", 300, "training steps per model"),
                                ("batch", 256, "minibatch size"),
                                ("hidden", 1024, "width of the two hidden layers"),
                                ("dim", 64, "input features"),
                                ("train", 16384, "training examples"),
                                ("threads", 1, "threads for torch and cydrop")):
        training.add_argument(f"--{name}", type=_positive_int, default=default,
                              help=f"{what} (default: {default})")
    training.add_argument("--p", type=_probability, default=0.3,
                          help="drop probability (default: 0.3)")
    training.add_argument("--lr", type=float, default=1e-3,
                          help="Adam's learning rate (default: 0.001)")
    training.add_argument("--plot", metavar="FILE.png", default=None,
                          help="also plot the training losses (needs matplotlib)")
    from .busy import add_arguments as add_busy
    add_busy(sub)


def main(argv=None) -> int:
    """``python -m cydrop bench`` without the front end: parse ``argv`` and run."""
    parser = argparse.ArgumentParser(prog="python -m cydrop bench")
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run what ``args`` (parsed with `add_arguments`) asks for: the table, or
    a subcommand.  Returns the exit status."""
    command = command_line(args)
    what = getattr(args, "bench_command", None)
    if what == "limit":
        from .paired import run_limit
        return run_limit(args, command)
    if what == "family":
        from .paired import run_family
        return run_family(args, command)
    if what == "training":
        from .training import run_training
        return run_training(args, command)
    if what == "busy":
        from .busy import run_busy
        return run_busy(args, command)
    from .table import run as run_table
    return run_table(args, command)


def command_line(args: argparse.Namespace) -> str:
    """The command as typed when run as ``python -m cydrop ...``; otherwise
    (from Python, e.g. `main`) the equivalent command line."""
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) == "__main__.py" and \
            os.path.basename(os.path.dirname(os.path.abspath(argv0))) == "cydrop":
        return shlex.join(["python", "-m", "cydrop", *sys.argv[1:]])
    what = getattr(args, "bench_command", None)
    parts = ["python", "-m", "cydrop", "bench"]
    if what == "limit":
        parts += ["limit", "--rounds", str(args.rounds), "--p", repr(args.p),
                  "--dtypes", *args.dtypes, "--sizes", *map(size_name, args.sizes),
                  "--threads", str(args.threads)]
        parts += ["--no-threads"] * args.no_threads + ["--streaming"] * args.streaming
    elif what == "family":
        parts += ["family", "--rounds", str(args.rounds), "--p", repr(args.p)]
    elif what == "training":
        parts += ["training"]
        for name in ("seeds", "steps", "batch", "hidden", "dim", "train", "threads"):
            parts += [f"--{name}", str(getattr(args, name))]
        parts += ["--p", repr(args.p), "--lr", repr(args.lr)]
        parts += ["--plot", args.plot] if args.plot else []
    elif what == "busy":
        parts += ["busy", "--sizes", *map(size_name, args.sizes),
                  "--burners", *map(str, args.burners), "--calls", str(args.calls)]
        parts += ["--threads", str(args.threads)] if args.threads is not None else []
    else:
        parts += ["--sizes", *map(size_name, args.sizes), "--dtype", args.dtype,
                  "--threads", str(args.threads), "--p", repr(args.p),
                  "--repeat", str(args.repeat)]
        if args.plot:
            parts += ["--plot", args.plot]
    return shlex.join(parts) + "   (equivalent)"
