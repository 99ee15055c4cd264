"""CPU backend: numpy arrays, kernels from ``nerve._C``."""
import ml_dtypes
import numpy as np

from nerve import _C
from nerve import random as _random

xp = np
name = "cpu"


def asarray(data, dtype=None):
    return np.asarray(data, dtype=dtype)


def to_numpy(array):
    return array


def matmul(a, b, trans_a=False, trans_b=False, out=None, out_dtype=None):
    """op(a) @ op(b) for 2-D or batched 3-D float arrays, on the native GEMM.

    A 2-D operand is shared by every batch; ``out`` (if given) is written.
    Non-float dtypes and arrays with no unit stride fall back to a copy.
    bfloat16 a and b: float32 accumulation, the result in ``out_dtype``
    (bfloat16 by default, or float32).
    """
    if a.dtype == _BFLOAT16 and b.dtype == _BFLOAT16:
        return _matmul_bf16(a, b, trans_a, trans_b, out, np.dtype(out_dtype or _BFLOAT16))
    return _matmul_with(np, a, b, trans_a, trans_b, out,
                       lambda out, a, b: _C.gemm(out, a, b, trans_a, trans_b))


def _matmul_with(xp, a, b, trans_a, trans_b, out, gemm):
    """The matmul of both backends around their GEMM kernel: mixed or non-float dtypes through
    xp.matmul; else out allocated (a 2-D operand is shared by every batch), an empty problem zeroed,
    and gemm(out, a, b) called with operands that have a unit stride."""
    if a.dtype != b.dtype or a.dtype not in (np.float32, np.float64):
        r = xp.matmul(xp.swapaxes(a, -1, -2) if trans_a else a, xp.swapaxes(b, -1, -2) if trans_b else b)
        if out is not None:
            out[...] = r
            return out
        return r
    m = a.shape[-1] if trans_a else a.shape[-2]
    n = b.shape[-2] if trans_b else b.shape[-1]
    if out is None:
        batch = a.shape[:-2] or b.shape[:-2]
        out = xp.empty(batch + (m, n), dtype=a.dtype)
    if a.size == 0 or b.size == 0:  # an empty batch, M, N or K: the strides of empty arrays mean nothing
        out[...] = 0
        return out
    gemm(out, _unit_stride(a), _unit_stride(b))
    return out


# ------------------------------------------------------------------ bfloat16
# ml_dtypes' bfloat16 arrays (NumPy kind 'V'). float32 -> bf16 rounds to
# nearest even, bf16 -> float32 is exact (bf16 is float32's upper half).
# Measured on 4M elements (best of 7, Xeon with AVX512-BF16/AMX, shared):
# float32 -> bf16 native 1.7 ms, ml_dtypes' astype 26-30 ms; bf16 -> float32
# native 1.6-2.2 ms, the uint16 shift below 1.2-2.3 ms, ml_dtypes 2.3-2.6 ms
# (memory bound). Both directions use the native kernels when built.
_BFLOAT16 = np.dtype(ml_dtypes.bfloat16)


def astype(x, dtype):
    """A copy of x in dtype; float32 <-> bfloat16 on nerve._C's conversion kernels when it has them."""
    dtype = np.dtype(dtype)
    if x.dtype == np.float32 and dtype == _BFLOAT16:
        return _to_bf16(x)
    if x.dtype == _BFLOAT16 and dtype == np.float32:
        return _from_bf16(x)
    if x.dtype == _BFLOAT16 and dtype != _BFLOAT16:
        return _from_bf16(x).astype(dtype)
    return x.astype(dtype)


_NATIVE_BF16 = hasattr(_C, "bf16_from_float32")  # nerve._C built with the bf16 kernels


def _to_bf16(x):
    if not _NATIVE_BF16:
        return x.astype(_BFLOAT16)  # ml_dtypes: round to nearest even, NaN stays NaN
    x = np.asarray(x, order="C")
    out = np.empty(x.shape, _BFLOAT16)
    _C.bf16_from_float32(out, x)  # vectorised round to nearest even, bitwise as ml_dtypes
    return out


def _from_bf16(x):
    x = np.asarray(x, order="C")
    out = np.empty(x.shape, np.float32)
    if _NATIVE_BF16:
        _C.float32_from_bf16(out, x)
    else:  # the bits shifted into a float32's upper half (exact)
        np.left_shift(x.view(np.uint16), 16, out=out.view(np.uint32), dtype=np.uint32)
    return out


