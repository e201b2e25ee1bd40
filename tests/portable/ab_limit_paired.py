"""``python -m cydrop bench limit`` on two builds, alternated, as per-round ratios.

    python tests/portable/ab_limit_paired.py BEFORE_TREE AFTER_TREE \
        [--paths scalar avx2 avx512] [--rounds 7] [-- bench limit arguments]

Each round runs ``bench limit`` once per build (in a fresh process, the
build's tree first on PYTHONPATH, CYDROP_SIMD set to the path), the order of
the two alternating from round to round, and forms for every row the ratio
after / before of its ns/elem and of its ratio to the limit (or copy) that
the same process measured; prints the medians of those per-round ratios
with their range, and each build's own ratio to its limit (the median
over the rounds).  Below 1 the after build is faster.  For a change meant to
leave the machine code alone (compare with tests/portable/insn_counts.py
first: identical code is the stronger evidence).

The instrument is the same for both builds: this checkout's
``cydrop/_bench`` package, loaded under another name in each process (so a
tree from before the package existed is timed by the same code), over the
tree's own ``cydrop``.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROW = re.compile(r"^  (\S.*?)\s{2,}([0-9.]+) ns/elem\s+([0-9.]+)x")
HEAD = re.compile(r"^(float\d+ 2\*\*\d+): copy ([0-9.]+) ns/elem, philox ([0-9.]+) ns/word")


# this checkout's bench package as ``cydrop_instrument``, over the tree's cydrop
CHILD = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location(
    "cydrop_instrument", sys.argv[1] + "/__init__.py", submodule_search_locations=[sys.argv[1]])
mod = importlib.util.module_from_spec(spec)
sys.modules["cydrop_instrument"] = mod
spec.loader.exec_module(mod)
import cydrop
assert cydrop.__file__.startswith(sys.argv[2]), (cydrop.__file__, sys.argv[2])
sys.exit(mod.main(["limit", *sys.argv[3:]]))
"""


def run(tree, path, bench, extra):
    env = dict(os.environ, PYTHONPATH=str(tree), CYDROP_SIMD=path)
    out = subprocess.run([sys.executable, "-c", CHILD, str(bench), str(tree.resolve()), *extra],
                         env=env, check=True, capture_output=True, text=True,
                         cwd="/").stdout
    rows, section = {}, ""
    for line in out.splitlines():
        m = HEAD.match(line)
        if m:
            section = m.group(1)
            rows[(section, "np.copyto")] = (float(m.group(2)), None)
            rows[(section, "philox words")] = (float(m.group(3)), None)
            continue
        m = ROW.match(line)
        if m:
            rows[(section, m.group(1))] = (float(m.group(2)), float(m.group(3)))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--paths", nargs="+", default=["scalar", "avx2", "avx512"])
    ap.add_argument("--rounds", type=int, default=7)
    argv = sys.argv[1:]
    extra = ["--rounds", "3", "--no-threads"]
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    args = ap.parse_args(argv)
    args.extra = extra
    bench = Path(__file__).resolve().parents[2] / "cydrop" / "_bench"
    for path in args.paths:
        ns, rel, raw = {}, {}, {"before": {}, "after": {}}
        for r in range(args.rounds):
            order = [("before", args.before), ("after", args.after)]
            if r % 2:
                order.reverse()
            got = {name: run(tree, path, bench, args.extra) for name, tree in order}
            for name in raw:
                for key, (_, value) in got[name].items():
                    if value is not None:
                        raw[name].setdefault(key, []).append(value)
            for key, (a_ns, a_rel) in got["after"].items():
                b_ns, b_rel = got["before"][key]
                ns.setdefault(key, []).append(a_ns / b_ns)
                if a_rel is not None:
                    rel.setdefault(key, []).append(a_rel / b_rel)
        print(f"CYDROP_SIMD={path}: after / before, median of {args.rounds} alternated rounds "
              f"(bench limit {' '.join(args.extra)})")
        for key, v in ns.items():
            line = (f"  {key[0]:14s} {key[1]:30s} ns {statistics.median(v):.3f} "
                    f"({min(v):.2f}-{max(v):.2f})")
            if key in rel:
                w = rel[key]
                line += (f"   x-limit ratio {statistics.median(w):.3f} "
                         f"({min(w):.2f}-{max(w):.2f})   x-limit before "
                         f"{statistics.median(raw['before'][key]):.2f}, after "
                         f"{statistics.median(raw['after'][key]):.2f}")
            print(line)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
