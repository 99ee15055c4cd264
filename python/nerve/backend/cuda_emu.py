"""The CUDA backend on the CPU emulation of CUDA — test-only.

This module is backend/cuda.py itself, executed a second time in this
namespace with ``_EMULATED = True``: ``xp`` is NumPy and the kernels come from
``nerve._cuda_emu``, the same .cu launchers, kernels and bindings compiled by
g++ against csrc/cuda/emu (blocks in turn, each CUDA thread a real thread).
So a test that routes arrays here (tests/cuda_emu/conftest.py) runs the GPU
path op -> backend -> binding -> launcher -> kernel on a machine without a
GPU, and compares it with ``backend.cpu``.
"""
import os as _os

_EMULATED = True
_source = _os.path.join(_os.path.dirname(__file__), "cuda.py")
with open(_source, encoding="utf-8") as _f:
    exec(compile(_f.read(), _source, "exec"))  # noqa: S102 - our own file: the one CUDA backend, run on NumPy
name = "cuda"
