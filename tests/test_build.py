"""The default build is portable: no -march=native unless asked for."""
import os

from cydrop import _kernels


def test_build_flags_recorded():
    assert "-O" in _kernels.BUILD_FLAGS, _kernels.BUILD_FLAGS
    assert "-ffp-contract=off" in _kernels.BUILD_FLAGS


def test_default_build_has_no_native_tuning():
    if os.environ.get("CYDROP_NATIVE") == "1":   # an opt-in build under test
        assert "-march=native" in _kernels.BUILD_FLAGS
    else:
        assert "-march" not in _kernels.BUILD_FLAGS, _kernels.BUILD_FLAGS
