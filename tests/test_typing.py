"""The typed API: ``mypy --strict`` accepts the README's tour
(tests/typing/tour.py) against cydrop's annotations, the tour runs as
written, and the compiled module's stubs (cydrop/_kernels.pyi) agree with
the module (``mypy.stubtest``).  Skipped where mypy is not installed.

Each check runs in a subprocess of this interpreter: from the source tree
that holds the imported cydrop (so that mypy reads that tree's sources,
and the tree's pyproject.toml configuration, if any), or from a temporary
directory when cydrop is installed (mypy then reads the installed package,
as it does in a user's project).
"""
import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import cydrop

HERE = Path(__file__).resolve().parent
TOUR = HERE / "typing" / "tour.py"
ALLOWLIST = HERE / "typing" / "stubtest-allowlist.txt"

needs_mypy = pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                                reason="mypy is not installed")
# found, not imported: importing torch here would change this process
needs_torch_and_dask = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("dask") is None,
    reason="the tour's cydrop.torch and cydrop.dask parts need torch and dask")


@pytest.fixture(scope="module")
def where(tmp_path_factory):
    """The directory to run in: the source tree of the imported cydrop, or
    a fresh one when it is installed."""
    root = Path(cydrop.__file__).resolve().parent.parent
    if (root / "pyproject.toml").exists():
        return root
    return tmp_path_factory.mktemp("typing")


def _run(args, cwd, timeout=600):
    # mypy's cache outside the tree, kept between runs (a cold run of the
    # tour, torch's stubs included, takes ~20 s, a warm one ~1 s)
    tag = hashlib.sha256(f"{sys.executable}|{cwd}".encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"cydrop-mypy-cache-{tag}"
    env = dict(os.environ, MYPY_CACHE_DIR=str(cache))
    env.pop("MYPYPATH", None)
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


@needs_mypy
@needs_torch_and_dask
def test_tour_passes_mypy_strict(where):
    rc, out = _run(["-m", "mypy", "--strict", str(TOUR)], where)
    assert rc == 0 and "Success: no issues found" in out, out


@needs_mypy
def test_kernel_stubs_match_the_compiled_module(where):
    rc, out = _run(["-m", "mypy.stubtest", "cydrop._kernels", "--allowlist", str(ALLOWLIST)],
                   where)
    assert rc == 0 and "Success: no issues found" in out, out


@needs_torch_and_dask
def test_tour_runs(where):
    rc, out = _run([str(TOUR)], where, timeout=300)
    assert rc == 0 and "tour: ok" in out, out
