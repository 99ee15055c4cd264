"""Raw kernels on arrays, no autograd: for microbenchmarks and for users who
want just a fast GEMM, conv, LSTM step or attention.

Each kernel appears once, under its backend name (``<op>_forward`` /
``<op>_backward``, as in ``nerve._C``) and with the backend's argument
order (backend/cpu.py); the array's device picks the backend. Outputs are
allocated by the backend and filled by the native kernels. Defaults are
added here where the backend has none (stride, scale, ...).
"""
import numpy as np

from nerve import _C, backend

get_num_threads = _C.get_num_threads
set_num_threads = _C.set_num_threads
isa = _C.isa
set_isa = _C.set_isa


def gelu_forward(x, approximate="none"):
    """GELU of a float array (exact erf form, or approximate='tanh')."""
    return backend.of(x).gelu_forward(x, approximate)


def gelu_backward(grad, x, approximate="none"):
    return backend.of(x).gelu_backward(grad, x, approximate)


def matmul(a, b, trans_a=False, trans_b=False, out=None, bias=None, activation=None, out_dtype=None):
    """act(op(a) @ op(b) + bias) on the native GEMM, op = transpose when trans_*.

    a: (M, K) or (B, M, K) ((K, M) when trans_a); b: (K, N) or (B, K, N) ((N, K)
    when trans_b); a 2-D operand is shared by every batch. float32 or float64,
    same dtype for all; or a and b ml_dtypes.bfloat16 with float32
    accumulation, out bfloat16 (default) or float32 (out_dtype=np.float32),
    bias float32 or bfloat16. bias: (N,) added to every row; activation: None,
    'relu', 'gelu' (erf) or 'gelu_tanh', applied while the tile is in cache.
    Transposed views need no copy. out (if given) is written and returned.
    """
    a, b = np.asarray(a), np.asarray(b)
    if out is None:
        if a.ndim not in (2, 3) or b.ndim not in (2, 3):
            raise ValueError(f"matmul: arguments 'a' and 'b' expected 2-D or 3-D arrays, got shapes {a.shape} and {b.shape}")
        m = a.shape[-1] if trans_a else a.shape[-2]
        n = b.shape[-2] if trans_b else b.shape[-1]
        batch = a.shape[:-2] or b.shape[:-2]
        out = np.empty(batch + (m, n), dtype=a.dtype if out_dtype is None else out_dtype)
    if bias is not None:
        bias = np.ascontiguousarray(bias)
    _C.gemm(out, a, b, trans_a, trans_b, bias=bias, activation=activation or "none")
    return out


def bf16_from_float32(x, out=None):
    """x (float32) rounded to ml_dtypes.bfloat16: nearest, ties to even, NaN stays
    a quiet NaN (bitwise what ``x.astype(ml_dtypes.bfloat16)`` gives), in native
    vectorised code. out (if given: bfloat16, x's shape, C-contiguous) is written."""
    import ml_dtypes

    x = np.ascontiguousarray(x, dtype=np.float32)
    if out is None:
        out = np.empty(x.shape, dtype=ml_dtypes.bfloat16)
    _C.bf16_from_float32(out, x)
    return out


def float32_from_bf16(x, out=None):
    """x (ml_dtypes.bfloat16) widened to float32 (exact)."""
    x = np.ascontiguousarray(x)
    if out is None:
        out = np.empty(x.shape, dtype=np.float32)
    _C.float32_from_bf16(out, x)
    return out


def cross_entropy_forward(logits, target, weight=None, ignore_index=-100, label_smoothing=0.0):
    """Per-row softmax cross-entropy of logits (N, C) at int64 class indices target (N,);
    returns (loss (N,) in logits' dtype, lse (N,) float64 for cross_entropy_backward)."""
    logits = np.ascontiguousarray(logits)
    loss, lse = np.empty(logits.shape[0], logits.dtype), np.empty(logits.shape[0], np.float64)
    _C.cross_entropy_forward(loss, lse, logits, np.ascontiguousarray(target), weight, ignore_index, label_smoothing)
    return loss, lse


def cross_entropy_backward(grad_loss, logits, lse, target, weight=None, ignore_index=-100, label_smoothing=0.0):
    """d loss / d logits (N, C) for the per-row loss gradient grad_loss (N,)."""
    logits = np.ascontiguousarray(logits)
    grad = np.empty_like(logits)
    _C.cross_entropy_backward(grad, np.ascontiguousarray(grad_loss, dtype=logits.dtype), logits, lse,
                              np.ascontiguousarray(target), weight, ignore_index, label_smoothing)
    return grad


# ------------------------------------------------------------------ recurrent
# Sequences are (T, B, features); one layer, one direction. lengths (B,)
# gives each batch element's sequence length: steps at or past it keep the
# state and output zeros, as PyTorch's packed sequences do. Backward returns
# one gradient per input, None for an absent bias.

