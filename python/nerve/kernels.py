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


def cross_entropy(logits, target, weight=None, ignore_index=-100, label_smoothing=0.0):
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
