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


# the functions compiled with target("avx2"/"avx512f"/"f16c") attributes,
# picked at run time: the only places AVX registers or F16C may appear
_TARGETED = ("_avx2", "_avx512", "_f16c")


def test_machine_code_outside_dispatched_functions_is_baseline_x86_64():
    # the flags are one half; the other is what the compiler emitted: an
    # AVX/AVX-512 instruction in any other function would fault on a CPU
    # without it (a test run on a CPU that has it would not notice)
    import platform
    import shutil
    import subprocess

    import pytest
    if platform.machine() != "x86_64" or shutil.which("objdump") is None:
        pytest.skip("objdump on x86-64 needed")
    if "-march" in _kernels.BUILD_FLAGS:
        pytest.skip("a -march build is tuned on purpose")
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", _kernels.__file__],
                          capture_output=True, text=True, check=True).stdout
    if "<cydrop_" not in text:
        # the repaired wheel's module is stripped (auditwheel --strip): no
        # function names to tell the dispatched loops from the rest; the
        # same sources' unstripped build is checked in every other stage
        pytest.skip("a stripped module: no function names")
    offenders, func = set(), None
    for line in text.splitlines():
        if line.endswith(">:"):
            # a clone GCC makes of a function (name.constprop.0, .isra.0,
            # .part.0, .cold) is compiled with that function's target
            func = line.split("<", 1)[1][:-2].split(".", 1)[0]
        elif func and ("%ymm" in line or "%zmm" in line or "%k" in line.split("#")[0]
                       or "vcvtph2ps" in line or "vcvtps2ph" in line):
            if not func.endswith(_TARGETED):
                offenders.add(func)
    assert not offenders, sorted(offenders)
