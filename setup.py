"""Build cydrop's compiled kernels.

Environment switches:
  CYDROP_NATIVE=1     add -march=native (the default build runs on any x86-64;
                      SIMD Philox paths are picked at run time either way)
  CYDROP_NO_OPENMP=1  build without OpenMP (kernels then run serially)
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

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": DEBUG,
    "embedsignature": True,
}
DEFINES = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]


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
        opt = ["-O0", "-g"] if DEBUG else ["-O3", "-fno-trapping-math"]
        native = ["-march=native"] if os.environ.get("CYDROP_NATIVE") == "1" else []
        for ext in self.extensions:
            ext.extra_compile_args += opt + native + omp
            ext.extra_link_args += omp
        super().build_extensions()


extensions = [
    Extension(
        "cydrop._kernels",
        sources=["pyx/_kernels.pyx"],
        include_dirs=[np.get_include(), "pyx"],
        define_macros=DEFINES,
        depends=["pyx/philox.h", "pyx/bits.h", "pyx/omp_compat.h", "pyx/_types.pxd",
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
