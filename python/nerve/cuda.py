"""GPU availability: CUDA tensors need CuPy, a visible GPU, and (for our own
kernels) the nerve._cuda extension."""
import functools


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


# PyTorch's torch.cuda.amp names: autocast on CUDA tensors (float16 by default) and the loss scaler.
def _amp():
    import types
    from nerve.amp import cuda_GradScaler, cuda_autocast
    return types.SimpleNamespace(autocast=cuda_autocast, GradScaler=cuda_GradScaler)


amp = _amp()
