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


def astype(x, dtype):
    """A copy of x in dtype (the twin of backend.cpu.astype; CuPy has no bfloat16)."""
    return x.astype(dtype)


def sum_float32(x, axis=None, keepdims=False):
    """x summed over axis (the twin of backend.cpu.sum_float32; no bfloat16 arrays on the GPU)."""
    return x.sum(axis=axis, keepdims=keepdims)


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


# ----------------------------------------------------------------- optimizers
# The same in-place updates as backend.cpu, as cupy elementwise expressions
# (a few temporaries per step; no fused CUDA kernel yet). Formulas: see
# csrc/cpu/optim.h.
def _grad(param, grad, weight_decay, maximize):
    g = -grad if maximize else grad
    return g + weight_decay * param if weight_decay else g


def sgd_step(param, momentum_buffer, grad, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
             maximize=False, first_step=False):
    g = _grad(param, grad, weight_decay, maximize)
    if momentum_buffer is not None:
        if first_step:
            momentum_buffer[...] = g
        else:
            momentum_buffer *= momentum
            momentum_buffer += (1 - dampening) * g
        g = g + momentum * momentum_buffer if nesterov else momentum_buffer
    param -= lr * g


def adam_step(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, *, lr, beta1=0.9, beta2=0.999, eps=1e-8,
              weight_decay=0.0, step, decoupled=False, maximize=False):
    if decoupled:
        g = -grad if maximize else grad
        param *= 1 - lr * weight_decay
    else:
        g = _grad(param, grad, weight_decay, maximize)
    exp_avg *= beta1
    exp_avg += (1 - beta1) * g
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * g * g
    v = exp_avg_sq
    if max_exp_avg_sq is not None:
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        v = max_exp_avg_sq
    bc1, bc2 = 1 - beta1 ** step, 1 - beta2 ** step
    param -= (lr / bc1) * exp_avg / (xp.sqrt(v) / bc2 ** 0.5 + eps)


def rmsprop_step(param, square_avg, grad_avg, momentum_buffer, grad, *, lr, alpha=0.99, eps=1e-8, weight_decay=0.0,
                 momentum=0.0, maximize=False):
    g = _grad(param, grad, weight_decay, maximize)
    square_avg *= alpha
    square_avg += (1 - alpha) * g * g
    var = square_avg
    if grad_avg is not None:
        grad_avg *= alpha
        grad_avg += (1 - alpha) * g
        var = square_avg - grad_avg * grad_avg
    step = g / (xp.sqrt(var) + eps)
    if momentum_buffer is not None:
        momentum_buffer *= momentum
        momentum_buffer += step
        step = momentum_buffer
    param -= lr * step


def adagrad_step(param, state_sum, grad, *, lr, lr_decay=0.0, eps=1e-10, weight_decay=0.0, step, maximize=False):
    g = _grad(param, grad, weight_decay, maximize)
    state_sum += g * g
    param -= (lr / (1 + (step - 1) * lr_decay)) * g / (xp.sqrt(state_sum) + eps)


def adadelta_step(param, square_avg, acc_delta, grad, *, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    g = _grad(param, grad, weight_decay, maximize)
    square_avg *= rho
    square_avg += (1 - rho) * g * g
    dx = xp.sqrt(acc_delta + eps) / xp.sqrt(square_avg + eps) * g
    acc_delta *= rho
    acc_delta += (1 - rho) * dx * dx
    param -= lr * dx


# ------------------------------------------------------------------ recurrent
def _no_recurrent_kernels(*args, **kwargs):
    raise NotImplementedError("LSTM/GRU/RNN have no CUDA kernels yet: run the layer on the CPU (module.to('cpu'))")


lstm_forward = lstm_backward = gru_forward = gru_backward = rnn_forward = rnn_backward = _no_recurrent_kernels
