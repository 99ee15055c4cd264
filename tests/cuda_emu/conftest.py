"""Builds for the CUDA emulation tests, every compile command in one place.

The self-test kernels (csrc/cuda/emu_selftest.cu) are built here, without CMake,
in the pytest session's temporary directory, all at once in parallel:
  lib   g++ against the emulation, a shared library driven through ctypes;
  tsan  g++ -fsanitize=thread executable (tests/cuda_emu/selftest_main.cpp);
  asan  g++ -fsanitize=address,undefined executable, without CUDA's headers
        (the emulation's own vector types and error codes);
  nvcc  nvcc -arch=sm_90 object, ptxas spills / local memory as errors.
Set NERVE_REQUIRE_NVCC=1 to fail rather than skip where nvcc is missing.

The `gpu` fixture (below) runs the kernel-family tests (test_<family>.py) on the
GPU backend's Python path: "cuda_emu" (NumPy, nerve._cuda_emu) always, "cuda"
(CuPy, nerve._cuda; marked cuda) where a GPU is visible.
"""

import contextlib
import glob
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
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


# ------------------------------------------------ the GPU backend under test
# `gpu` runs a test on the GPU backend's whole Python path (op -> backend.cuda
# -> binding -> launcher -> kernel): "cuda_emu" on NumPy arrays against
# nerve._cuda_emu (always), and "cuda" on CuPy against nerve._cuda where a GPU
# is visible (marked `cuda`: tools/gpu_check.sh runs them with -m cuda).
# Tests compare with backend.cpu on the same inputs.

class Gpu:
    def __init__(self, name, be, monkeypatch):
        self.name, self.be, self._monkeypatch = name, be, monkeypatch
        self.emulated = name == "cuda_emu"

    def put(self, a):
        """A device copy of numpy array `a` (a fresh copy under the emulation too)."""
        return None if a is None else (np.array(a, copy=True) if self.emulated else self.be.asarray(a))

    def get(self, a):
        return None if a is None else np.asarray(self.be.to_numpy(a))

    def tensor(self, a, requires_grad=False):
        """A nerve.Tensor on this device (inside routed(), for the emulation)."""
        import nerve
        if self.emulated:
            return nerve.tensor(np.array(a, copy=True), requires_grad=requires_grad)
        return nerve.tensor(a, device="cuda", requires_grad=requires_grad)

    @contextlib.contextmanager
    def routed(self):
        """Within: ops on this device's tensors take the GPU backend. Under the emulation tensors hold
        numpy arrays, so backend.of routes every array to backend.cuda_emu meanwhile."""
        if not self.emulated:
            yield
            return
        import nerve.backend
        with self._monkeypatch.context() as m:
            m.setattr(nerve.backend, "of", lambda array: self.be)
            yield


def _gpu_params():
    import nerve
    reason = nerve.cuda.unavailable_reason()
    cuda_marks = [pytest.mark.cuda] + ([pytest.mark.skip(reason=f"CUDA: {reason}")] if reason else [])
    return ["cuda_emu", pytest.param("cuda", marks=cuda_marks)]


@pytest.fixture(params=_gpu_params())
def gpu(request, monkeypatch):
    if request.param == "cuda_emu":
        from nerve.backend import cuda_emu as be
    else:
        from nerve.backend import cuda as be
    return Gpu(request.param, be, monkeypatch)


def tolerance(dtype, gpu):
    """rtol/atol for a GPU result against the CPU kernel's: libm and CUDA's math library differ by a few ulp."""
    if np.dtype(dtype) == np.float32:
        return dict(rtol=2e-6 if gpu.emulated else 1e-5, atol=1e-7 if gpu.emulated else 1e-6)
    return dict(rtol=1e-13 if gpu.emulated else 1e-12, atol=1e-15 if gpu.emulated else 1e-14)
