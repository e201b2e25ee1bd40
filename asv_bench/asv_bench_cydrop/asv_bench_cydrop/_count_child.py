"""The child of `asv_bench_cydrop.callgrind.count_jobs`, run under valgrind:
``python _count_child.py SPEC.json``.

For each job: its setup, its callable, the caches flushed (4 MiB copied),
``warmup`` untimed calls, then one call through the marker (the only events callgrind collects), its teardown.
Region 0 is an empty call through the marker (its own cost).  Writes
``{"regions": [...], "jobs": [...]}`` to the spec's result file: each job's
status and the number of its region (= its callgrind dump, counted from 0).
"""
import ctypes
import gc
import itertools
import json
import sys
import traceback

#: bytes copied before each measurement (4x the simulated last level)
FLUSH_BYTES = 4 << 20


def main(spec_file):
    with open(spec_file) as f:
        spec = json.load(f)
    sys.path[:] = spec["sys_path"]
    lib = ctypes.PyDLL(spec["marker"])
    region = lib.asv_count_call
    region.argtypes = [ctypes.c_void_p]
    region.restype = None
    callback_type = ctypes.CFUNCTYPE(None)
    warmup = int(spec["warmup"])
    regions = []
    # written over before each measured call's warmup: every simulated cache
    # level (1 MiB last level) then holds only this, whatever the jobs before
    # left there, so one job's count does not depend on the others
    flush_src = bytearray(b"\x01") * FLUSH_BYTES
    flush_dst = bytearray(FLUSH_BYTES)

    def measure(fn, label):
        """``fn`` called ``warmup`` times, then once inside the marker."""
        box = {}

        def body():
            try:
                fn()
            except BaseException:       # noqa: B036 - reported, not swallowed
                box["error"] = traceback.format_exc()

        cb = callback_type(body)
        gc.collect()
        enabled = gc.isenabled()
        gc.disable()        # a collection would land in whichever call crossed its threshold
        try:
            flush_dst[:] = flush_src
            for _ in range(warmup):
                fn()
            region(ctypes.cast(cb, ctypes.c_void_p))
        finally:
            if enabled:
                gc.enable()
        regions.append(label)
        return box.get("error")

    measure(lambda: None, "empty call")
    records = []
    for job in spec["jobs"]:
        try:
            records.append(run_job(job, measure, len(regions)))
        except BaseException:       # noqa: B036
            records.append({"status": "error", "message": traceback.format_exc()})
    with open(spec["result"], "w") as f:
        json.dump({"regions": regions, "jobs": records}, f)


def run_job(job, measure, next_region):
    if "call" in job:
        module, _, qualname = job["call"].partition(":")
        obj = __import__(module, fromlist=["_"])
        for part in qualname.split("."):
            obj = getattr(obj, part)
        fn = obj(*job.get("args", []))
        return _measured(fn, job["call"], measure, next_region)
    return _run_benchmark(job, measure, next_region)


def _measured(fn, label, measure, next_region):
    if not callable(fn):
        return {"status": "error",
                "message": f"{label}: a count_ benchmark returns the callable to count, "
                           f"not {fn!r}"}
    error = measure(fn, label)
    if error:
        return {"status": "error", "message": f"{label}: the counted call raised:\n{error}"}
    return {"status": "ok", "region": next_region}


def _run_benchmark(job, measure, next_region):
    """An asv benchmark of the count type, as asv_runner runs one: setups
    (a NotImplementedError skips), the method with the user's parameters,
    teardowns."""
    from asv_runner.discovery import get_benchmark_from_name
    b = get_benchmark_from_name(job["root"], job["benchmark"])
    user = b._params[:b._user_nparams]
    params = next(itertools.islice(itertools.product(*user), job["index"], None))
    if tuple(params) in [tuple(s) for s in b._skip_tuples]:
        return {"status": "skip", "message": "skip_params"}
    try:
        for setup in b._setups:
            setup(*params)
    except NotImplementedError as exc:      # SkipNotImplemented too
        _teardown(b, params)
        return {"status": "skip", "message": str(exc) or repr(exc)}
    try:
        fn = b.func(*params)
        return _measured(fn, f"{job['benchmark']}{tuple(params)!r}", measure, next_region)
    except NotImplementedError as exc:
        return {"status": "skip", "message": str(exc) or repr(exc)}
    finally:
        _teardown(b, params)


def _teardown(b, params):
    for teardown in b._teardowns:
        teardown(*params)


if __name__ == "__main__":
    main(sys.argv[1])
