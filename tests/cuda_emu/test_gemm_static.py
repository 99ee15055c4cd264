"""Static checks of the CUDA GEMM (csrc/cuda/gemm.cu) without a GPU: nvcc for
sm_90 with warnings as errors and ptxas spills / local memory as errors (the
built nerve._cuda where there is one, whose CMake flags are the same, else
gemm.cu compiled here; NERVE_GEMM_STATIC_REBUILD=1 compiles it anyway); then
`cuobjdump -res-usage` holds every kernel to a register and shared-memory
budget with no stack or local memory (as test_resource_usage.py does for all of
nerve._cuda), and `cuobjdump -sass` shows that the
tensor-core kernels really run on tensor cores (HMMA), load fragments with
LDSM (ldmatrix) and copy with LDGSTS (cp.async).

cuobjdump / nvdisasm come from the CUDA toolkit or the `nvidia-cuda-cuobjdump`
and `nvidia-cuda-nvdisasm` wheels (the `test` extra). Where nvcc or they are
missing the tests skip, saying so (NERVE_REQUIRE_NVCC=1: fail instead)."""

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import CSRC, NVCC_FLAGS, cuda_homes, nvcc_path

GEMM = CSRC / "cuda" / "gemm.cu"
REQUIRE = os.environ.get("NERVE_REQUIRE_NVCC") == "1"

# Budgets per kernel family: registers (ptxas at -O3, sm_90; 256 threads, so
# <= 255 runs one block per SM and <= 128 two; the fp32 SIMT kernel spills when
# held to 128, measured 139-175 with nvcc 13.0; fp64 84-130), static shared memory (sm_90
# reports its 1 KB of reserved shared memory here: the tiles are dynamic).
# Dynamic shared memory per block (gemm.cu): SIMT fp32 16.9 KB, fp64 17.4 KB,
# TF32 / bf16 40 KB (< 48 KB, no opt-in needed).
REG_BUDGET = {"simt_f32": 192, "simt_f64": 168, "tc_tf32": 192, "tc_bf16": 192}
RESERVED_SMEM = 1024


def find_tool(name):
    """A CUDA binary tool: PATH, the CUDA homes, or the nvidia-cuda-* wheels."""
    if shutil.which(name):
        return shutil.which(name)
    for home in cuda_homes():
        if (home / "bin" / name).exists():
            return str(home / "bin" / name)
    try:
        import nvidia  # the namespace package of the nvidia-* wheels
        for root in nvidia.__path__:
            for cand in sorted(Path(root).glob(f"cu*/bin/{name}")) + sorted(Path(root).glob(f"*/bin/{name}")):
                return str(cand)
    except ImportError:
        pass
    return None


