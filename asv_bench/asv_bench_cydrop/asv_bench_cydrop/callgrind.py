"""Counting calls under valgrind's callgrind: deterministic instruction and
simulated cache-miss counts of chosen Python calls, the instrument of the
``count`` benchmark type (`asv_bench_cydrop.benchmarks.count`).

One valgrind process runs a list of jobs (`count_jobs`).  Each job names a
callable; the child (``_count_child.py``, run under callgrind) calls it
``warmup`` times, then once more through a marker function of a tiny C
library built here (`build_marker`), ``asv_count_region``.  callgrind runs
with ``--collect-atstart=no --toggle-collect=asv_count_region
--dump-after=asv_count_region``: events are collected only between entering
and leaving the marker, and each measured call leaves a dump of its own.
A first, empty call through the marker measures the marker's own cost (the
ctypes callback into Python, the wrapper's call), which is subtracted from
every job: what remains is the call's own work.

The figures (`figures`):

* ``instructions``: instructions executed (callgrind's ``Ir``);
* ``l1_misses``: simulated first-level misses, instruction and data
  (``I1mr + D1mr + D1mw``);
* ``ll_misses``: simulated last-level misses (``ILmr + DLmr + DLmw``);
* ``cost``: ``instructions + L1_WEIGHT * l1_misses + LL_WEIGHT * ll_misses``.

The cache geometry is pinned (`GEOMETRY`), not read from the machine, so
the figures do not change with the host; valgrind simulates two levels
only.  What makes the counts repeat exactly (docs/design.md, "Counting
benchmarks"): ``PYTHONHASHSEED=0``, a fixed, minimal environment for the
child, no garbage collection during a measured call, one thread.

Environment: ``ASV_VALGRIND`` names the valgrind to run (default: the one
on ``PATH``), ``CC`` the compiler of the marker (default ``cc``);
``ASV_COUNT_KEEP=1`` keeps each run's directory (the spec, the callgrind
dumps: ``callgrind_annotate`` reads them) instead of removing it.

valgrind translates the machine code it runs and has no AVX-512: a process
that takes an AVX-512 path dies of SIGILL under it.  Jobs run on the paths
valgrind can run (cydrop: ``CYDROP_SIMD=avx2`` or ``scalar``).
"""
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile

#: valgrind's cache simulation: (bytes, ways, line bytes) of each level.
#: The first level is this project's machines' (AMD Zen 4: 32 KiB, 8-way,
#: 64-byte lines, for instructions and for data); the last level is one
#: core's private L2 (1 MiB, 8-way), the largest cache a single thread owns
#: on a shared machine.  See docs/design.md, "Counting benchmarks".
GEOMETRY = {"I1": (32768, 8, 64), "D1": (32768, 8, 64), "LL": (1048576, 8, 64)}

#: weights of a simulated first-level and last-level miss in ``cost``
#: (an instruction weighs 1)
L1_WEIGHT = 10
LL_WEIGHT = 100

#: the marker function: events are collected only inside it
MARKER = "asv_count_region"

MARKER_SOURCE = r"""
/* asv_bench_cydrop's counting marker: callgrind collects events only inside
   asv_count_region (--toggle-collect).  Python calls asv_count_call through
   ctypes; the region is entered by an ordinary C call from there (a call
   straight from libffi's trampoline is not seen as a call by callgrind). */
__attribute__((noinline)) void asv_count_region(void (*fn)(void))
{
    fn();
    __asm__ volatile("" ::: "memory");   /* no tail call */
}

void asv_count_call(void (*fn)(void))
{
    asv_count_region(fn);
    __asm__ volatile("" ::: "memory");
}
"""

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_count_child.py")


class CountError(RuntimeError):
    """The valgrind child failed, or its dumps do not match its calls."""


def valgrind():
    """The valgrind executable (``ASV_VALGRIND`` or the one on ``PATH``), or None."""
    exe = os.environ.get("ASV_VALGRIND") or shutil.which("valgrind")
    return exe if exe and os.access(exe, os.X_OK) else None


def unavailable():
    """Why counting cannot run here (a message), or None if it can."""
    exe = valgrind()
    if exe is None:
        return ("valgrind is not installed (apt-get install valgrind, or set "
                "ASV_VALGRIND): the count benchmarks are skipped")
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True,
                             timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{exe} --version failed ({exc!r}): the count benchmarks are skipped"
    if out.returncode != 0 or not out.stdout.startswith("valgrind"):
        return f"{exe} --version failed: the count benchmarks are skipped"
    try:
        build_marker()
    except CountError as exc:
        return f"{exc}: the count benchmarks are skipped"
    return None


def build_marker():
    """Path of the marker library, compiled once per source text and user
    (with ``$CC`` or ``cc``) into the temporary directory."""
    digest = hashlib.sha256(MARKER_SOURCE.encode()).hexdigest()[:12]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    where = os.path.join(tempfile.gettempdir(), f"asv-count-marker-{uid}")
    lib = os.path.join(where, f"marker-{digest}.so")
    if os.path.exists(lib):
        return lib
    os.makedirs(where, exist_ok=True)
    cc = os.environ.get("CC") or "cc"
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        src = os.path.join(tmp, "marker.c")
        with open(src, "w") as f:
            f.write(MARKER_SOURCE)
        so = os.path.join(tmp, "marker.so")
        try:
            proc = subprocess.run([cc, "-O1", "-fno-optimize-sibling-calls", "-shared",
                                   "-fPIC", "-o", so, src],
                                  capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.SubprocessError) as exc:
            raise CountError(f"no C compiler for the counting marker ({cc}: {exc!r})") from None
        if proc.returncode != 0:
            raise CountError(f"the counting marker did not compile ({cc}): {proc.stderr.strip()}")
        os.replace(so, lib)     # atomic: a concurrent build finds a whole file
    return lib


