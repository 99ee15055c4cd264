"""Builds for the CUDA emulation tests, every compile command in one place.

The self-test kernels (csrc/cuda/emu_selftest.cu) are built here, without CMake,
in the pytest session's temporary directory, all at once in parallel:
  lib   g++ against the emulation, a shared library driven through ctypes;
  tsan  g++ -fsanitize=thread executable (tests/cuda_emu/selftest_main.cpp);
  asan  g++ -fsanitize=address,undefined executable, without CUDA's headers
        (the emulation's own vector types and error codes);
  nvcc  nvcc -arch=sm_90 object, ptxas spills / local memory as errors.
Set NERVE_REQUIRE_NVCC=1 to fail rather than skip where nvcc is missing.
"""

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"
KERNELS = CSRC / "cuda" / "emu_selftest.cu"
RUNTIME = CSRC / "cuda" / "emu" / "cuda_emu.cpp"
MAIN = Path(__file__).with_name("selftest_main.cpp")

CXX = os.environ.get("CXX", "g++")
EMU_FLAGS = ["-std=c++17", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas",
             "-DNERVE_CUDA_EMU=1", f"-I{CSRC}", "-pthread"]
SANITIZE = {
    "thread": ["-fsanitize=thread"],
    "address": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"],
}
# nvcc: warnings are errors, and ptxas warns on register spills and local memory.
NVCC_FLAGS = ["-std=c++17", "-arch=sm_90", f"-I{CSRC}", "-Xptxas=-warn-spills,-warn-lmem-usage",
              "-Werror", "all-warnings", "-Xcompiler=-Wall"]


def cuda_homes():
    homes = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH")]
    if shutil.which("nvcc"):
        homes.append(str(Path(shutil.which("nvcc")).resolve().parents[1]))
    homes += ["/usr/local/cuda"] + sorted(glob.glob("/usr/local/cuda-*"), reverse=True)
    return [Path(h) for h in homes if h]


def nvcc_path():
    return shutil.which("nvcc") or next((str(h / "bin" / "nvcc") for h in cuda_homes()
                                         if (h / "bin" / "nvcc").exists()), None)


def cuda_include():
    """-I for CUDA's headers where installed: the emulation then uses their vector types."""
    inc = next((h / "include" for h in cuda_homes() if (h / "include" / "cuda_runtime_api.h").exists()), None)
    return [f"-I{inc}"] if inc else []


def commands(out: Path):
    """name -> (artifact, argv); nvcc ones only where nvcc exists."""
    kernels = ["-x", "c++", str(KERNELS), "-x", "none"]
    cmds = {
        "lib": (out / "libemu_selftest.so",
                [CXX, *EMU_FLAGS, *cuda_include(), "-fPIC", "-shared", *kernels, str(RUNTIME)]),
        "tsan": (out / "selftest_tsan",
                 [CXX, *EMU_FLAGS, *cuda_include(), *SANITIZE["thread"], *kernels, str(RUNTIME), str(MAIN)]),
        "asan": (out / "selftest_asan",
                 [CXX, *EMU_FLAGS, "-DNERVE_CUDA_EMU_NO_CUDA_HEADERS", *SANITIZE["address"], *kernels,
                  str(RUNTIME), str(MAIN)]),
    }
    nvcc = nvcc_path()
    if nvcc:
        cmds["nvcc"] = (out / "emu_selftest.o", [nvcc, *NVCC_FLAGS, "-c", str(KERNELS)])
        # A kernel that must use local memory: proves the gate above fails builds.
        lmem = out / "lmem.cu"
        lmem.write_text("__global__ void k(float* out, const int* idx) {\n"
                        "  float a[256];\n"
                        "  for (int t = 0; t < 256; ++t) a[t] = out[t];\n"
                        "  for (int t = 0; t < 256; ++t) a[idx[t]] += 1.0f;\n"
                        "  for (int t = 0; t < 256; ++t) out[t] = a[t];\n}\n")
        cmds["nvcc_lmem"] = (out / "lmem.o", [nvcc, *NVCC_FLAGS, "-c", str(lmem)])
    return cmds


class Builds:
    def __init__(self, out: Path):
        self.procs = {}
        for name, (artifact, argv) in commands(out).items():
            self.procs[name] = (artifact, argv + ["-o", str(artifact)],
                                subprocess.Popen(argv + ["-o", str(artifact)], stdout=subprocess.PIPE,
                                                 stderr=subprocess.STDOUT, text=True))

    def result(self, name):
        """(returncode, output, artifact, argv) of a build; None where it is not built here."""
        if name not in self.procs:
            return None
        artifact, argv, proc = self.procs[name]
        output, _ = proc.communicate(timeout=600)
        return proc.returncode, output, artifact, argv

    def artifact(self, name):
        rc, output, artifact, argv = self.result(name)
        if rc != 0:
            pytest.fail(f"build {name} failed:\n{' '.join(argv)}\n{output}")
        return artifact


@pytest.fixture(scope="session")
def builds(tmp_path_factory):
    b = Builds(tmp_path_factory.mktemp("cuda_emu"))
    yield b
    for _, _, proc in b.procs.values():  # builds no test waited for
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
