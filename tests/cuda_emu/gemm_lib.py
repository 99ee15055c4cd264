"""Builds tests/cuda_emu/gemm_kernels.cu + csrc/cuda/gemm.cu against the CUDA
emulation (g++, the flags of conftest.py) into one shared library, once per
process, for test_tensor_core.py and test_gemm_kernels.py (ctypes)."""

import ctypes
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from .conftest import CSRC, CXX, EMU_FLAGS, RUNTIME, cuda_include

HERE = Path(__file__).resolve().parent
KERNELS = HERE / "gemm_kernels.cu"
GEMM = CSRC / "cuda" / "gemm.cu"

_lock = threading.Lock()
_lib = None
_dir = None

P = ctypes.c_void_p
I64 = ctypes.c_int64
C_INT = ctypes.c_int
SIGNATURES = {
    "tc_to_tf32": [P, P, C_INT],
    "tc_mma": [C_INT, P, P, P, P],
    "tc_ldmatrix": [C_INT, C_INT, P, P, P],
    "tc_cp_async": [C_INT, P, P],
    "gemm_run": [C_INT, C_INT, I64, C_INT, C_INT, I64, I64, I64, ctypes.c_double, P, I64, I64, P, I64, I64,
                 ctypes.c_double, P, I64, I64, P, C_INT],
}


def compile_commands(out: Path, extra=()):
    """Object builds (run in parallel) and the link."""
    flags = [*EMU_FLAGS, *cuda_include(), "-fPIC", *extra]
    objs = []
    cmds = []
    for src, lang in ((KERNELS, "c++"), (GEMM, "c++"), (RUNTIME, None)):
        obj = out / (src.stem + ".o")
        cmds.append([CXX, *flags, "-c", *(["-x", lang] if lang else []), str(src), "-o", str(obj)])
        objs.append(obj)
    link = [CXX, *flags, "-shared", *map(str, objs), "-o", str(out / "libgemm_emu.so")]
    return cmds, link


def build():
    global _lib, _dir
    with _lock:
        if _lib is None:
            _dir = tempfile.TemporaryDirectory(prefix="nerve_gemm_emu_")
            out = Path(_dir.name)
            cmds, link = compile_commands(out)
            procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for c in cmds]
            for c, p in zip(cmds, procs):
                log, _ = p.communicate(timeout=600)
                if p.returncode:
                    raise RuntimeError(f"build failed:\n{' '.join(c)}\n{log}")
            r = subprocess.run(link, capture_output=True, text=True)
            if r.returncode:
                raise RuntimeError(f"link failed:\n{' '.join(link)}\n{r.stdout}{r.stderr}")
            lib = ctypes.CDLL(str(out / "libgemm_emu.so"))
            for name, args in SIGNATURES.items():
                getattr(lib, name).argtypes = args
                getattr(lib, name).restype = C_INT
            _lib = lib
    return _lib


def ptr(a):
    return None if a is None else a.ctypes.data_as(ctypes.c_void_p)


# ------------------------------------------------------------- number models
def tf32_rna(x):
    """cvt.rna.tf32.f32 on float32 bits: nearest, ties away from zero; inf/nan kept."""
    u = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    special = (u & 0x7F800000) == 0x7F800000
    r = ((u + 0x1000) & 0xFFFFE000).astype(np.uint32)
    return np.where(special, u.astype(np.uint32), r)


def tf32_trunc(x):
    """The value a tensor core reads from a .tf32 register: low 13 bits dropped."""
    return (np.asarray(x, np.float32).view(np.uint32) & np.uint32(0xFFFFE000)).view(np.float32)


def bf16_bits(x):
    """float32 -> bfloat16 bits, round to nearest even (NaN kept quiet)."""
    u = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(nan, ((u >> 16) | 0x40).astype(np.uint16), r)


def bf16_value(bits):
    return (np.asarray(bits, np.uint16).astype(np.uint32) << 16).view(np.float32)
