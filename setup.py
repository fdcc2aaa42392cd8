"""Build the im2col_cython, nhwc_cython and floatmode extensions in place:

    python setup.py build_ext --inplace        (or: make build)

`pip install -e .` builds it too; the package's metadata is in pyproject.toml.

Needs a C compiler, Cython 3 and NumPy 2 (requirements.txt). No OpenMP: the
loops are serial, since BLAS already runs the matrix products on every core.
"""
import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        name,
        [name + ".pyx"],
        depends=["winograd_kernels.h"] if name == "nhwc_cython" else [],
        include_dirs=[np.get_include(), "."],      # winograd_kernels.h
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=[] if os.name == "nt" else ["-O3"],
    )
    for name in ("im2col_cython",     # fast_layers.py (NCHW)
                 "nhwc_cython",       # fast_nhwc.py (channels-last)
                 "floatmode")         # solver.py (subnormals flushed while training)
]

setup(ext_modules=cythonize(extensions, language_level=3))
