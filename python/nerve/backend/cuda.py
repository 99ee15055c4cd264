"""CUDA backend: cupy arrays, kernels from ``nerve._cuda`` (or cuBLAS via cupy
until our own kernels land). Importing this module needs cupy."""
try:
    import cupy as xp
except ImportError as e:  # pragma: no cover - exercised only without cupy
    raise RuntimeError("nerve: CUDA tensors need CuPy (pip install nerve[cuda])") from e

name = "cuda"


def asarray(data, dtype=None):
    return xp.asarray(data, dtype=dtype)


def to_numpy(array):
    return xp.asnumpy(array)


def matmul(a, b, trans_a=False, trans_b=False, out=None):
    r = xp.matmul(xp.swapaxes(a, -1, -2) if trans_a else a, xp.swapaxes(b, -1, -2) if trans_b else b)
    if out is not None:
        out[...] = r
        return out
    return r
