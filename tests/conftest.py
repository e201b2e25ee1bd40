import gc
import os
import pathlib

import numpy as np
import pytest
from hypothesis import settings

# Hypothesis profiles.  Shared machines: no per-example deadline.
#   ci        the default: a fixed, small number of examples per property test
#             (derandomized, so every run tries the same examples; the fuzz
#             tests in test_fuzz.py come to a few hundred examples in all)
#   thorough  >= 10**4 examples per property test, fresh random examples each
#             run (failures print the seed to reproduce them):
#                 CYDROP_HYPOTHESIS_PROFILE=thorough pytest tests/test_fuzz.py
#             (hypothesis' own --hypothesis-profile=thorough works too)
settings.register_profile("ci", deadline=None, max_examples=60, derandomize=True)
settings.register_profile("thorough", deadline=None, max_examples=10_000,
                          derandomize=False)
settings.load_profile(os.environ.get("CYDROP_HYPOTHESIS_PROFILE", "ci"))

# CYDROP_GC_THRESHOLD=1: a garbage collection at (nearly) every allocation,
# so that finalizers run inside every call (.ci/run's "gc stress" stage)
if os.environ.get("CYDROP_GC_THRESHOLD"):
    gc.set_threshold(int(os.environ["CYDROP_GC_THRESHOLD"]))

DTYPES = [np.float32, np.float64]


def pytest_report_header(config):
    """Which build is under test (CI checks the variant builds by this)."""
    from cydrop import _kernels
    return (f"cydrop: {_kernels.__file__}; OpenMP: {_kernels.HAVE_OPENMP}; Philox paths: "
            f"{_kernels.available_impls()}, active: {_kernels.get_impl()}; "
            f"hypothesis profile: {getattr(settings, '_current_profile', '?')}")


@pytest.fixture(params=DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request):
    return request.param


# the asv plugin's sources (tests/test_asv_plugin.py, tests/test_count_plugin.py)
PLUGIN_SRC = pathlib.Path(__file__).resolve().parent.parent / "asv_bench" / "asv_bench_cydrop"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    """A PYTHONPATH under which asv_runner finds the plugin's distribution."""
    site = tmp_path_factory.mktemp("site")
    info = site / "asv_bench_cydrop-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: asv_bench_cydrop\nVersion: 0.1.0\n")
    return os.pathsep.join([str(PLUGIN_SRC), str(site)])