def _matmul_bf16(a, b, trans_a, trans_b, out, out_dtype):
    """bf16 GEMM with float32 accumulation (each product of two bf16 numbers is exact in float32), rounded
    once at the end: nerve._C's bf16 GEMM, or else a float32 GEMM on the widened operands."""
    if _NATIVE_BF16:
        m = a.shape[-1] if trans_a else a.shape[-2]
        n = b.shape[-2] if trans_b else b.shape[-1]
        if out is None:
            out = np.empty((a.shape[:-2] or b.shape[:-2]) + (m, n), dtype=out_dtype)
        if a.size == 0 or b.size == 0:
            out[...] = 0
            return out
        _C.gemm(out, _unit_stride(a), _unit_stride(b), trans_a, trans_b)
        return out
    r = matmul(_from_bf16(a), _from_bf16(b), trans_a, trans_b)
    r = r if out_dtype == np.float32 else _to_bf16(r)
    if out is not None:
        out[...] = r
        return out
    return r


def sum_float32(x, axis=None, keepdims=False):
    """x summed over axis with float32 accumulation (bf16 sums accumulate in float32, as PyTorch's do);
    the result in x's dtype."""
    if x.dtype != _BFLOAT16:
        return x.sum(axis=axis, keepdims=keepdims)
    return _to_bf16(np.asarray(_from_bf16(x).sum(axis=axis, keepdims=keepdims)))


def _unit_stride(x):
    """x itself when the GEMM binding can read it in place (unit stride along
    rows or columns, the other stride at least a row/column long; strides of
    length-1 dims do not matter), else a contiguous copy."""
    item = x.itemsize
    rows, cols = x.shape[-2:]
    rs, cs = x.strides[-2:]
    by_rows = (cs == item or cols <= 1) and rs >= max(cols, 1) * item and rs % item == 0
    by_cols = (rs == item or rows <= 1) and cs >= max(rows, 1) * item and cs % item == 0
    if (by_rows or by_cols) and all(s >= 0 and s % item == 0 for s in x.strides[:-2]):
        return x
    return x.copy(order="C")  # not ascontiguousarray: it keeps the odd strides of length-1 dims


def _float_contiguous(x):
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    return np.asarray(x, order="C")  # not ascontiguousarray: it turns a 0-d array into shape (1,)


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
    grad = np.asarray(grad, dtype=x.dtype, order="C")
    out = np.empty_like(x)
    _C.gelu_backward(out, grad, x, approximate)
    return out


# ----------------------------------------------------------------------- loss
def cross_entropy_forward(logits, target, weight=None, ignore_index=-100, label_smoothing=0.0):
    """Fused softmax cross-entropy of rows: logits (N, C) float, target (N,) int64 (in [0, C) or
    ignore_index), weight (C,) or None -> (loss (N,) logits' dtype, lse (N,) float64)."""
    logits, target = np.ascontiguousarray(logits), np.ascontiguousarray(target, dtype=np.int64)
    weight = None if weight is None else np.ascontiguousarray(weight, dtype=logits.dtype)
    n = logits.shape[0] if logits.ndim else 0
    loss, lse = np.empty(n, logits.dtype), np.empty(n, np.float64)
    _C.cross_entropy_forward(loss, lse, logits, target, weight, int(ignore_index), float(label_smoothing))
    return loss, lse


def cross_entropy_backward(grad_loss, logits, lse, target, weight=None, ignore_index=-100, label_smoothing=0.0):
    """grad_logits (N, C) from the per-row loss gradient grad_loss (N,) and the forward's lse."""
    logits, target = np.ascontiguousarray(logits), np.ascontiguousarray(target, dtype=np.int64)
    weight = None if weight is None else np.ascontiguousarray(weight, dtype=logits.dtype)
    grad_loss = np.ascontiguousarray(grad_loss, dtype=logits.dtype)
    grad_logits = np.empty_like(logits)
    _C.cross_entropy_backward(grad_logits, grad_loss, logits, lse, target, weight, int(ignore_index),
                              float(label_smoothing))
    return grad_logits


