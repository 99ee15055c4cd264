"""Functional forms of the layers, PyTorch names. Shapes follow PyTorch."""
import warnings

import numpy as np

from nerve.ops import activation as A
from nerve.ops import conv as CV
from nerve.ops import dropout as D
from nerve.ops import gemm as G
from nerve.ops import loss as L
from nerve.ops import batch_norm as NM
from nerve.ops import pool as PL
from nerve.tensor import Tensor, where


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
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (slope exactly 1 there)."""
    return A.Softplus.apply(input, beta, threshold)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """clamp(input, min_val, max_val)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    out = input.clamp(min_val, max_val)
    return input.copy_(out) if inplace else out


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def _exp_minus_one_neg(x, scale=1.0):
    """exp(min(x, 0) * scale) - 1: the negative branch of ELU-like functions, free of
    overflow (and of 0 * inf in the gradient) for large positive x."""
    return (x.clamp(max=0.0) * scale).exp() - 1


def elu(input, alpha=1.0, inplace=False):
    """x for x > 0, alpha (exp(x) - 1) otherwise."""
    out = where(input > 0, input, alpha * _exp_minus_one_neg(input))
    return input.copy_(out) if inplace else out


def selu(input, inplace=False):
    """scale * elu(x, alpha) with the self-normalizing constants."""
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    out = scale * elu(input, alpha)
    return input.copy_(out) if inplace else out


def celu(input, alpha=1.0, inplace=False):
    """x for x > 0, alpha (exp(x / alpha) - 1) otherwise."""
    if alpha == 0:
        raise ValueError("celu: argument 'alpha' must not be 0")
    out = where(input > 0, input, alpha * _exp_minus_one_neg(input, 1.0 / alpha))
    return input.copy_(out) if inplace else out


def softsign(input):
    return input / (1 + input.abs())


def logsigmoid(input):
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return -softplus(-input)


def mish(input, inplace=False):
    out = input * softplus(input).tanh()
    return input.copy_(out) if inplace else out


def hardsigmoid(input, inplace=False):
    out = (input / 6 + 0.5).clamp(0.0, 1.0)
    return input.copy_(out) if inplace else out


def hardswish(input, inplace=False):
    out = input * hardsigmoid(input)
    return input.copy_(out) if inplace else out


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
    out = D.Dropout.apply(input, Tensor._wrap(mask))
    return input.copy_(out) if inplace else out


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels: input (N, C, H, W) or (C, H, W)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    shape = tuple(input.shape[:-2]) + (1, 1)
    mask = D.keep_mask(shape, p, input.dtype, input.data) if p < 1 else input.data[..., :1, :1] * 0
    out = D.Dropout.apply(input, Tensor._wrap(mask))
    return input.copy_(out) if inplace else out


# -------------------------------------------------------------------- losses
_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op, reduction, allowed=_REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(f"{op}: argument 'reduction' expected one of {', '.join(map(repr, allowed))}, "
                         f"got {reduction!r}")