def callgrind_args(out_file):
    """valgrind's arguments before the program (pinned geometry, collection
    inside the marker only, one dump per measured call).  Instrumentation
    stays on from the start: switching it off for the imports
    (``--instr-atstart=no`` and callgrind's client requests) ran them 3-4x
    faster but left the dumps' totals carrying costs of earlier parts."""
    geo = [f"--{level}={','.join(map(str, GEOMETRY[level]))}" for level in ("I1", "D1", "LL")]
    return ["--tool=callgrind", "--collect-atstart=no", f"--toggle-collect={MARKER}",
            f"--dump-after={MARKER}", "--cache-sim=yes", *geo, "--dump-instr=no",
            "--compress-strings=no", "--compress-pos=no", f"--callgrind-out-file={out_file}"]


def child_environment(extra=None):
    """The child's whole environment: fixed and minimal (the stack, and so
    where everything lies, depends on its size), ``PYTHONHASHSEED=0``, plus
    ``extra``."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONHASHSEED": "0",
           "LC_ALL": "C", "HOME": tempfile.gettempdir(), "OMP_NUM_THREADS": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}
    for name in ("LD_LIBRARY_PATH",):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update({str(k): str(v) for k, v in (extra or {}).items()})
    return env


EVENTS = ("Ir", "Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw")


def parse_dump(path):
    """``{event: count}`` of one callgrind dump (its ``totals:`` line
    against its ``events:`` line)."""
    events = total = None
    with open(path) as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("totals:"):
                total = [int(v) for v in line.split()[1:]]
    if events is None or total is None:
        raise CountError(f"{path}: not a callgrind dump (no events or totals)")
    total += [0] * (len(events) - len(total))
    return dict(zip(events, total))


def figures(events):
    """The benchmark figures of a dump's events (see the module docstring)."""
    ev = {e: int(events.get(e, 0)) for e in EVENTS}
    l1 = ev["I1mr"] + ev["D1mr"] + ev["D1mw"]
    ll = ev["ILmr"] + ev["DLmr"] + ev["DLmw"]
    return {"instructions": ev["Ir"], "l1_misses": l1, "ll_misses": ll,
            "cost": ev["Ir"] + L1_WEIGHT * l1 + LL_WEIGHT * ll}


def _dump_number(name, base):
    tail = name[len(base) + 1:]
    return int(tail) if name.startswith(base + ".") and tail.isdigit() else None


def count_jobs(jobs, env=None, warmup=2, timeout=900, python=None):
    """Run ``jobs`` in one valgrind process; a list of one record per job.

    A job is a dict, either ``{"benchmark": NAME, "root": DIR, "index": I}``
    (an asv benchmark of this type: its setup, its method's callable for
    user-parameter set ``I``, its teardown) or ``{"call": "MODULE:QUALNAME",
    "args": [...]}`` (a function returning the callable to count).  A record
    is ``{"status": "ok", "instructions": ..., "l1_misses": ...,
    "ll_misses": ..., "cost": ..., "raw": {event: count}}``, or ``{"status":
    "skip" | "error", "message": ...}``.  ``env``: variables added to the
    child's fixed environment (`child_environment`)."""
    exe = valgrind()
    if exe is None:
        raise CountError("valgrind is not installed")
    marker = build_marker()
    work = tempfile.mkdtemp(prefix="asv-count-")
    try:
        spec_file = os.path.join(work, "spec.json")
        result_file = os.path.join(work, "result.json")
        out_base = os.path.join(work, "cg.out")
        with open(spec_file, "w") as f:
            json.dump({"sys_path": [p for p in sys.path if p], "marker": marker,
                       "jobs": list(jobs), "warmup": int(warmup),
                       "result": result_file}, f)
        cmd = [exe, *callgrind_args(out_base), python or sys.executable, CHILD, spec_file]
        try:
            proc = subprocess.run(cmd, env=child_environment(env), cwd=work,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CountError(f"valgrind did not finish in {timeout} s: {' '.join(cmd)}") from None
        if proc.returncode != 0 or not os.path.exists(result_file):
            raise CountError(f"valgrind child failed (exit {proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
        with open(result_file) as f:
            records = json.load(f)
        base = os.path.basename(out_base)
        dumps = sorted((n for n in (_dump_number(x, base) for x in os.listdir(work))
                        if n is not None))
        regions = records["regions"]
        if dumps != list(range(1, len(regions) + 1)):
            raise CountError(f"{len(regions)} measured calls but callgrind dumps {dumps}")
        final = parse_dump(out_base)
        if any(final.values()):
            raise CountError(f"events collected outside the measured calls: {final}")
        raw = [parse_dump(f"{out_base}.{n}") for n in dumps]
        counted = [figures(events) for events in raw]
        empty = counted[0]          # region 0: the empty call (the marker's own cost)
        out = []
        for rec in records["jobs"]:
            if rec["status"] != "ok":
                out.append(rec)
                continue
            k = rec["region"]
            fig = {key: counted[k][key] - empty[key] for key in counted[k]}
            out.append({"status": "ok", **fig, "raw": raw[k], "marker": empty})
        return out
    finally:
        if not os.environ.get("ASV_COUNT_KEEP"):
            shutil.rmtree(work, ignore_errors=True)


def describe():
    """One line: the geometry and weights (for logs and the docs)."""
    geo = ", ".join(f"{k} {v[0] // 1024} KiB {v[1]}-way {v[2]} B" for k, v in GEOMETRY.items())
    return (f"callgrind on {platform.machine()}: {geo}; cost = Ir + {L1_WEIGHT} x L1 misses "
            f"+ {LL_WEIGHT} x LL misses")
