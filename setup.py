"""Build the im2col_cython extension in place:

    python setup.py build_ext --inplace        (or: make build)

The loops are serial by default: BLAS already uses every core for the matrix
products that dominate, and on a busy machine OpenMP's spinning threads made
small calls ten times slower. HW5_OPENMP=1 builds them in parallel when the C
compiler accepts OpenMP (and serially when it does not).
"""
import os
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools._distutils.ccompiler import new_compiler
from setuptools._distutils.errors import CompileError, LinkError
from setuptools._distutils.sysconfig import customize_compiler

OPENMP_FLAG = "/openmp" if os.name == "nt" else "-fopenmp"


def compiler_has_openmp():
    """True when a tiny OpenMP program compiles and links with OPENMP_FLAG."""
    compiler = new_compiler()
    customize_compiler(compiler)
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "omp_check.c")
        with open(source, "w") as f:
            f.write("#include <omp.h>\nint main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }\n")
        try:
            objects = compiler.compile([source], output_dir=tmp, extra_postargs=[OPENMP_FLAG])
            compiler.link_executable(objects, os.path.join(tmp, "omp_check"),
                                     extra_postargs=[OPENMP_FLAG])
        except (CompileError, LinkError):
            return False
    return True


wants_openmp = os.environ.get("HW5_OPENMP", "0") not in ("", "0")
openmp = [OPENMP_FLAG] if wants_openmp and compiler_has_openmp() else []
print(f"im2col_cython: building {'with' if openmp else 'without'} OpenMP")
optimise = [] if os.name == "nt" else ["-O3"]

extension = Extension(
    "im2col_cython",
    ["im2col_cython.pyx"],
    include_dirs=[np.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    extra_compile_args=optimise + openmp,
    extra_link_args=openmp,
)

setup(name="im2col_cython", ext_modules=cythonize([extension], language_level=3))