# -------------------------------------------------------------------- dropout
def dropout_mask(shape, p, dtype):
    """Array of 0 and 1/(1-p) with P(0) = p, from nerve's seeded generator (nerve.random)."""
    dtype = np.dtype(dtype)
    keep = _random.generator().random(shape) >= p
    return keep.astype(dtype) / dtype.type(1 - p)


# ----------------------------------------------------------------- optimizers
# In-place updates of a parameter and its state by one fused native loop
# (csrc/cpu/optim.cpp). State arrays are the optimizer's own (contiguous, the
# parameter's dtype); the gradient is made contiguous in that dtype here, and
# a non-contiguous parameter is updated through a contiguous copy.
def _optim_call(kernel, param, states, grad, **options):
    grad = np.asarray(grad, dtype=param.dtype, order="C")  # keeps a 0-d parameter's shape
    work = param if param.flags.c_contiguous else np.asarray(param, order="C")
    kernel(work, *states, grad, **options)
    if work is not param:
        param[...] = work


def sgd_step(param, momentum_buffer, grad, **options):
    """SGD (momentum, dampening, nesterov, weight_decay, maximize, first_step); buffer None without momentum."""
    _optim_call(_C.sgd_step, param, (momentum_buffer,), grad, **options)


def adam_step(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, **options):
    """Adam/AdamW (decoupled=True); amsgrad when max_exp_avg_sq is an array."""
    _optim_call(_C.adam_step, param, (exp_avg, exp_avg_sq, max_exp_avg_sq), grad, **options)


def rmsprop_step(param, square_avg, grad_avg, momentum_buffer, grad, **options):
    """RMSprop; centered when grad_avg is an array, momentum when momentum_buffer is."""
    _optim_call(_C.rmsprop_step, param, (square_avg, grad_avg, momentum_buffer), grad, **options)


def adagrad_step(param, state_sum, grad, **options):
    _optim_call(_C.adagrad_step, param, (state_sum,), grad, **options)


def adadelta_step(param, square_avg, acc_delta, grad, **options):
    _optim_call(_C.adadelta_step, param, (square_avg, acc_delta), grad, **options)


# ------------------------------------------------------------------ recurrent
# One layer, one direction, whole sequence in nerve._C (see csrc/cpu/rnn.h).
# x (T, B, I), h0/c0 (B, H), w_ih (G*H, I), w_hh (G*H, H), b_* (G*H) or None,
# lengths (B,) ints or None. Forward returns the outputs plus the reserve
# that backward needs; backward returns one gradient per input (None for an
# absent bias).

def _c(a):
    return None if a is None else np.ascontiguousarray(a)


def _lengths(lengths):
    return None if lengths is None else np.ascontiguousarray(lengths, dtype=np.int64)


def _sizes(x, w_hh):
    """T, B, H (zeros for a malformed x or w_hh: the kernel's checks then report it)."""
    ok = x.ndim == 3 and w_hh.ndim == 2
    return (x.shape[0], x.shape[1], w_hh.shape[1]) if ok else (0, 0, 0)


def _outputs(T, B, H, n_states, dtype):
    """y (T, B, H) and n_states final states (B, H)."""
    return (np.empty((T, B, H), dtype),) + tuple(np.empty((B, H), dtype) for _ in range(n_states))


def _bias_grads(w_ih, b_ih, b_hh):
    gh = w_ih.shape[0]
    return (None if b_ih is None else np.empty(gh, w_ih.dtype)), (None if b_hh is None else np.empty(gh, w_ih.dtype))


def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None):
    """-> y (T, B, H), h_n (B, H), c_n (B, H), reserve (T, B, 5H)."""
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = map(_c, (x, h0, c0, w_ih, w_hh, b_ih, b_hh))
    T, B, H = _sizes(x, w_hh)
    y, h_n, c_n = _outputs(T, B, H, 2, x.dtype)
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


def gru_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None):
    """-> y (T, B, H), h_n (B, H), reserve (T, B, 4H)."""
    x, h0, w_ih, w_hh, b_ih, b_hh = map(_c, (x, h0, w_ih, w_hh, b_ih, b_hh))
    T, B, H = _sizes(x, w_hh)
    y, h_n = _outputs(T, B, H, 1, x.dtype)
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


