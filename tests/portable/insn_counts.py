"""Instruction counts of the C loops, one build against another.

    python tests/portable/insn_counts.py BEFORE.so AFTER.so

For every function the dispatch tables point to (cydrop_{fused,keep,words,
bits}_{f32,f64}_{c,sse2,avx2,avx512}) and the Philox fills
(cydrop_philox_fill_*), prints the number of instructions
`objdump -d --no-show-raw-insn` shows in each module, a compiler-made part
(`.part.0`, `.constprop.0`, `.isra.0`, `.cold`) counted with its function,
whether the counts are equal and whether the instruction sequences are
(addresses and offsets blanked: the same code placed elsewhere is the
same).  A function absent from a module (inlined
everywhere, or never referenced, as the plain-C loops are on x86-64 where the
SSE2 ones serve) prints `-`.  The modules must keep their symbols (the
default `setup.py` build strips only debug information).  Both modules should
be built with the same flags: this compares sources, not compilers.

Not a test (the counts depend on the compiler); a tool for a change to the
kernel headers that should not change the code, whose figures go in the
commit message or the review.  Exits 1 when a listed function's count
differs.
"""
import re
import subprocess
import sys

LOOPS = [f"cydrop_{op}_{t}_{isa}"
         for isa in ("c", "sse2", "avx2", "avx512")
         for op in ("fused", "keep", "words", "bits")
         for t in ("f32", "f64")]
FILLS = [f"cydrop_philox_fill_{w}" for w in ("one", "scalar", "avx2", "avx512")]
_CLONE = re.compile(r"\.(part|constprop|isra|cold|lto_priv)(\.\d+)?")


def listing(path):
    """{function: [instruction, ...]} of a module, clones folded into their
    function; addresses and symbol offsets blanked so that code placed
    elsewhere compares equal."""
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", path],
                          capture_output=True, text=True, check=True).stdout
    out, func = {}, None
    for line in text.splitlines():
        if line.endswith(">:"):
            func = _CLONE.sub("", line.split("<", 1)[1][:-2])
            out.setdefault(func, [])
        elif func and re.match(r"^\s+[0-9a-f]+:\t\S", line):
            insn = line.split("\t", 1)[1].split("#")[0]
            insn = _CLONE.sub("", re.sub(r"0x[0-9a-f]+|\b[0-9a-f]{4,}\b|\+0x[0-9a-f]+", "A", insn))
            out[func].append(" ".join(insn.split()))
    return out


def main(argv):
    if len(argv) != 3:
        print(__doc__)
        return 2
    before, after = listing(argv[1]), listing(argv[2])
    names = LOOPS + FILLS
    width = max(map(len, names))
    print(f"{'function':<{width}}  {'before':>7}  {'after':>7}  same count  same code")
    differ = 0
    for name in names:
        b, a = before.get(name), after.get(name)
        nb, na = (len(b) if b is not None else "-"), (len(a) if a is not None else "-")
        differ += nb != na
        print(f"{name:<{width}}  {nb:>7}  {na:>7}  {'yes' if nb == na else 'NO':>10}  "
              f"{'yes' if a == b else 'no':>9}")
    print(f"{len(names) - differ} of {len(names)} equal")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
