"""Build cydrop's compiled kernels.

Environment switches:
  CYDROP_NATIVE=1     add -march=native (the default build runs on any x86-64;
                      SIMD Philox paths are picked at run time either way)
  CYDROP_NO_OPENMP=1  build without OpenMP (kernels then run serially)
  CYDROP_NO_SIMD=1    compile the AVX2/AVX-512 Philox paths out (defines the
                      CYDROP_NO_SIMD macro philox.h honours): only the portable
                      scalar path is built, as on a CPU other than x86-64;
                      cydrop._kernels.impl_supported("avx2") is then False
  CYDROP_SANITIZE=1   AddressSanitizer + UndefinedBehaviorSanitizer build
                      (-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer -O1 -g, also at link).  CPython
                      is not built with ASan, so run with the runtime preloaded:
                        LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
                        ASAN_OPTIONS=detect_leaks=0 \
                        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 pytest
                      (README, "Testing and hardening", has the full command)
  CYDROP_DEBUG=1      bounds checks on, -O0 -g
"""
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext as _build_ext
from Cython.Build import cythonize

HERE = Path(__file__).parent.resolve()
DEBUG = os.environ.get("CYDROP_DEBUG") == "1"
NO_OPENMP = os.environ.get("CYDROP_NO_OPENMP") == "1"
NO_SIMD = os.environ.get("CYDROP_NO_SIMD") == "1"
SANITIZE = os.environ.get("CYDROP_SANITIZE") == "1"
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
                  "-fno-omit-frame-pointer"]

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": DEBUG,
    "embedsignature": True,
}
DEFINES = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if NO_SIMD:
    DEFINES.append(("CYDROP_NO_SIMD", "1"))


def _openmp_flags(compiler):
    """-fopenmp if a test program compiles and links with it, else nothing."""
    if NO_OPENMP or sys.platform == "win32":
        return []
    src = "#include <omp.h>\nint main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }\n"
    with tempfile.TemporaryDirectory() as tmp:
        c = Path(tmp) / "omp_test.c"
        c.write_text(src)
        try:
            objs = compiler.compile([str(c)], output_dir=tmp, extra_postargs=["-fopenmp"])
            compiler.link_executable(objs, "omp_test", output_dir=tmp,
                                     extra_postargs=["-fopenmp"])
        except Exception:  # noqa: BLE001 - any failure means "no OpenMP"
            print("cydrop: compiler has no OpenMP; building serial kernels")
            return []
    return ["-fopenmp"]


class build_ext(_build_ext):
    def build_extensions(self):
        omp = _openmp_flags(self.compiler)
        # -fno-trapping-math: the select "keep ? x * scale : 0" may compute the
        # product for dropped elements too (branch-free, vectorized); no code
        # here reads floating-point exception flags.
        # -ffp-contract=off: x * scale + add (alpha dropout) rounds twice, as
        # torch computes it, also where -march=native offers fma.
        opt = ["-O0", "-g"] if DEBUG else ["-O3", "-fno-trapping-math"]
        opt.append("-ffp-contract=off")
        san = []
        if SANITIZE:
            san = SANITIZE_FLAGS
            if not DEBUG:   # readable stacks, still fast enough for the whole suite
                opt = ["-O1", "-g", "-fno-trapping-math", "-ffp-contract=off"]
        native = ["-march=native"] if os.environ.get("CYDROP_NATIVE") == "1" else []
        flags = opt + native + omp + san
        # no debug info in the module (Python's own CFLAGS carry -g): a
        # 2.7 MB module becomes about 0.5 MB; CYDROP_DEBUG and the sanitizer
        # build keep it for their stacks
        strip = [] if DEBUG or SANITIZE or sys.platform != "linux" else ["-Wl,--strip-debug"]
        for ext in self.extensions:
            ext.extra_compile_args += flags
            # what the build used, readable at run time (_kernels.BUILD_FLAGS):
            # tests and CI check that the default build is portable
            ext.define_macros.append(("CYDROP_BUILD_FLAGS", '"%s"' % " ".join(flags)))
            ext.extra_link_args += omp + san + strip
        super().build_extensions()


extensions = [
    Extension(
        "cydrop._kernels",
        sources=["pyx/_kernels.pyx"],
        include_dirs=[np.get_include(), "pyx"],
        define_macros=DEFINES,
        depends=["pyx/philox.h", "pyx/simd.h", "pyx/bits.h", "pyx/half.h", "pyx/omp_compat.h",
                 "pyx/result_cache.h", "pyx/pool.h",
                 *sorted(str(p.relative_to(HERE)) for p in (HERE / "pyx" / "simd").glob("*.h")),
                 "pyx/_types.pxd", *sorted(str(p.relative_to(HERE)) for p in HERE.glob("pyx/*.pxi")),
                 "cydrop/types.pxd", "cydrop/_kernels.pxd", "cydrop/kernels.pxd"],
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=["pyx", "."],
        compiler_directives=DIRECTIVES,
        annotate=os.environ.get("CYDROP_ANNOTATE") == "1",
    ),
    cmdclass={"build_ext": build_ext},
)
