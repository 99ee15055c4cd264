"""CUDA backend: CuPy arrays, kernels from ``nerve._cuda``. The twin of
``backend.cpu``: every public name there is defined here with the same
arguments; an op without a CUDA kernel yet raises NotImplementedError naming
the op and the device (never AttributeError). tests/test_backend_twins.py
holds the two modules (and ``nerve._C`` / ``nerve._cuda``) to the same names.

The same file also runs on the CPU emulation of CUDA: ``backend.cuda_emu``
executes this source a second time with ``_EMULATED = True``, which makes
``xp`` NumPy and the kernel module ``nerve._cuda_emu`` (the .cu sources built
by g++), so the tests run this whole path — op -> backend -> binding ->
launcher -> kernel — without a GPU. The block below is the one place where
that choice is made.

Kernels take outputs first and ``stream=``, CuPy's current stream, last; the
bindings check arrays through ``__cuda_array_interface__`` with the CPU
bindings' checks (csrc/contract/<family>.h).
"""
import numpy as np

from nerve.backend import cpu as _cpu
from nerve.backends import cuda as _flags

name = "cuda"

# ------------------------------------------------- array module and kernels
_EMULATED = globals().get("_EMULATED", False)  # True only when run by backend/cuda_emu.py
if _EMULATED:
    xp = np
    from nerve import _cuda_emu as _K

    def _stream():
        return 0
else:
    try:
        import cupy as xp
    except ImportError as e:  # pragma: no cover - exercised only without cupy
        raise RuntimeError("nerve: CUDA tensors need CuPy (pip install nerve[cuda])") from e
    try:
        from nerve import _cuda as _K
    except ImportError:  # pragma: no cover - a build without nvcc
        _K = None

    def _stream():
        return xp.cuda.get_current_stream().ptr


def _kernel(op):
    """The bound kernel `op` of nerve._cuda, or NotImplementedError when the module was not built."""
    if _K is None:
        raise NotImplementedError(f"{op}: not available on device 'cuda': nerve._cuda was not built "
                                  "(no nvcc at install time; see README's GPU section)")
    return getattr(_K, op)


def _not_yet(op):
    """A backend function for an op with no CUDA kernel yet."""
    def not_yet(*args, **kwargs):
        raise NotImplementedError(f"{op}: not implemented on device 'cuda' yet (no CUDA kernel; run it on 'cpu')")
    not_yet.__name__ = not_yet.__qualname__ = op
    return not_yet


def asarray(data, dtype=None):
    return xp.asarray(data, dtype=dtype)


def to_numpy(array):
    return np.asarray(array) if _EMULATED else xp.asnumpy(array)


def astype(x, dtype):
    """A copy of x in dtype (the twin of backend.cpu.astype; CuPy has no bfloat16)."""
    return x.astype(dtype)


def sum_float32(x, axis=None, keepdims=False):
    """x summed over axis (the twin of backend.cpu.sum_float32; no bfloat16 arrays on the GPU)."""
    return x.sum(axis=axis, keepdims=keepdims)


def _c(a, dtype=None):
    return None if a is None else xp.asarray(a, dtype=dtype, order="C")  # keeps a 0-d array 0-d


# ---------------------------------------------------------------------- GEMM
def matmul(a, b, trans_a=False, trans_b=False, out=None, out_dtype=None):
    """op(a) @ op(b) for 2-D or batched 3-D float arrays on nerve's CUDA GEMM (as backend.cpu.matmul).

    float32 runs on the TF32 tensor cores when ``nerve.backends.cuda.matmul.allow_tf32`` is set (PyTorch's
    flag; off by default, and while nerve has no such module), else on the fp32 SIMT kernel; float64 on
    the fp64 kernel. A 2-D operand is shared by every batch; ``out`` (if given) is written. Other dtypes
    go through the array module.
    """
    if out_dtype is not None and np.dtype(out_dtype) != a.dtype:
        raise NotImplementedError(f"matmul: out_dtype={np.dtype(out_dtype)} for {a.dtype} operands is not implemented "
                                  "on device 'cuda' yet (the bfloat16 GEMM runs on the CPU)")
    return _cpu._matmul_with(xp, a, b, trans_a, trans_b, out, lambda out, a, b: _kernel("gemm")(
        out, a, b, trans_a, trans_b, allow_tf32=_allow_tf32(), stream=_stream()))


def _allow_tf32():
    """PyTorch's torch.backends.cuda.matmul.allow_tf32 (nerve.backends.cuda.matmul.allow_tf32), read at each call."""
    return bool(_flags.matmul.allow_tf32)


# ---------------------------------------------------------------- activation
def _float_contiguous(x):
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    return xp.asarray(x, order="C")


def sigmoid(x):
    x = _float_contiguous(x)
    out = xp.empty_like(x)
    _kernel("sigmoid_forward")(out, x, stream=_stream())
    return out


def gelu_forward(x, approximate="none"):
    x = _float_contiguous(x)
    out = xp.empty_like(x)
    _kernel("gelu_forward")(out, x, approximate, stream=_stream())
    return out


def gelu_backward(grad, x, approximate="none"):
    x = _float_contiguous(x)
    grad = _c(grad, x.dtype)
    out = xp.empty_like(x)
    _kernel("gelu_backward")(out, grad, x, approximate, stream=_stream())
    return out


