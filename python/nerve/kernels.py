"""Raw kernels on arrays, no autograd: for microbenchmarks and for users who
want just a fast GEMM, conv, LSTM step or attention. Outputs are allocated
here and filled by the native kernels in ``nerve._C``."""
import numpy as np

from nerve import _C

get_num_threads = _C.get_num_threads
set_num_threads = _C.set_num_threads
isa = _C.isa
set_isa = _C.set_isa


def gelu(x, approximate="none"):
    """GELU of a float32/float64 array (exact erf form, or approximate='tanh')."""
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    _C.gelu_forward(out, x, approximate)
    return out


def matmul(a, b, out=None, trans_a=False, trans_b=False, bias=None, activation=None):
    """act(op(a) @ op(b) + bias) on the native GEMM, op = transpose when trans_*.

    a: (M, K) or (B, M, K) ((K, M) when trans_a); b: (K, N) or (B, K, N) ((N, K)
    when trans_b); a 2-D operand is shared by every batch. float32 or float64,
    same dtype for all. bias: (N,) added to every row; activation: None, 'relu',
    'gelu' (erf) or 'gelu_tanh', applied while the tile is in cache. Transposed
    views need no copy. out (if given) is written and returned.
    """
    a, b = np.asarray(a), np.asarray(b)
    if out is None:
        if a.ndim not in (2, 3) or b.ndim not in (2, 3):
            raise ValueError(f"matmul: arguments 'a' and 'b' expected 2-D or 3-D arrays, got shapes {a.shape} and {b.shape}")
        m = a.shape[-1] if trans_a else a.shape[-2]
        n = b.shape[-2] if trans_b else b.shape[-1]
        batch = a.shape[:-2] or b.shape[:-2]
        out = np.empty(batch + (m, n), dtype=a.dtype)
    if bias is not None:
        bias = np.ascontiguousarray(bias)
    _C.gemm(out, a, b, trans_a, trans_b, bias=bias, activation=activation or "none")
    return out
