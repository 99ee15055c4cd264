"""CPU backend: numpy arrays, kernels from ``nerve._C``."""
import numpy as np

from nerve import _C

xp = np
name = "cpu"


def asarray(data, dtype=None):
    return np.asarray(data, dtype=dtype)


def to_numpy(array):
    return array


def matmul(a, b, trans_a=False, trans_b=False, out=None):
    """op(a) @ op(b) for 2-D or batched 3-D float arrays, on the native GEMM.

    A 2-D operand is shared by every batch; ``out`` (if given) is written.
    Non-float dtypes and arrays with no unit stride fall back to a copy.
    """
    if a.dtype != b.dtype or a.dtype not in (np.float32, np.float64):
        return np.matmul(np.swapaxes(a, -1, -2) if trans_a else a, np.swapaxes(b, -1, -2) if trans_b else b)
    a, b = _unit_stride(a), _unit_stride(b)
    m = a.shape[-1] if trans_a else a.shape[-2]
    n = b.shape[-2] if trans_b else b.shape[-1]
    if out is None:
        batch = a.shape[:-2] or b.shape[:-2]
        out = np.empty(batch + (m, n), dtype=a.dtype)
    _C.gemm(out, a, b, trans_a, trans_b)
    return out


def _unit_stride(x):
    s, item = x.strides, x.itemsize
    if x.ndim >= 2 and (s[-1] == item or s[-2] == item) and all(v >= 0 for v in s):
        return x
    return np.ascontiguousarray(x)


def _float_contiguous(x):
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    return np.ascontiguousarray(x)


def sigmoid(x):
    x = _float_contiguous(x)
    out = np.empty_like(x)
    _C.sigmoid_forward(out, x)
    return out


def gelu_forward(x, approximate="none"):
    x = _float_contiguous(x)
    out = np.empty_like(x)
    _C.gelu_forward(out, x, approximate)
    return out


def gelu_backward(grad, x, approximate="none"):
    x = _float_contiguous(x)
    grad = np.ascontiguousarray(grad, dtype=x.dtype)
    out = np.empty_like(x)
    _C.gelu_backward(out, grad, x, approximate)
    return out


def _last_dim_contiguous(x):
    return x if x.shape[-1] <= 1 or x.strides[-1] == x.itemsize else np.ascontiguousarray(x)


def attention_forward(q, k, v, attn_mask=None, scale=1.0, is_causal=False):
    """Fused attention on (B, H, L, D) / (B, H, S, D) arrays: returns out (B, H, L, D) and lse (B, H, L).

    attn_mask: None, bool (True = take part) or additive float of q's dtype,
    broadcastable to (B, H, L, S). Fully masked rows give out = 0, lse = -inf.
    """
    q, k, v = (_last_dim_contiguous(x) for x in (q, k, v))
    out = np.empty(q.shape, dtype=q.dtype)
    lse = np.empty(q.shape[:3], dtype=q.dtype)
    _C.attention_forward(out, lse, q, k, v, attn_mask, float(scale), bool(is_causal))
    return out, lse


def attention_backward(grad, q, k, v, out, lse, attn_mask=None, scale=1.0, is_causal=False):
    """Gradients (dq, dk, dv) of attention_forward given d(out) = grad."""
    grad, q, k, v = (_last_dim_contiguous(x) for x in (grad, q, k, v))
    dq, dk, dv = np.empty(q.shape, q.dtype), np.empty(k.shape, k.dtype), np.empty(v.shape, v.dtype)
    _C.attention_backward(dq, dk, dv, grad, q, k, v, out, lse, attn_mask, float(scale), bool(is_causal))
    return dq, dk, dv