# ---------------------------------------------------------------------- loss
def cross_entropy_forward(logits, target, weight=None, ignore_index=-100, label_smoothing=0.0):
    """As backend.cpu. A target outside [0, C) (not ignore_index) gives a NaN loss row: the caller
    (nn.functional) range-checks targets, the kernel only never reads out of bounds."""
    logits, target, weight = _c(logits), _c(target, np.int64), _c(weight, logits.dtype)
    n = logits.shape[0] if logits.ndim else 0
    loss, lse = xp.empty(n, logits.dtype), xp.empty(n, np.float64)
    _kernel("cross_entropy_forward")(loss, lse, logits, target, weight, int(ignore_index), float(label_smoothing),
                                     stream=_stream())
    return loss, lse


def cross_entropy_backward(grad_loss, logits, lse, target, weight=None, ignore_index=-100, label_smoothing=0.0):
    logits, target, weight = _c(logits), _c(target, np.int64), _c(weight, logits.dtype)
    grad_loss = _c(grad_loss, logits.dtype)
    grad_logits = xp.empty_like(logits)
    _kernel("cross_entropy_backward")(grad_logits, grad_loss, logits, lse, target, weight, int(ignore_index),
                                      float(label_smoothing), stream=_stream())
    return grad_logits


# ------------------------------------------------------------------- dropout
def dropout_mask(shape, p, dtype):
    """As backend.cpu, from the same seeded host generator (so both devices drop the same elements),
    copied to the device."""
    return xp.asarray(_cpu.dropout_mask(shape, p, dtype))


# ---------------------------------------------------------------- optimizers
# One fused kernel per parameter per step (csrc/cuda/optim.cuh). State arrays
# are the optimizer's own (contiguous, the parameter's dtype); the gradient is
# made contiguous in that dtype here, and a non-contiguous parameter is
# updated through a contiguous copy.
def _optim_call(op, param, states, grad, **options):
    grad = _c(grad, param.dtype)
    work = param if param.flags.c_contiguous else _c(param)
    _kernel(op)(work, *states, grad, **options, stream=_stream())
    if work is not param:
        param[...] = work


def sgd_step(param, momentum_buffer, grad, **options):
    """SGD (momentum, dampening, nesterov, weight_decay, maximize, first_step); buffer None without momentum."""
    _optim_call("sgd_step", param, (momentum_buffer,), grad, **options)


def adam_step(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, **options):
    """Adam/AdamW (decoupled=True); amsgrad when max_exp_avg_sq is an array."""
    _optim_call("adam_step", param, (exp_avg, exp_avg_sq, max_exp_avg_sq), grad, **options)


def rmsprop_step(param, square_avg, grad_avg, momentum_buffer, grad, **options):
    """RMSprop; centered when grad_avg is an array, momentum when momentum_buffer is."""
    _optim_call("rmsprop_step", param, (square_avg, grad_avg, momentum_buffer), grad, **options)


def adagrad_step(param, state_sum, grad, **options):
    _optim_call("adagrad_step", param, (state_sum,), grad, **options)


def adadelta_step(param, square_avg, acc_delta, grad, **options):
    _optim_call("adadelta_step", param, (square_avg, acc_delta), grad, **options)


# ----------------------------------------------------------------- recurrent
lstm_forward = _not_yet("lstm_forward")
lstm_backward = _not_yet("lstm_backward")
gru_forward = _not_yet("gru_forward")
gru_backward = _not_yet("gru_backward")
rnn_forward = _not_yet("rnn_forward")
rnn_backward = _not_yet("rnn_backward")


def reverse_index(T, B, lengths=None):
    """As backend.cpu, on the device."""
    return xp.asarray(_cpu.reverse_index(T, B, None if lengths is None else to_numpy(xp.asarray(lengths))))


# ---------------------------------------------------------- conv, pool, norm
# Shape formulas are device-neutral: the CPU backend's own.
conv_out_size = _cpu.conv_out_size
pool_out_size = _cpu.pool_out_size
conv_transpose2d_out_shape = _cpu.conv_transpose2d_out_shape

conv2d_forward = _not_yet("conv2d_forward")
conv2d_backward_input = _not_yet("conv2d_backward_input")
conv2d_backward_weight = _not_yet("conv2d_backward_weight")
conv_transpose2d_forward = _not_yet("conv_transpose2d_forward")
max_pool2d_forward = _not_yet("max_pool2d_forward")
max_pool2d_backward = _not_yet("max_pool2d_backward")
avg_pool2d_forward = _not_yet("avg_pool2d_forward")
avg_pool2d_backward = _not_yet("avg_pool2d_backward")
adaptive_avg_pool2d_forward = _not_yet("adaptive_avg_pool2d_forward")
adaptive_avg_pool2d_backward = _not_yet("adaptive_avg_pool2d_backward")
batch_norm_forward = _not_yet("batch_norm_forward")
batch_norm_backward = _not_yet("batch_norm_backward")
attention_forward = _not_yet("attention_forward")
attention_backward = _not_yet("attention_backward")
layer_norm_forward = _not_yet("layer_norm_forward")
layer_norm_backward = _not_yet("layer_norm_backward")
embedding_forward = _not_yet("embedding_forward")
embedding_backward = _not_yet("embedding_backward")