def rnn_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, nonlinearity="tanh"):
    """-> y (T, B, H), h_n (B, H). Backward needs only y."""
    x, h0, w_ih, w_hh, b_ih, b_hh = map(_c, (x, h0, w_ih, w_hh, b_ih, b_hh))
    T, B, H = _sizes(x, w_hh)
    y, h_n = _outputs(T, B, H, 1, x.dtype)
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


def reverse_index(T, B, lengths=None):
    """(T, B) int time index that reverses each sequence within its length: out[t, b] = x[idx[t, b], b],
    idx[t, b] = lengths[b] - 1 - t for t < lengths[b], else t (all of T reversed without lengths)."""
    t = np.arange(T)[:, None]
    if lengths is None:
        return np.ascontiguousarray(np.broadcast_to(T - 1 - t, (T, B)))
    n = np.asarray(lengths)[None, :]
    return np.where(t < n, n - 1 - t, t)


# ------------------------------------------------------------ conv, pool, norm
# Outputs are allocated here and filled by nerve._C, which checks every shape,
# dtype and option (and names the op and argument when one is wrong). Inputs
# are made C-contiguous first; dtypes are not converted (a mismatch raises).

def _pair(v):
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else (int(v[0]), int(v[1]))


def _check_4d(op, name, a):
    if a.ndim != 4:
        raise ValueError(f"{op}: argument '{name}' expected a 4-D array, got shape {tuple(a.shape)}")


def conv_out_size(size, k, stride, pad, dilation):
    """Output length of a convolution along one axis (as nerve::cpu::conv_out_size)."""
    span = size + 2 * pad - dilation * (k - 1) - 1
    return 0 if span < 0 or stride < 1 else span // stride + 1  # bad options: nerve._C says what is wrong


def pool_out_size(size, k, stride, pad, dilation, ceil_mode):
    """PyTorch's pooling output length (as nerve::cpu::pool_out_size)."""
    span = size + 2 * pad - dilation * (k - 1) - 1 + (stride - 1 if ceil_mode else 0)
    if span < 0 or stride < 1:
        return 0
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def conv2d_forward(x, weight, bias, stride, padding, dilation, groups):
    """x (N, C, H, W), weight (K, C/groups, kh, kw), bias (K,) or None -> (N, K, OH, OW)."""
    x, weight = np.ascontiguousarray(x), np.ascontiguousarray(weight)
    bias = None if bias is None else np.ascontiguousarray(bias)
    _check_4d("conv2d_forward", "x", x)
    _check_4d("conv2d_forward", "weight", weight)
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    oh, ow = (conv_out_size(x.shape[2 + i], weight.shape[2 + i], stride[i], padding[i], dilation[i]) for i in (0, 1))
    out = np.empty((x.shape[0], weight.shape[0], oh, ow), dtype=x.dtype)
    _C.conv2d_forward(out, x, weight, bias, stride, padding, dilation, int(groups))
    return out


def conv2d_backward_input(grad, weight, input_shape, stride, padding, dilation, groups):
    """Gradient of conv2d w.r.t. its input, of shape input_shape (N, C, H, W)."""
    grad, weight = np.ascontiguousarray(grad), np.ascontiguousarray(weight)
    out = np.empty(tuple(input_shape), dtype=grad.dtype)
    _C.conv2d_backward_input(out, grad, weight, _pair(stride), _pair(padding), _pair(dilation), int(groups))
    return out


def conv2d_backward_weight(x, grad, weight_shape, stride, padding, dilation, groups, bias=True):
    """Gradients of conv2d w.r.t. weight (weight_shape) and, when bias, bias: (grad_weight, grad_bias or None)."""
    x, grad = np.ascontiguousarray(x), np.ascontiguousarray(grad)
    gw = np.empty(tuple(weight_shape), dtype=x.dtype)
    gb = np.empty(weight_shape[0], dtype=x.dtype) if bias else None
    _C.conv2d_backward_weight(gw, gb, x, grad, _pair(stride), _pair(padding), _pair(dilation), int(groups))
    return gw, gb


