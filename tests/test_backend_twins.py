"""The twin rule (DESIGN.md, issue 16): backend/cpu.py and backend/cuda.py define
the same public names, and nerve._C and nerve._cuda export the same kernel
names. An op without a CUDA kernel yet raises NotImplementedError naming the op
and the device, never AttributeError.

backend/cuda.py needs CuPy to import; its source is checked through
backend.cuda_emu, which runs that same file on NumPy and nerve._cuda_emu.
"""
import inspect
import types

import numpy as np
import pytest

from nerve import _C, _cuda_emu
from nerve.backend import cpu, cuda_emu

# Names that belong to one module only: the CPU's thread and SIMD controls, the device query.
# The CPU module's own controls and CPU-feature queries.
C_ONLY = {"isa", "best_isa", "set_isa", "isas", "amx_status", "amx_permission_requests", "get_num_threads",
          "set_num_threads"}
CUDA_ONLY = {"device_count", "emulated"}


def public(module):
    return {n for n in dir(module) if not n.startswith("_") and not isinstance(getattr(module, n), types.ModuleType)}


def cuda_modules():
    mods = [_cuda_emu]
    try:
        from nerve import _cuda
        mods.append(_cuda)
    except ImportError:
        pass
    return mods


def test_backends_define_the_same_names():
    assert public(cpu) == public(cuda_emu), (
        f"only in backend.cpu: {sorted(public(cpu) - public(cuda_emu))}; "
        f"only in backend.cuda: {sorted(public(cuda_emu) - public(cpu))}")


def test_backend_signatures_match_where_written():
    for name in sorted(public(cpu)):
        a, b = getattr(cpu, name), getattr(cuda_emu, name)
        if not callable(a) or inspect.isclass(a) or b.__code__.co_name == "not_yet":
            continue
        assert inspect.signature(a) == inspect.signature(b), name


@pytest.mark.parametrize("module", cuda_modules(), ids=lambda m: m.__name__)
def test_modules_export_the_same_kernel_names(module):
    kernels_c = public(_C) - C_ONLY
    kernels_cuda = public(module) - CUDA_ONLY
    assert kernels_c == kernels_cuda, (f"only in _C: {sorted(kernels_c - kernels_cuda)}; "
                                       f"only in {module.__name__}: {sorted(kernels_cuda - kernels_c)}")


@pytest.mark.parametrize("module", cuda_modules(), ids=lambda m: m.__name__)
def test_unwritten_kernels_raise_not_implemented_naming_op_and_device(module):
    unwritten = [n for n in public(module) - CUDA_ONLY if "raises NotImplementedError" in (getattr(module, n).__doc__ or "")]
    assert "conv2d_forward" in unwritten or not unwritten  # the list is not empty until every family is written
    for name in unwritten:
        with pytest.raises(NotImplementedError, match=rf"^{name}: not implemented on device 'cuda'"):
            getattr(module, name)(np.zeros(1), x=1)


def test_unwritten_backend_ops_raise_not_implemented():
    stubs = [n for n in public(cuda_emu) if getattr(getattr(cuda_emu, n), "__code__", None) is not None
             and getattr(cuda_emu, n).__code__.co_name == "not_yet"]
    assert stubs
    for name in stubs:
        with pytest.raises(NotImplementedError, match=rf"^{name}: not implemented on device 'cuda'"):
            getattr(cuda_emu, name)(np.zeros(1))
