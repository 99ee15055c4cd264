"""The emulated GEMM kernels under ThreadSanitizer and ASan+UBSan: a missing
__syncthreads (or a cp.async read before its wait_group and barrier) is a data
race, a dropped bounds check at a tile edge an out-of-bounds access.
gemm_sanitize_main.cpp runs SIMT fp32/fp64, TF32 and bf16 (small tiles, both
tensor-core pipelines, the production tiles) against a float64 reference.
Builds: the flags of conftest.py (ASan without CUDA's headers, as there)."""
import os
import subprocess
from pathlib import Path

import pytest

from .conftest import CXX, EMU_FLAGS, RUNTIME, SANITIZE, cuda_include
from .gemm_lib import GEMM, KERNELS

MAIN = Path(__file__).with_name("gemm_sanitize_main.cpp")


def build(out: Path, which):
    flags = [*EMU_FLAGS, *SANITIZE[which]]
    flags += ["-DNERVE_CUDA_EMU_NO_CUDA_HEADERS"] if which == "address" else cuda_include()
    objs, procs = [], []
    for src in (KERNELS, GEMM, RUNTIME, MAIN):
        obj = out / f"{src.stem}_{which}.o"
        lang = ["-x", "c++"] if src.suffix == ".cu" else []
        procs.append(subprocess.Popen([CXX, *flags, "-c", *lang, str(src), "-o", str(obj)], stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
        objs.append(obj)
    return objs, flags, procs


@pytest.fixture(scope="module")
def executables(tmp_path_factory):
    out = tmp_path_factory.mktemp("gemm_sanitize")
    jobs = {which: build(out, which) for which in ("thread", "address")}
    exes = {}
    for which, (objs, flags, procs) in jobs.items():
        for p in procs:
            log, _ = p.communicate(timeout=1200)
            assert p.returncode == 0, f"{which} build failed:\n{' '.join(p.args)}\n{log}"
        exe = out / f"gemm_{which}"
        r = subprocess.run([CXX, *flags, *map(str, objs), "-o", str(exe)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        exes[which] = exe
    return exes


@pytest.mark.parametrize("which", ["thread", "address"])
def test_gemm_kernels_clean_under_sanitizer(executables, which):
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1:exitcode=66", ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    r = subprocess.run([str(executables[which])], capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, f"{which} sanitizer run failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    assert "all correct" in r.stdout