def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None):
    """LSTM layer (gates i, f, g, o) -> y (T, B, H), h_n, c_n (B, H), reserve (T, B, 5H) for lstm_backward."""
    return backend.of(x).lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths)


def lstm_backward(dy, dh_n, dc_n, x, h0, c0, w_ih, w_hh, y, reserve, b_ih=None, b_hh=None, lengths=None):
    """-> dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh."""
    return backend.of(x).lstm_backward(dy, dh_n, dc_n, x, h0, c0, w_ih, w_hh, y, reserve, b_ih, b_hh, lengths)


def gru_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None):
    """GRU layer (gates r, z, n; b_hn inside the reset product) -> y, h_n, reserve (T, B, 4H)."""
    return backend.of(x).gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, lengths)


def gru_backward(dy, dh_n, x, h0, w_ih, w_hh, y, reserve, b_ih=None, b_hh=None, lengths=None):
    """-> dx, dh0, dw_ih, dw_hh, db_ih, db_hh."""
    return backend.of(x).gru_backward(dy, dh_n, x, h0, w_ih, w_hh, y, reserve, b_ih, b_hh, lengths)


def rnn_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, nonlinearity="tanh"):
    """Elman RNN layer, h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act tanh or relu -> y, h_n."""
    return backend.of(x).rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, nonlinearity)


def rnn_backward(dy, dh_n, x, h0, w_ih, w_hh, y, b_ih=None, b_hh=None, lengths=None, nonlinearity="tanh"):
    """-> dx, dh0, dw_ih, dw_hh, db_ih, db_hh (needs y from rnn_forward)."""
    return backend.of(x).rnn_backward(dy, dh_n, x, h0, w_ih, w_hh, y, b_ih, b_hh, lengths, nonlinearity)


# One step (x (B, I), h, c (B, H)): the sequence kernels with T = 1. The cell
# backward recomputes the step's forward (cheap) instead of keeping a reserve.

def lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """-> h', c' (B, H)."""
    _, h_n, c_n, _ = lstm_forward(x[None], h, c, w_ih, w_hh, b_ih, b_hh)
    return h_n, c_n


