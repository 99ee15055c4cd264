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


def layer_norm_forward(x, weight=None, bias=None, eps=1e-5):
    """Layer norm over the last dim of x (N, C): returns y (N, C), mean and rstd (N,)."""
    x = np.ascontiguousarray(x)
    weight = None if weight is None else np.ascontiguousarray(weight)
    bias = None if bias is None else np.ascontiguousarray(bias)
    y = np.empty_like(x)
    mean, rstd = np.empty(x.shape[:1], x.dtype), np.empty(x.shape[:1], x.dtype)
    _C.layer_norm_forward(y, mean, rstd, x, weight, bias, float(eps))
    return y, mean, rstd


def layer_norm_backward(grad, x, mean, rstd, weight=None, need_dx=True, need_dweight=True, need_dbias=True):
    """(dx, dweight, dbias) of layer_norm_forward; None for what is not needed (or absent)."""
    grad, x = np.ascontiguousarray(grad, dtype=x.dtype), np.ascontiguousarray(x)
    weight = None if weight is None else np.ascontiguousarray(weight)
    C = x.shape[1]
    dx = np.empty_like(x) if need_dx else None
    dw = np.empty(C, x.dtype) if need_dweight else None
    db = np.empty(C, x.dtype) if need_dbias else None
    if dx is not None or dw is not None or db is not None:
        _C.layer_norm_backward(dx, dw, db, grad, x, mean, rstd, weight)
    return dx, dw, db


def embedding_forward(weight, indices):
    """weight[indices] for weight (num, dim) and integer indices of any shape."""
    idx = np.ascontiguousarray(indices, dtype=np.int64).reshape(-1)
    weight = np.ascontiguousarray(weight)
    out = np.empty((idx.size, weight.shape[1]), weight.dtype)
    _C.embedding_forward(out, weight, idx)
    return out.reshape(np.shape(indices) + (weight.shape[1],))


def embedding_backward(grad, indices, num, padding_idx=None):
    """d(weight) (num, dim): grad rows scatter-added at indices; padding_idx's row gets none."""
    idx = np.ascontiguousarray(indices, dtype=np.int64).reshape(-1)
    grad = np.ascontiguousarray(grad).reshape(idx.size, grad.shape[-1])
    dweight = np.empty((num, grad.shape[1]), grad.dtype)
    _C.embedding_backward(dweight, grad, idx, -1 if padding_idx is None else int(padding_idx))
    return dweight
