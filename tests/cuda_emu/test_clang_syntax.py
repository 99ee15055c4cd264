"""A second compiler over the CUDA sources: clang++ -fsyntax-only with -Wall
-Wextra -Werror on every csrc/cuda/*.cu and csrc/bind/*_cuda.cpp, compiled as
C++ against the emulation (the build of nerve._cuda_emu, which g++ does).
clang catches what g++ and nvcc let through: its -Wall has checks g++ lacks
(-Wunused-private-field, -Wunused-lambda-capture, -Wself-assign-field...)
and it rejects templates that g++ accepts uninstantiated (a missing
`typename` or `template` keyword in dependent names).

Debian's clang (14) cannot parse CUDA 13's headers in CUDA mode (it supports
CUDA <= 11.5: "no template named 'texture'"), so the CUDA-mode pass waits for
a newer clang; this pass checks the same kernel source on its host side.
Without clang++ the test skips, saying so (NERVE_REQUIRE_CLANG=1: fail instead,
as CI sets after installing clang)."""
import os
import shutil
import subprocess

import pytest

from .conftest import CSRC, cuda_homes

SOURCES = sorted((CSRC / "cuda").glob("*.cu")) + sorted((CSRC / "bind").glob("*_cuda.cpp"))


def _clang():
    clang = shutil.which("clang++")
    if clang is None:
        if os.environ.get("NERVE_REQUIRE_CLANG") == "1":
            pytest.fail("clang++ not found and NERVE_REQUIRE_CLANG=1")
        pytest.skip("clang++ not found (apt-get install clang): the second-compiler pass did not run")
    return clang


def _includes():
    """csrc, the CUDA headers (vector types, bf16) as the emulation's CMake target uses them, pybind11, Python."""
    import sysconfig

    import pybind11

    flags = [f"-I{CSRC}", f"-isystem{pybind11.get_include()}", f"-isystem{sysconfig.get_paths()['include']}"]
    for home in cuda_homes():
        if (home / "include" / "cuda_bf16.h").exists():
            flags.append(f"-isystem{home / 'include'}")
            break
    return flags


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_clang_accepts_cuda_source_against_the_emulation(source):
    clang = _clang()
    pytest.importorskip("pybind11", reason="pybind11 headers are needed for the binding sources")
    cmd = [clang, "-xc++", "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas",
           "-DNERVE_CUDA_EMU=1", "-DNERVE_MODULE_NAME=_cuda_emu", *_includes(), str(source)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"clang++ rejects {source.name}:\n{r.stderr[-4000:]}"
