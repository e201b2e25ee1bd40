"""Two OpenMP runtimes in one process: cydrop's (a wheel vendors libgomp
under a hashed name in ``cydrop.libs``; a source build links the system's
``libgomp.so.1``) and torch's (which ships its own), imported in either
order.  Each library's thread setting must work and cydrop's results stay
bit-identical.  Each order runs in a child process (a broken runtime can
hang or abort)."""
import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

from cydrop import _kernels

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed"),
    pytest.mark.skipif(importlib.util.find_spec("threadpoolctl") is None,
                       reason="threadpoolctl not installed"),
    pytest.mark.skipif(not _kernels.HAVE_OPENMP, reason="built without OpenMP"),
]

SCRIPT = """
import os, sys
first = sys.argv[1]
if first == "torch":
    import torch, cydrop
else:
    import cydrop, torch
import numpy as np
import threadpoolctl

x = np.random.default_rng(0).standard_normal(1 << 20).astype(np.float32)
info = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "openmp"]
paths = sorted({os.path.realpath(i["filepath"]) for i in info})
cydrop.set_num_threads(1)
one = cydrop.dropout(x, 0.3, seed=4)
cydrop.set_num_threads(2)
assert cydrop.get_num_threads() == 2
torch.set_num_threads(1)
assert torch.get_num_threads() == 1
# torch's call may lower cydrop's count in this thread: whenever torch
# was imported first, its libgomp is in the global symbol scope (torch
# loads it RTLD_GLOBAL) and cydrop's OpenMP calls bind to it, vendored
# copy or not -- one OpenMP limit per thread for both, the latest call wins
coupled = cydrop.get_num_threads() == 1
assert np.array_equal(cydrop.dropout(x, 0.3, seed=4), one)
cydrop.set_num_threads(2)                  # ... and cydrop's own call wins back
assert cydrop.get_num_threads() == 2, cydrop.get_num_threads()
two = cydrop.dropout(x, 0.3, seed=4)
assert np.array_equal(one, two)
torch.set_num_threads(2)
assert torch.get_num_threads() == 2
a = torch.randn(512, 512)
ref = (a.double() @ a.double()).float()
assert torch.allclose(a @ a, ref, atol=1e-3)
assert np.array_equal(cydrop.dropout(x, 0.3, seed=4), one)
with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
    assert cydrop.get_num_threads() == 1
    assert torch.get_num_threads() == 1
    assert np.array_equal(cydrop.dropout(x, 0.3, seed=4), one)
assert cydrop.get_num_threads() == 2
vendored = os.path.isdir(os.path.join(os.path.dirname(os.path.dirname(cydrop.__file__)),
                                      "cydrop.libs"))
print("vendored", vendored)
print("coupled", coupled)
for p in paths:
    print("runtime", p)
"""


@pytest.mark.parametrize("first", ["torch", "cydrop"])
def test_both_runtimes_work_in_either_order(tmp_path, first):
    script = tmp_path / "runtimes.py"
    script.write_text(textwrap.dedent(SCRIPT))
    # the libraries' own defaults (the cores): dask.distributed, imported by
    # other tests, sets OMP_NUM_THREADS=1, MKL_NUM_THREADS=1, ... in this
    # process's environment (and torch sets OpenMP's limit from them)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    proc = subprocess.run([sys.executable, str(script), first], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    lines = proc.stdout.splitlines()
    runtimes = [line.split(" ", 1)[1] for line in lines if line.startswith("runtime ")]
    assert runtimes, "threadpoolctl found no OpenMP runtime"
    if "vendored True" in lines:
        # the wheel's libgomp is cydrop's own: two runtimes side by side
        assert any("cydrop.libs" in p for p in runtimes), runtimes
        assert len(runtimes) >= 2, runtimes