def conv_transpose2d_out_shape(x, weight, stride, padding, output_padding, dilation, groups):
    """Output shape (N, Cout, OH, OW) of a transposed conv; checks what conv2d's kernels cannot see."""
    op = "conv_transpose2d"
    _check_4d(op, "x", x)
    _check_4d(op, "weight", weight)
    stride, padding, output_padding, dilation = _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation)
    if weight.shape[0] != x.shape[1]:
        raise ValueError(f"{op}: argument 'weight' expected shape (C_in={x.shape[1]}, C_out/groups, kh, kw), "
                         f"got {tuple(weight.shape)}")
    for i in (0, 1):
        if not 0 <= output_padding[i] < stride[i]:
            raise ValueError(f"{op}: argument 'output_padding' expected values in [0, stride), got {output_padding} "
                             f"for stride {stride}")
    size = [(x.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (weight.shape[2 + i] - 1)
            + output_padding[i] + 1 for i in (0, 1)]
    if min(size) < 1:
        raise ValueError(f"{op}: output size {tuple(size)} is not positive (input {tuple(x.shape)}, padding {padding})")
    return (x.shape[0], weight.shape[1] * int(groups), size[0], size[1])


def conv_transpose2d_forward(x, weight, bias, stride, padding, output_padding, dilation, groups):
    """x (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw) -> (N, C_out, OH, OW): conv2d's input gradient."""
    x, weight = np.ascontiguousarray(x), np.ascontiguousarray(weight)
    shape = conv_transpose2d_out_shape(x, weight, stride, padding, output_padding, dilation, groups)
    out = conv2d_backward_input(x, weight, shape, stride, padding, dilation, groups)
    if bias is not None:
        if bias.shape != (shape[1],):
            raise ValueError(f"conv_transpose2d: argument 'bias' expected shape ({shape[1]},), got {tuple(bias.shape)}")
        out += bias.reshape(-1, 1, 1)
    return out


def max_pool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode):
    """x (N, C, H, W) -> (out, indices), indices int64 flat in each H*W plane."""
    x = np.ascontiguousarray(x)
    _check_4d("max_pool2d_forward", "x", x)
    k, s, p, d = _pair(kernel_size), _pair(stride), _pair(padding), _pair(dilation)
    oh, ow = (max(pool_out_size(x.shape[2 + i], k[i], s[i], p[i], d[i], ceil_mode), 0) for i in (0, 1))
    out = np.empty(x.shape[:2] + (oh, ow), dtype=x.dtype)
    indices = np.empty(out.shape, dtype=np.int64)
    _C.max_pool2d_forward(out, indices, x, k, s, p, d, bool(ceil_mode))
    return out, indices


def max_pool2d_backward(grad, indices, input_shape):
    grad, indices = np.ascontiguousarray(grad), np.ascontiguousarray(indices)
    out = np.empty(tuple(input_shape), dtype=grad.dtype)
    _C.max_pool2d_backward(out, grad, indices)
    return out


def avg_pool2d_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    x = np.ascontiguousarray(x)
    _check_4d("avg_pool2d_forward", "x", x)
    k, s, p = _pair(kernel_size), _pair(stride), _pair(padding)
    oh, ow = (pool_out_size(x.shape[2 + i], k[i], s[i], p[i], 1, ceil_mode) for i in (0, 1))
    out = np.empty(x.shape[:2] + (oh, ow), dtype=x.dtype)
    _C.avg_pool2d_forward(out, x, k, s, p, bool(ceil_mode), bool(count_include_pad), int(divisor_override or 0))
    return out


def avg_pool2d_backward(grad, input_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                        divisor_override):
    grad = np.ascontiguousarray(grad)
    out = np.empty(tuple(input_shape), dtype=grad.dtype)
    _C.avg_pool2d_backward(out, grad, _pair(kernel_size), _pair(stride), _pair(padding), bool(ceil_mode),
                           bool(count_include_pad), int(divisor_override or 0))
    return out


def adaptive_avg_pool2d_forward(x, output_size):
    x = np.ascontiguousarray(x)
    _check_4d("adaptive_avg_pool2d_forward", "x", x)
    oh, ow = (x.shape[2 + i] if v is None else int(v) for i, v in enumerate(
        (output_size, output_size) if isinstance(output_size, (int, np.integer)) else output_size))
    if oh < 0 or ow < 0:
        raise ValueError(f"adaptive_avg_pool2d_forward: argument 'output_size' expected values >= 1, got {(oh, ow)}")
    out = np.empty(x.shape[:2] + (oh, ow), dtype=x.dtype)
    _C.adaptive_avg_pool2d_forward(out, x)
    return out


