"""GPU availability: CUDA tensors need CuPy, a visible GPU, and (for our own
kernels) the nerve._cuda extension."""
import functools
import sys


@functools.lru_cache(maxsize=None)
def _unavailable_reason():
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed (pip install nerve[cuda])"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, no device
        return f"no CUDA device is visible ({e.__class__.__name__}: {e})"
    return None if n > 0 else "no CUDA device is visible"


def is_available():
    """True when CUDA tensors can be made here (CuPy and a GPU present)."""
    return _unavailable_reason() is None


def unavailable_reason():
    """Why is_available() is False, or None."""
    return _unavailable_reason()


def kernels_built():
    """True when the nerve._cuda extension (our CUDA kernels) was compiled."""
    try:
        from nerve import _cuda  # noqa: F401
        return True
    except ImportError:
        return False


def device_count():
    if not is_available():
        return 0
    import cupy
    return cupy.cuda.runtime.getDeviceCount()


def manual_seed(seed):
    """Seed the GPU's random numbers (CuPy's generator, when CuPy is loaded); harmless without a GPU.
    nerve's own random ops draw from nerve.manual_seed's generator on every device."""
    if "cupy" in sys.modules:
        sys.modules["cupy"].random.seed(int(seed) % 2 ** 32)


def manual_seed_all(seed):
    """manual_seed for every GPU (one CuPy generator serves them here)."""
    manual_seed(seed)


def synchronize(device=None):
    """Wait for the GPU's queued work; a no-op without CuPy loaded."""
    if "cupy" in sys.modules and is_available():
        sys.modules["cupy"].cuda.Device().synchronize()


def empty_cache():
    """Give CuPy's cached free blocks back to the driver; a no-op without CuPy loaded."""
    if "cupy" in sys.modules:
        sys.modules["cupy"].get_default_memory_pool().free_all_blocks()


def current_device():
    if not is_available():
        raise RuntimeError(f"cuda.current_device: {unavailable_reason()}")
    return sys.modules["cupy"].cuda.runtime.getDevice()


# PyTorch's torch.cuda.amp names: autocast on CUDA tensors (float16 by default) and the loss scaler.
def _amp():
    import types
    from nerve.amp import cuda_GradScaler, cuda_autocast
    return types.SimpleNamespace(autocast=cuda_autocast, GradScaler=cuda_GradScaler)


amp = _amp()
