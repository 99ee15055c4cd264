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
# ------------------------------------------------------------------ recurrent
# One layer, one direction, whole sequence in nerve._C (see csrc/cpu/rnn.h).
# x (T, B, I), h0/c0 (B, H), w_ih (G*H, I), w_hh (G*H, H), b_* (G*H) or None,
# lengths (B,) ints or None. Forward returns the outputs plus the reserve
# that backward needs; backward returns one gradient per input (None for an
# absent bias). `packed`, if given, is a (T + 2 (lstm) or T + 1, B, H) array
# that receives y, h_n (and c_n) one after the other (ops/rnn.py returns it
# as one tensor).

def _c(a):
    return None if a is None else np.ascontiguousarray(a)


def _lengths(lengths):
    return None if lengths is None else np.ascontiguousarray(lengths, dtype=np.int64)


def _sizes(x, w_hh):
    """T, B, H (zeros for a malformed x or w_hh: the kernel's checks then report it)."""
    ok = x.ndim == 3 and w_hh.ndim == 2
    return (x.shape[0], x.shape[1], w_hh.shape[1]) if ok else (0, 0, 0)


def _outputs(packed, T, B, H, n_states, dtype):
    """y (T, B, H) and n_states (B, H) arrays: views of `packed`, or new."""
    if packed is None:
        packed = np.empty((T + n_states, B, H), dtype)
    return (packed[:T],) + tuple(packed[T + k] for k in range(n_states))


def _bias_grads(w_ih, b_ih, b_hh):
    gh = w_ih.shape[0]
    return (None if b_ih is None else np.empty(gh, w_ih.dtype)), (None if b_hh is None else np.empty(gh, w_ih.dtype))


def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, packed=None):
    """-> y (T, B, H), h_n (B, H), c_n (B, H), reserve (T, B, 5H)."""
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = map(_c, (x, h0, c0, w_ih, w_hh, b_ih, b_hh))
    T, B, H = _sizes(x, w_hh)
    y, h_n, c_n = _outputs(packed, T, B, H, 2, x.dtype)
    reserve = np.empty((T, B, 5 * H), x.dtype)
    _C.lstm_forward(y, h_n, c_n, reserve, x, h0, c0, w_ih, w_hh, b_ih, b_hh, _lengths(lengths))
    return y, h_n, c_n, reserve


def lstm_backward(dy, dh_n, dc_n, x, h0, c0, w_ih, w_hh, y, reserve, b_ih=None, b_hh=None, lengths=None):
    """-> dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh (biases only tell which bias grads to return)."""
    dy, dh_n, dc_n, x, h0, c0, w_ih, w_hh = map(_c, (dy, dh_n, dc_n, x, h0, c0, w_ih, w_hh))
    dx, dh0, dc0 = np.empty_like(x), np.empty_like(h0), np.empty_like(c0)
    dw_ih, dw_hh = np.empty_like(w_ih), np.empty_like(w_hh)
    db_ih, db_hh = _bias_grads(w_ih, b_ih, b_hh)
    _C.lstm_backward(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dy, dh_n, dc_n, x, h0, c0, w_ih, w_hh, y, reserve,
                     _lengths(lengths))
    return dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh


def gru_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, packed=None):
    """-> y (T, B, H), h_n (B, H), reserve (T, B, 4H)."""
    x, h0, w_ih, w_hh, b_ih, b_hh = map(_c, (x, h0, w_ih, w_hh, b_ih, b_hh))
    T, B, H = _sizes(x, w_hh)
    y, h_n = _outputs(packed, T, B, H, 1, x.dtype)
    reserve = np.empty((T, B, 4 * H), x.dtype)
    _C.gru_forward(y, h_n, reserve, x, h0, w_ih, w_hh, b_ih, b_hh, _lengths(lengths))
    return y, h_n, reserve


def gru_backward(dy, dh_n, x, h0, w_ih, w_hh, y, reserve, b_ih=None, b_hh=None, lengths=None):
    """-> dx, dh0, dw_ih, dw_hh, db_ih, db_hh."""
    dy, dh_n, x, h0, w_ih, w_hh = map(_c, (dy, dh_n, x, h0, w_ih, w_hh))
    dx, dh0, dw_ih, dw_hh = np.empty_like(x), np.empty_like(h0), np.empty_like(w_ih), np.empty_like(w_hh)
    db_ih, db_hh = _bias_grads(w_ih, b_ih, b_hh)
    _C.gru_backward(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dy, dh_n, x, h0, w_ih, w_hh, y, reserve, _lengths(lengths))
    return dx, dh0, dw_ih, dw_hh, db_ih, db_hh


def rnn_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, nonlinearity="tanh", packed=None):
    """-> y (T, B, H), h_n (B, H). Backward needs only y."""
    x, h0, w_ih, w_hh, b_ih, b_hh = map(_c, (x, h0, w_ih, w_hh, b_ih, b_hh))
    T, B, H = _sizes(x, w_hh)
    y, h_n = _outputs(packed, T, B, H, 1, x.dtype)
    _C.rnn_forward(y, h_n, x, h0, w_ih, w_hh, b_ih, b_hh, _lengths(lengths), nonlinearity)
    return y, h_n


def rnn_backward(dy, dh_n, x, h0, w_ih, w_hh, y, b_ih=None, b_hh=None, lengths=None, nonlinearity="tanh"):
    """-> dx, dh0, dw_ih, dw_hh, db_ih, db_hh."""
    dy, dh_n, x, h0, w_ih, w_hh = map(_c, (dy, dh_n, x, h0, w_ih, w_hh))
    dx, dh0, dw_ih, dw_hh = np.empty_like(x), np.empty_like(h0), np.empty_like(w_ih), np.empty_like(w_hh)
    db_ih, db_hh = _bias_grads(w_ih, b_ih, b_hh)
    _C.rnn_backward(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, dy, dh_n, x, h0, w_ih, w_hh, y, _lengths(lengths),
                    nonlinearity)
    return dx, dh0, dw_ih, dw_hh, db_ih, db_hh