def adaptive_avg_pool2d_backward(grad, input_shape):
    grad = np.ascontiguousarray(grad)
    out = np.empty(tuple(input_shape), dtype=grad.dtype)
    _C.adaptive_avg_pool2d_backward(out, grad)
    return out


def _as_ncl(op, x):
    if x.ndim < 2:
        raise ValueError(f"{op}: argument 'x' expected shape (N, C, ...), got {tuple(x.shape)}")
    return np.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], int(np.prod(x.shape[2:])))


def batch_norm_forward(x, weight, bias, running_mean, running_var, training, momentum, eps):
    """x (N, C, ...) -> (out, save_mean, save_invstd); updates running_mean/var in place when training.

    running_mean/var are passed as they are (a copy would lose the update):
    they must be contiguous arrays of x's dtype, or None."""
    x3 = _as_ncl("batch_norm_forward", x)
    weight = None if weight is None else np.ascontiguousarray(weight)
    bias = None if bias is None else np.ascontiguousarray(bias)
    out = np.empty_like(x3)
    mean = np.empty(x3.shape[1], dtype=x3.dtype)
    invstd = np.empty_like(mean)
    _C.batch_norm_forward(out, mean, invstd, x3, weight, bias, running_mean, running_var, bool(training),
                          float(momentum), float(eps))
    return out.reshape(x.shape), mean, invstd


def batch_norm_backward(grad, x, weight, save_mean, save_invstd, training, needs=(True, True, True)):
    """(grad_input, grad_weight, grad_bias), each None where needs says so (or weight is None)."""
    x3 = _as_ncl("batch_norm_backward", x)
    if tuple(grad.shape) != tuple(x.shape):
        raise ValueError(f"batch_norm_backward: argument 'grad_out' expected shape {tuple(x.shape)} (like 'x'), "
                         f"got {tuple(grad.shape)}")
    g3 = np.ascontiguousarray(grad).reshape(x3.shape)
    weight = None if weight is None else np.ascontiguousarray(weight)
    gx = np.empty_like(x3) if needs[0] else None
    gw = np.empty(x3.shape[1], dtype=x3.dtype) if needs[1] else None
    gb = np.empty(x3.shape[1], dtype=x3.dtype) if needs[2] else None
    _C.batch_norm_backward(gx, gw, gb, g3, x3, weight, save_mean, save_invstd, bool(training))
    return (None if gx is None else gx.reshape(x.shape)), gw, gb


def _last_dim_contiguous(x):
    return x if x.shape[-1] <= 1 or x.strides[-1] == x.itemsize else np.ascontiguousarray(x)


def attention_forward(q, k, v, attn_mask=None, scale=1.0, is_causal=False, dropout_p=0.0, seed=0, key_mask=None):
    """Fused attention on (B, H, L, D) / (B, H, S, D) arrays: returns out (B, H, L, D) and lse (B, H, L).

    attn_mask: None, bool (True = take part) or additive float of q's dtype,
    broadcastable to (B, H, L, S). Fully masked rows give out = 0, lse = -inf.
    dropout_p > 0 drops probabilities by a hash of (seed, row, column).
    key_mask: None or bool (B, S), True = key takes part, on top of attn_mask.
    """
    q, k, v = (_last_dim_contiguous(x) for x in (q, k, v))
    out = np.empty(q.shape, dtype=q.dtype)
    lse = np.empty(q.shape[:3], dtype=q.dtype)
    _C.attention_forward(out, lse, q, k, v, attn_mask, float(scale), bool(is_causal), float(dropout_p), int(seed), key_mask)
    return out, lse


def attention_backward(grad, q, k, v, out, lse, attn_mask=None, scale=1.0, is_causal=False, dropout_p=0.0, seed=0,
                       key_mask=None):
    """Gradients (dq, dk, dv) of attention_forward given d(out) = grad (same dropout_p and seed)."""
    grad, q, k, v = (_last_dim_contiguous(x) for x in (grad, q, k, v))
    dq, dk, dv = np.empty(q.shape, q.dtype), np.empty(k.shape, k.dtype), np.empty(v.shape, v.dtype)
    _C.attention_backward(dq, dk, dv, grad, q, k, v, out, lse, attn_mask, float(scale), bool(is_causal),
                          float(dropout_p), int(seed), key_mask)
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
