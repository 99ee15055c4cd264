"""Where an array lives and which kernels run on it.

Two twin modules with the same names: ``backend.cpu`` (numpy + ``nerve._C``)
and ``backend.cuda`` (cupy + ``nerve._cuda``). ``of(array)`` picks one, like
Chainer's ``get_array_module``. ``backend.cuda_emu`` (test-only) is
backend/cuda.py run on NumPy against ``nerve._cuda_emu``, the CUDA kernels
compiled for the CPU emulation of CUDA.
"""
from nerve.backend import cpu

__all__ = ["of", "for_device", "cpu"]


def of(array):
    """The backend module that owns ``array`` (cpu for numpy, cuda for cupy)."""
    if type(array).__module__.startswith("cupy"):
        from nerve.backend import cuda
        return cuda
    return cpu


def for_device(device_type):
    """The backend module for a device type string ('cpu' or 'cuda')."""
    if device_type == "cpu":
        return cpu
    if device_type == "cuda":
        from nerve.backend import cuda
        return cuda
    raise ValueError(f"unknown device type {device_type!r}, expected 'cpu' or 'cuda'")