def _reduce(loss, reduction, denominator=None):
    """'none': loss; 'sum': loss.sum(); 'mean': loss.sum() / denominator (default numel);
    a zero denominator gives nan, as PyTorch's mean over nothing does."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    count = loss.numel() if denominator is None else denominator
    return total * float("nan") if count == 0 else total / float(count)


def _as_tensor(x, like):
    return x if isinstance(x, Tensor) else Tensor(x, device=like.device)


def _check_float(op, name, t):
    if not t.is_floating_point():
        raise ValueError(f"{op}: argument '{name}' expected a floating point tensor, got dtype {t.dtype}")


def _pointwise_operands(op, input, target):
    """Broadcast like PyTorch (with its warning) when shapes differ."""
    target = _as_tensor(target, input)
    _check_float(op, "input", input)
    if tuple(input.shape) != tuple(target.shape):
        try:
            np.broadcast_shapes(tuple(input.shape), tuple(target.shape))
        except ValueError:
            raise ValueError(f"{op}: the size of target {tuple(target.shape)} does not broadcast with the size of "
                             f"input {tuple(input.shape)}") from None
        warnings.warn(f"{op}: using a target size {tuple(target.shape)} that is different to the input size "
                      f"{tuple(input.shape)}. This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", UserWarning, stacklevel=3)
    if target.dtype != input.dtype and target.is_floating_point():
        target = target.to(dtype=input.dtype)
    return target


def mse_loss(input, target, reduction="mean"):
    """Squared error (input - target)^2; any matching shapes."""
    _check_reduction("mse_loss", reduction)
    target = _pointwise_operands("mse_loss", input, target)
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input, target, reduction="mean"):
    """Absolute error |input - target|."""
    _check_reduction("l1_loss", reduction)
    target = _pointwise_operands("l1_loss", input, target)
    return _reduce((input - target).abs(), reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta = 0: L1)."""
    _check_reduction("smooth_l1_loss", reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: argument 'beta' expected a value >= 0, got {beta}")
    target = _pointwise_operands("smooth_l1_loss", input, target)
    return _reduce(L.SmoothL1.apply(input, target, float(beta), False), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta)."""
    _check_reduction("huber_loss", reduction)
    if delta <= 0:
        raise ValueError(f"huber_loss: argument 'delta' expected a value > 0, got {delta}")
    target = _pointwise_operands("huber_loss", input, target)
    return _reduce(L.SmoothL1.apply(input, target, float(delta), True), reduction)


def _class_target(op, input, target, ignore_index):
    """Checks integer class indices against input (N, C, d...) or (C,); returns int64 target."""
    target = _as_tensor(target, input)
    if target.dtype.kind not in "iu":
        raise ValueError(f"{op}: class-index target expected an integer dtype, got {target.dtype}")
    want = tuple(input.shape[:1]) + tuple(input.shape[2:]) if input.ndim >= 2 else ()
    if tuple(target.shape) != want:
        raise ValueError(f"{op}: expected target of shape {want} for input of shape {tuple(input.shape)}, "
                         f"got {tuple(target.shape)}")
    C = input.shape[1] if input.ndim >= 2 else input.shape[0]
    t = target.data
    bad = (t != ignore_index) & ((t < 0) | (t >= C))
    if bool(bad.any()):
        first = int(t[bad].reshape(-1)[0])
        raise ValueError(f"{op}: target class index {first} is out of range [0, {C}) "
                         f"(and is not ignore_index={ignore_index})")
    return target if target.dtype == np.int64 else target.to(dtype=np.int64)


def _class_weight(op, weight, input):
    if weight is None:
        return None
    weight = _as_tensor(weight, input)
    C = input.shape[1] if input.ndim >= 2 else input.shape[0]
    if tuple(weight.shape) != (C,):
        raise ValueError(f"{op}: argument 'weight' expected shape ({C},) (one per class), got {tuple(weight.shape)}")
    return weight.to(dtype=input.dtype) if weight.dtype != input.dtype else weight


def _weighted_count(target, weight, ignore_index):
    """Denominator of a weighted mean: sum of w[t] over targets that are not ignored."""
    t = target.data
    valid = t != ignore_index
    if weight is None:
        return int(valid.sum())
    xp = target._xp
    return float(weight.data[xp.where(valid, t, 0)][valid].sum(dtype=np.float64))


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy of logits input (N, C, d...) or (C,).

    target: class indices (N, d...) (or () for unbatched input), or class
    probabilities of input's shape. 'mean' over indices divides by the sum
    of weights of the targets that are not ignored (PyTorch); over
    probabilities by N * d....
    """
    op = "cross_entropy"
    _check_reduction(op, reduction)
    _check_float(op, "input", input)
    if input.ndim == 0:
        raise ValueError(f"{op}: input expected shape (N, C, ...) or (C,), got a 0-d tensor")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: argument 'label_smoothing' expected a value in [0, 1], got {label_smoothing}")
    target = _as_tensor(target, input)
    weight = _class_weight(op, weight, input)
    unbatched = input.ndim == 1
    if target.is_floating_point():
        if tuple(target.shape) != tuple(input.shape):
            raise ValueError(f"{op}: class-probability target expected the input's shape {tuple(input.shape)}, "
                             f"got {tuple(target.shape)}")
        target = target.to(dtype=input.dtype)
        x, y = (input.unsqueeze(0), target.unsqueeze(0)) if unbatched else (input, target)
        loss = L.CrossEntropyProbs.apply(x, y, weight, float(label_smoothing))
        loss = loss.reshape(()) if unbatched else loss
        return _reduce(loss, reduction)
    target = _class_target(op, input, target, ignore_index)
    x, t = (input.unsqueeze(0), target.reshape(1)) if unbatched else (input, target)
    loss = L.CrossEntropy.apply(x, t, weight, int(ignore_index), float(label_smoothing), reduction)
    return loss.reshape(()) if unbatched and reduction == "none" else loss


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities input (N, C, d...) or (C,) at class indices target."""
    op = "nll_loss"
    _check_reduction(op, reduction)
    _check_float(op, "input", input)
    if input.ndim == 0:
        raise ValueError(f"{op}: input expected shape (N, C, ...) or (C,), got a 0-d tensor")
    weight = _class_weight(op, weight, input)
    target = _class_target(op, input, target, ignore_index)
    unbatched = input.ndim == 1
    x, t = (input.unsqueeze(0), target.reshape(1)) if unbatched else (input, target)
    loss = L.NllLoss.apply(x, t, weight, int(ignore_index))
    loss = loss.reshape(()) if unbatched else loss
    return _reduce(loss, reduction, _weighted_count(target, weight, ignore_index) if reduction == "mean" else None)


def _same_shape_target(op, input, target):
    target = _as_tensor(target, input)
    _check_float(op, "input", input)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{op}: using a target size {tuple(target.shape)} that is different to the input size "
                         f"{tuple(input.shape)} is not supported; make them the same size")
    return target.to(dtype=input.dtype) if target.dtype != input.dtype else target


def _broadcast_weight(op, name, weight, input):
    if weight is None:
        return None
    weight = _as_tensor(weight, input)
    try:
        ok = np.broadcast_shapes(tuple(weight.shape), tuple(input.shape)) == tuple(input.shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{op}: argument '{name}' of shape {tuple(weight.shape)} does not broadcast to the input "
                         f"shape {tuple(input.shape)}")
    return weight.to(dtype=input.dtype) if weight.dtype != input.dtype else weight


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-w (y log x + (1 - y) log(1 - x)) for probabilities x in [0, 1]; logs clamp at -100."""
    op = "binary_cross_entropy"
    _check_reduction(op, reduction)
    target = _same_shape_target(op, input, target)
    weight = _broadcast_weight(op, "weight", weight, input)
    x = input.data
    if x.size and not bool(((x >= 0) & (x <= 1)).all()):
        raise ValueError(f"{op}: all elements of input should be between 0 and 1")
    return _reduce(L.BinaryCrossEntropy.apply(input, target, weight), reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """binary_cross_entropy(sigmoid(input), target) computed from stable log-sigmoids;
    pos_weight (C,) weighs the positive term of each class (last dim)."""
    op = "binary_cross_entropy_with_logits"
    _check_reduction(op, reduction)
    target = _same_shape_target(op, input, target)
    weight = _broadcast_weight(op, "weight", weight, input)
    pos_weight = _broadcast_weight(op, "pos_weight", pos_weight, input)
    return _reduce(L.BinaryCrossEntropyWithLogits.apply(input, target, weight, pos_weight), reduction)


def kl_div(input, target, reduction="mean", log_target=False):
    """KL divergence with log-probabilities input: target (log target - input) pointwise.
    'batchmean' divides the sum by input.size(0) (the mathematically right KL); 'mean' by numel."""
    op = "kl_div"
    _check_reduction(op, reduction, _REDUCTIONS + ("batchmean",))
    target = _pointwise_operands(op, input, target)
    loss = L.KlDiv.apply(input, target, bool(log_target))
    if reduction == "batchmean":
        return _reduce(loss, "mean", loss.shape[0] if loss.ndim else 1)
    return _reduce(loss, reduction)


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


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """query (..., L, D), key (..., S, D), value (..., S, Ev) -> (..., L, Ev), on the fused attention kernel.

    attn_mask: bool (True = take part) or float (added), broadcastable to
    (..., L, S). Rows with every key masked give zeros (PyTorch: NaN).
    """
    from nerve.ops import attention as AT
    return AT.scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, is_causal, scale)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing ``normalized_shape`` dims, then * weight + bias (fused native kernel)."""
    from nerve.ops import layer_norm as LN
    return LN.layer_norm(input, normalized_shape, weight, bias, eps)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of weight (num, dim) picked by integer input (any shape) -> (*input.shape, dim)."""
    from nerve.ops import embedding as EM
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    return EM.embedding(input, weight, padding_idx)