def missing(what):
    if REQUIRE:
        pytest.fail(f"{what} (NERVE_REQUIRE_NVCC=1)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def cuobjdump():
    tool = find_tool("cuobjdump")
    if not tool:
        missing("cuobjdump not found (CUDA toolkit, or pip install nvidia-cuda-cuobjdump)")
    return tool


@pytest.fixture(scope="module")
def gemm_object(tmp_path_factory, cuobjdump):
    """The built nerve._cuda where it has the GEMM kernels (CMake builds it with the same -Werror and
    ptxas flags); else gemm.cu compiled here (NERVE_GEMM_STATIC_REBUILD=1: always)."""
    spec = importlib.util.find_spec("nerve._cuda")
    if spec is not None and spec.origin and os.environ.get("NERVE_GEMM_STATIC_REBUILD") != "1":
        if any(family(name) for name in res_usage(cuobjdump, spec.origin)):
            return 0, "", Path(spec.origin), ["nerve._cuda", spec.origin]
    nvcc = nvcc_path()
    if not nvcc:
        missing("nvcc not found: the static GEMM checks need the CUDA toolkit")
    out = tmp_path_factory.mktemp("gemm_static") / "gemm.o"
    argv = [nvcc, *NVCC_FLAGS, "-O3", "-c", str(GEMM), "-o", str(out)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=1200)
    return r.returncode, r.stdout + r.stderr, out, argv


def built(gemm_object):
    rc, log, out, argv = gemm_object
    assert rc == 0, f"nvcc failed:\n{' '.join(argv)}\n{log}"
    return out


def family(name):
    if "gemm_simt_kernelIf" in name:
        return "simt_f32"
    if "gemm_simt_kernelId" in name:
        return "simt_f64"
    if "gemm_tc_kernelIf" in name:
        return "tc_tf32"
    if "gemm_tc_kernel" in name and "4bf16" in name:
        return "tc_bf16"
    return None


def test_nvcc_build_warnings_spills_local_memory_are_errors(gemm_object):
    built(gemm_object)


def res_usage(cuobjdump, obj):
    text = subprocess.run([cuobjdump, "-res-usage", str(obj)], capture_output=True, text=True, check=True).stdout
    usage = {}
    for name, fields in re.findall(r"Function (\S+):\s*\n\s*(REG:.*)", text):
        usage[name] = {k: int(v) for k, v in re.findall(r"(\w+(?:\[\d+\])?):(\d+)", fields)}
    return usage


def test_resource_budgets(gemm_object, cuobjdump):
    usage = res_usage(cuobjdump, built(gemm_object))
    counts = {}
    for name, u in usage.items():
        fam = family(name)
        if fam is None:
            continue
        counts[fam] = counts.get(fam, 0) + 1
        assert u["LOCAL"] == 0 and u["STACK"] == 0, f"{name}: local memory / stack {u}"
        assert u["REG"] <= REG_BUDGET[fam], f"{name}: {u['REG']} registers > budget {REG_BUDGET[fam]}"
        assert u["SHARED"] <= RESERVED_SMEM, f"{name}: static shared memory {u['SHARED']} (tiles are dynamic)"
    # 4 transposes each; the tensor-core kernels also with and without cp.async.
    assert counts == {"simt_f32": 4, "simt_f64": 4, "tc_tf32": 8, "tc_bf16": 8}, counts


def sass_by_function(cuobjdump, obj):
    env = dict(os.environ)
    nvdisasm = find_tool("nvdisasm")
    if not nvdisasm:
        missing("nvdisasm not found (CUDA toolkit, or pip install nvidia-cuda-nvdisasm): cuobjdump -sass needs it")
    env["PATH"] = str(Path(nvdisasm).parent) + os.pathsep + env.get("PATH", "")
    text = subprocess.run([cuobjdump, "-sass", str(obj)], capture_output=True, text=True, check=True, env=env).stdout
    parts = re.split(r"\n\s*Function : (\S+)\n", text)
    return dict(zip(parts[1::2], parts[2::2]))


def test_tensor_core_kernels_use_hmma_ldsm_ldgsts(gemm_object, cuobjdump):
    sass = sass_by_function(cuobjdump, built(gemm_object))
    seen = set()
    for name, code in sass.items():
        fam = family(name)
        if fam is None:
            continue
        seen.add(fam)
        # Template flags: ...TA, TB[, Async] as Lb0/Lb1 in the mangled name.
        flags = [f == "1" for f in re.findall(r"ELb([01])", name)]
        if fam == "tc_tf32":
            assert "HMMA.1688.F32.TF32" in code, name
        elif fam == "tc_bf16":
            assert "HMMA.16816.F32.BF16" in code, name
            ta, tb = flags[0], flags[1]
            assert ("LDSM.16.MT88.4" in code) == ta and ("LDSM.16.M88.4" in code) == (not ta), name
            assert ("LDSM.16.MT88.2" in code) == (not tb) and ("LDSM.16.M88.2" in code) == tb, name
        else:
            assert "HMMA" not in code and ("FFMA" in code or "DFMA" in code), name
        if fam.startswith("tc"):
            assert ("LDGSTS" in code) == flags[2], f"{name}: cp.async iff the Async variant"
    assert seen == {"simt_f32", "simt_f64", "tc_tf32", "tc_bf16"}
