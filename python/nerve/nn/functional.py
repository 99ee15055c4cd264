"""Functional forms of the layers, PyTorch names. Shapes follow PyTorch."""
import numpy as np

from nerve.ops import activation as A
from nerve.ops import conv as CV
from nerve.ops import dropout as D
from nerve.ops import gemm as G
from nerve.ops import norm as NM
from nerve.ops import pool as PL
from nerve.tensor import Tensor


def linear(input, weight, bias=None):
    """input (..., in), weight (out, in), bias (out,) -> (..., out)."""
    return G.Linear.apply(input, weight, bias)


def relu(input, inplace=False):
    return input.relu_() if inplace else A.Relu.apply(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    out = A.LeakyRelu.apply(input, negative_slope)
    return input.copy_(out) if inplace else out


def sigmoid(input):
    return input.sigmoid()


def tanh(input):
    return input.tanh()


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: argument 'approximate' expected 'none' or 'tanh', got {approximate!r}")
    return A.Gelu.apply(input, approximate)


def silu(input):
    return A.Silu.apply(input)


def softplus(input, beta=1.0, threshold=20.0):
    return A.Softplus.apply(input, beta, threshold)


def softmax(input, dim):
    return input.softmax(dim)


def log_softmax(input, dim):
    return input.log_softmax(dim)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero elements with probability p during training, scaling the rest by 1/(1-p)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    mask = D.keep_mask(input.shape, p, input.dtype, input.data) if p < 1 else input.data * 0
    return D.Dropout.apply(input, Tensor._wrap(mask))


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels: input (N, C, H, W) or (C, H, W)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    shape = tuple(input.shape[:-2]) + (1, 1)
    mask = D.keep_mask(shape, p, input.dtype, input.data) if p < 1 else input.data[..., :1, :1] * 0
    return D.Dropout.apply(input, Tensor._wrap(mask))


# ------------------------------------------------------------ conv, pool, norm
# Options are ints or (h, w) pairs. 3-D inputs (C, H, W) are treated as a batch of one, as in PyTorch.

def _pair(v):
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else (int(v[0]), int(v[1]))


def _batched(op, input, ndim, fn):
    if input.ndim == ndim - 1:
        return fn(input.unsqueeze(0)).squeeze(0)
    if input.ndim != ndim:
        raise ValueError(f"{op}: expected a {ndim - 1}-D (unbatched) or {ndim}-D (batched) input, got shape "
                         f"{tuple(input.shape)}")
    return fn(input)


def _conv_padding(op, padding, kernel, dilation, stride):
    """'valid', 'same' (stride 1, symmetric padding only) or ints -> (ph, pw)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0)
        if padding != "same":
            raise ValueError(f"{op}: argument 'padding' expected 'valid', 'same' or ints, got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        if any(t % 2 for t in total):
            raise ValueError(f"{op}: padding='same' needs an odd effective kernel here (asymmetric padding is "
                             f"not supported), got kernel {tuple(kernel)} with dilation {tuple(dilation)}")
        return tuple(t // 2 for t in total)
    return _pair(padding)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """input (N, C, H, W), weight (K, C/groups, kh, kw), bias (K,) -> (N, K, OH, OW)."""
    stride, dilation = _pair(stride), _pair(dilation)
    padding = _conv_padding("conv2d", padding, weight.shape[2:], dilation, stride)
    return _batched("conv2d", input, 4, lambda x: CV.Conv2d.apply(x, weight, bias, stride, padding, dilation, groups))


def _single(v):
    return int(v) if isinstance(v, (int, np.integer)) else int(v[0])


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """input (N, C, L), weight (K, C/groups, k), bias (K,) -> (N, K, OL): conv2d with H = 1."""
    stride, dilation = _single(stride), _single(dilation)
    if isinstance(padding, str):
        padding = _conv_padding("conv1d", padding, (1, weight.shape[2]), (1, dilation), (1, stride))[1]
    padding = _single(padding)
    return _batched("conv1d", input, 3, lambda x: CV.Conv2d.apply(
        x.unsqueeze(2), weight.unsqueeze(2), bias, (1, stride), (0, padding), (1, dilation), groups).squeeze(2))


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """input (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw), bias (C_out,) -> (N, C_out, OH, OW)."""
    return _batched("conv_transpose2d", input, 4, lambda x: CV.ConvTranspose2d.apply(
        x, weight, bias, _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation), groups))


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """input (N, C, H, W) -> (N, C, OH, OW) (and int64 indices, flat in each H*W plane, if return_indices)."""
    kernel_size = _pair(kernel_size)
    stride = kernel_size if stride is None else _pair(stride)
    keep = []
    out = _batched("max_pool2d", input, 4, lambda x: PL.MaxPool2d.apply(
        x, kernel_size, stride, _pair(padding), _pair(dilation), bool(ceil_mode), keep))
    if not return_indices:
        return out
    indices = keep[0] if input.ndim == 4 else keep[0][0]
    return out, Tensor._wrap(indices)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    kernel_size = _pair(kernel_size)
    stride = kernel_size if stride is None else _pair(stride)
    return _batched("avg_pool2d", input, 4, lambda x: PL.AvgPool2d.apply(
        x, kernel_size, stride, _pair(padding), bool(ceil_mode), bool(count_include_pad), divisor_override))


def adaptive_avg_pool2d(input, output_size):
    """input (N, C, H, W) -> (N, C, *output_size); None in output_size keeps that input size."""
    return _batched("adaptive_avg_pool2d", input, 4, lambda x: PL.AdaptiveAvgPool2d.apply(x, output_size))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """input (N, C, ...); statistics per channel. Training updates running_mean/var in place."""
    stats = [None if t is None else (t.data if isinstance(t, Tensor) else t) for t in (running_mean, running_var)]
    return NM.BatchNorm.apply(input, weight, bias, stats[0], stats[1], bool(training),
                              0.0 if momentum is None else float(momentum), float(eps))
