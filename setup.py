# setup.py — `pip install .` for the Python package treadle: CMake builds the extension
# (treadle._treadle), setuptools installs it with the pure-Python files.
# Tests: tests/python/ (run against the build tree); offline install checked by hand:
#   python3 -m venv --system-site-packages v && v/bin/pip install --no-build-isolation .
"""Build and install treadle's Python package by driving the CMake build."""

import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


class CMakeExtension(Extension):
    """An extension whose sources CMake knows; setuptools only places the result."""

    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    """Configures the whole tree in build_temp and builds only the treadle_python target."""

    def build_extension(self, ext):
        build_dir = os.path.abspath(self.build_temp)
        os.makedirs(build_dir, exist_ok=True)
        cfg = [
            "cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
            f"-DPython3_EXECUTABLE={sys.executable}",
            "-DTREADLE_BUILD_TESTS=OFF", "-DTREADLE_BUILD_EXAMPLES=OFF",
            "-DTREADLE_BUILD_DOCS=OFF", "-DTREADLE_BUILD_PYTHON=ON",
            # A user install must not fail on a new compiler warning (GCC 12 -O3 raises a
            # false -Wrestrict in core); CI builds keep -Werror.
            "-DTREADLE_WERROR=OFF",
        ]
        if shutil.which("ninja"):
            cfg += ["-G", "Ninja"]
        if shutil.which("ccache"):
            cfg.append("-DCMAKE_CXX_COMPILER_LAUNCHER=ccache")
        subprocess.check_call(cfg)
        jobs = os.environ.get("TREADLE_BUILD_JOBS", "2")
        subprocess.check_call(["cmake", "--build", build_dir, "--target", "treadle_python",
                               "-j", jobs])
        built = glob.glob(os.path.join(build_dir, "python", "treadle", "_treadle*.so"))
        if not built:
            raise RuntimeError("CMake did not produce treadle/_treadle*.so")
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built[0], target)


setup(
    name="treadle",
    version="0.1.0",
    description="An asyncio event loop on C++ backends (epoll reactor, Boost.Asio proactor)",
    packages=["treadle"],
    package_dir={"treadle": "bindings/python/treadle"},
    ext_modules=[CMakeExtension("treadle._treadle")],
    cmdclass={"build_ext": CMakeBuild},
    python_requires=">=3.11",
    # The top-level build/ is the Makefile's CMake tree; keep setuptools out of it.
    options={"build": {"build_base": "build-pip"}},
    zip_safe=False,
)
