"""Build step beyond pyproject.toml: the injection scanner's optional C kernel (the learned
detector's scorer and the leetspeak fold of ASCII text).

``_kernel.c`` is plain C (no Python headers), loaded with ctypes by ``airlock/injection/_kernel.py``.
It is built as ``_kernel_lib.bin``, not with an extension module's suffix: it is no Python module,
and tools that import every module of the package must not try it.
``optional=True``: without a C compiler the install still succeeds and numpy and the regex path
give the same results, slower (2-4x for the scorer); ``airlock doctor`` says which one runs.
"""

import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNEL = "airlock.injection._kernel_lib"


class BuildExt(build_ext):
    def get_ext_filename(self, fullname: str) -> str:
        # called with the dotted name and, for the output path, with its last part alone
        if fullname in (KERNEL, KERNEL.rsplit(".", 1)[1]):
            return os.path.join(*fullname.split(".")) + ".bin"
        return super().get_ext_filename(fullname)


setup(cmdclass={"build_ext": BuildExt},
      ext_modules=[Extension(KERNEL, ["core/airlock/injection/_kernel.c"], extra_compile_args=["-O2", "-std=c99"],
                             libraries=["m"], optional=True)])
