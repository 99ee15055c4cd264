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


def sigmoid(x):
    return 0.5 * (xp.tanh(0.5 * x) + 1)


def gelu_forward(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + xp.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)))
    from cupyx.scipy.special import erf
    return 0.5 * x * (1 + erf(x * 0.7071067811865476))


def gelu_backward(grad, x, approximate="none"):
    if approximate == "tanh":
        t = xp.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3))
        du = 0.7978845608028654 * (1 + 3 * 0.044715 * x * x)
        return grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
    from cupyx.scipy.special import erf
    cdf = 0.5 * (1 + erf(x * 0.7071067811865476))
    pdf = 0.3989422804014327 * xp.exp(-0.5 * x * x)
    return grad * (cdf + x * pdf)