def lstm_cell_backward(dh_new, dc_new, x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """Gradients of lstm_cell_forward given dL/dh', dL/dc' -> dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh."""
    y, _, _, reserve = lstm_forward(x[None], h, c, w_ih, w_hh, b_ih, b_hh)
    dx, *rest = lstm_backward(dh_new[None] * 0, dh_new, dc_new, x[None], h, c, w_ih, w_hh, y, reserve, b_ih, b_hh)
    return (dx[0], *rest)


def gru_cell_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """-> h' (B, H)."""
    return gru_forward(x[None], h, w_ih, w_hh, b_ih, b_hh)[1]


def gru_cell_backward(dh_new, x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """Gradients of gru_cell_forward given dL/dh' -> dx, dh, dw_ih, dw_hh, db_ih, db_hh."""
    y, _, reserve = gru_forward(x[None], h, w_ih, w_hh, b_ih, b_hh)
    dx, *rest = gru_backward(dh_new[None] * 0, dh_new, x[None], h, w_ih, w_hh, y, reserve, b_ih, b_hh)
    return (dx[0], *rest)


def rnn_cell_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """-> h' (B, H)."""
    return rnn_forward(x[None], h, w_ih, w_hh, b_ih, b_hh, None, nonlinearity)[1]


def rnn_cell_backward(dh_new, x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """Gradients of rnn_cell_forward given dL/dh' -> dx, dh, dw_ih, dw_hh, db_ih, db_hh."""
    y, _ = rnn_forward(x[None], h, w_ih, w_hh, b_ih, b_hh, None, nonlinearity)
    dx, *rest = rnn_backward(dh_new[None] * 0, dh_new, x[None], h, w_ih, w_hh, y, b_ih, b_hh, None, nonlinearity)
    return (dx[0], *rest)


# ------------------------------------------------------------ conv, pool, norm
# Options are ints or (h, w) pairs.

def conv2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """x (N, C, H, W), weight (K, C/groups, kh, kw), bias (K,) -> (N, K, OH, OW)."""
    return backend.of(x).conv2d_forward(x, weight, bias, stride, padding, dilation, groups)


def conv2d_backward_input(grad, weight, input_shape, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of conv2d_forward w.r.t. x (shape input_shape) from grad (N, K, OH, OW)."""
    return backend.of(grad).conv2d_backward_input(grad, weight, input_shape, stride, padding, dilation, groups)


def conv2d_backward_weight(x, grad, weight_shape, stride=1, padding=0, dilation=1, groups=1, bias=True):
    """(grad_weight, grad_bias or None) of conv2d_forward."""
    return backend.of(x).conv2d_backward_weight(x, grad, weight_shape, stride, padding, dilation, groups, bias)


def conv_transpose2d_forward(x, weight, bias=None, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """x (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw) -> (N, C_out, OH, OW)."""
    return backend.of(x).conv_transpose2d_forward(x, weight, bias, stride, padding, output_padding, dilation, groups)


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """x (N, C, H, W) -> (out, int64 indices flat in each H*W plane); stride defaults to kernel_size."""
    return backend.of(x).max_pool2d_forward(x, kernel_size, kernel_size if stride is None else stride, padding,
                                            dilation, ceil_mode)


def max_pool2d_backward(grad, indices, input_shape):
    return backend.of(grad).max_pool2d_backward(grad, indices, input_shape)


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                       divisor_override=None):
    return backend.of(x).avg_pool2d_forward(x, kernel_size, kernel_size if stride is None else stride, padding,
                                            ceil_mode, count_include_pad, divisor_override)


def avg_pool2d_backward(grad, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    return backend.of(grad).avg_pool2d_backward(grad, input_shape, kernel_size,
                                                kernel_size if stride is None else stride, padding, ceil_mode,
                                                count_include_pad, divisor_override)


def adaptive_avg_pool2d_forward(x, output_size):
    return backend.of(x).adaptive_avg_pool2d_forward(x, output_size)


def adaptive_avg_pool2d_backward(grad, input_shape):
    return backend.of(grad).adaptive_avg_pool2d_backward(grad, input_shape)


def batch_norm_forward(x, weight=None, bias=None, running_mean=None, running_var=None, training=False, momentum=0.1,
                       eps=1e-5):
    """x (N, C, ...) -> (out, save_mean, save_invstd); running stats updated in place when training."""
    return backend.of(x).batch_norm_forward(x, weight, bias, running_mean, running_var, training, momentum, eps)


def batch_norm_backward(grad, x, weight, save_mean, save_invstd, training, needs=(True, True, True)):
    """(grad_input, grad_weight, grad_bias), each None where needs says so."""
    return backend.of(x).batch_norm_backward(grad, x, weight, save_mean, save_invstd, training, needs)


def _default_scale(q, scale):
    return 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale


def attention_forward(q, k, v, attn_mask=None, scale=None, is_causal=False, dropout_p=0.0, seed=0, key_mask=None):
    """Fused flash-style attention on arrays q (B, H, L, D), k and v (B, H, S, D).

    Returns (out, lse): out = softmax(q k^T * scale + mask) v (B, H, L, D)
    and the log-sum-exp of each row's logits (B, H, L), which
    attention_backward needs. scale defaults to 1/sqrt(D). attn_mask: None,
    bool (True = take part) or additive float, broadcastable to (B, H, L, S).
    is_causal: query i sees keys j <= i. Fully masked rows give out = 0 and
    lse = -inf. dropout_p > 0 drops probabilities (after softmax) by a
    counter-based hash of (seed, row, column), replayed by the backward.
    key_mask: None or bool (B, S), True = key takes part (a key padding
    mask that is never merged into a (B, L, S) array).
    """
    return backend.of(q).attention_forward(q, k, v, attn_mask, _default_scale(q, scale), is_causal, dropout_p, seed,
                                           key_mask)


def attention_backward(grad, q, k, v, out, lse, attn_mask=None, scale=None, is_causal=False, dropout_p=0.0, seed=0,
                       key_mask=None):
    """(dq, dk, dv) of attention_forward given grad = d(out); recomputes probabilities tile by tile."""
    return backend.of(q).attention_backward(grad, q, k, v, out, lse, attn_mask, _default_scale(q, scale), is_causal,
                                            dropout_p, seed, key_mask)


def layer_norm_forward(x, weight=None, bias=None, eps=1e-5):
    """Layer norm over the last dim of x (N, C): returns (y, mean, rstd); mean, rstd are (N,)."""
    return backend.of(x).layer_norm_forward(x, weight, bias, eps)


def layer_norm_backward(grad, x, mean, rstd, weight=None, need_dx=True, need_dweight=True, need_dbias=True):
    """(dx, dweight, dbias) of layer_norm_forward, None for what is not needed."""
    return backend.of(x).layer_norm_backward(grad, x, mean, rstd, weight, need_dx, need_dweight, need_dbias)


def embedding_forward(weight, indices):
    """weight[indices]: rows of weight (num, dim) gathered by integer indices of any shape."""
    return backend.of(weight).embedding_forward(weight, indices)


def embedding_backward(grad, indices, num, padding_idx=None):
    """Gradient of embedding_forward for weight (num, dim): scatter-add of grad rows; padding_idx's row stays 0."""
    return backend.of(grad).embedding_backward(grad, indices, num, padding_idx)
