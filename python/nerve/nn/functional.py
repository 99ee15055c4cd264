"""Functional forms of the layers, PyTorch names. Shapes follow PyTorch."""
import math
import warnings

import numpy as np

from nerve import amp, backend, ops
from nerve import random as _random
from nerve.autograd import no_grad
from nerve.ops import interpolate as interpolate_ops
from nerve.ops import pad as pad_ops
from nerve.tensor import Tensor, cat, stack, where, zeros


class DtypeMismatchError(ValueError, RuntimeError):
    """Operands of different dtypes: a ValueError like nerve's other argument checks, and a
    RuntimeError like PyTorch's, so ``except RuntimeError`` in ported code catches it."""


def linear(input, weight, bias=None):
    """input (..., in), weight (out, in), bias (out,) -> (..., out); all of one dtype (no promotion,
    as in PyTorch and as conv and the RNNs)."""
    for name, t in (("input", input), ("bias", bias)):
        if t is not None and isinstance(t, Tensor) and t.dtype != weight.dtype and not amp.is_autocast_enabled():
            raise DtypeMismatchError(f"linear: argument '{name}' has dtype {t.dtype} but the weight {weight.dtype} "
                                     f"(like PyTorch, nerve does not promote): convert it, e.g. "
                                     f"{name}.to({weight.dtype})")
    return ops.gemm.Linear.apply(input, weight, bias)


def _write_back(input, out):
    """The inplace=True form: out (computed from _source(input, True)) written into input."""
    return input.copy_(out)


def _source(input, inplace):
    """What an inplace=True op computes from: a clone when the graph may save input's array
    (an in-place write would then invalidate it, as PyTorch's version check also reports)."""
    return input.clone() if inplace and input.requires_grad else input


def relu(input, inplace=False):
    return input.relu_() if inplace else ops.activation.Relu.apply(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    x = _source(input, inplace)
    out = ops.activation.LeakyRelu.apply(x, negative_slope)
    return _write_back(input, out) if inplace else out


def sigmoid(input):
    return input.sigmoid()


def tanh(input):
    return input.tanh()


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: argument 'approximate' expected 'none' or 'tanh', got {approximate!r}")
    return ops.activation.Gelu.apply(input, approximate)


def silu(input):
    return ops.activation.Silu.apply(input)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (slope exactly 1 there)."""
    return ops.activation.Softplus.apply(input, beta, threshold)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """clamp(input, min_val, max_val)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    x = _source(input, inplace)
    out = x.clamp(min_val, max_val)
    return _write_back(input, out) if inplace else out


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def _exp_minus_one_neg(x, scale=1.0):
    """exp(min(x, 0) * scale) - 1: the negative branch of ELU-like functions, free of
    overflow (and of 0 * inf in the gradient) for large positive x."""
    return (x.clamp(max=0.0) * scale).exp() - 1


def elu(input, alpha=1.0, inplace=False):
    """x for x > 0, alpha (exp(x) - 1) otherwise."""
    x = _source(input, inplace)
    out = where(x > 0, x, alpha * _exp_minus_one_neg(x))
    return _write_back(input, out) if inplace else out


def selu(input, inplace=False):
    """scale * elu(x, alpha) with the self-normalizing constants."""
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    x = _source(input, inplace)
    out = scale * elu(x, alpha)
    return _write_back(input, out) if inplace else out


def celu(input, alpha=1.0, inplace=False):
    """x for x > 0, alpha (exp(x / alpha) - 1) otherwise."""
    if alpha == 0:
        raise ValueError("celu: argument 'alpha' must not be 0")
    x = _source(input, inplace)
    out = where(x > 0, x, alpha * _exp_minus_one_neg(x, 1.0 / alpha))
    return _write_back(input, out) if inplace else out


def softsign(input):
    return input / (1 + input.abs())


def logsigmoid(input):
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return -softplus(-input)


def mish(input, inplace=False):
    x = _source(input, inplace)
    out = x * softplus(x).tanh()
    return _write_back(input, out) if inplace else out


def hardsigmoid(input, inplace=False):
    x = _source(input, inplace)
    out = (x / 6 + 0.5).clamp(0.0, 1.0)
    return _write_back(input, out) if inplace else out


def hardswish(input, inplace=False):
    x = _source(input, inplace)
    out = x * hardsigmoid(x)
    return _write_back(input, out) if inplace else out


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
    mask = ops.dropout.keep_mask(input.shape, p, input.dtype, input.array) if p < 1 else input.array * 0
    out = ops.dropout.Dropout.apply(input, Tensor._wrap(mask))
    return _write_back(input, out) if inplace else out


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels: input (N, C, H, W) or (C, H, W)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    shape = tuple(input.shape[:-2]) + (1, 1)
    mask = ops.dropout.keep_mask(shape, p, input.dtype, input.array) if p < 1 else input.array[..., :1, :1] * 0
    out = ops.dropout.Dropout.apply(input, Tensor._wrap(mask))
    return _write_back(input, out) if inplace else out


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


@amp.float32_op  # autocast: float32 (nerve.amp.FLOAT32)
def mse_loss(input, target, reduction="mean"):
    """Squared error (input - target)^2; any matching shapes."""
    _check_reduction("mse_loss", reduction)
    target = _pointwise_operands("mse_loss", input, target)
    d = input - target
    return _reduce(d * d, reduction)


@amp.float32_op  # autocast: float32 (nerve.amp.FLOAT32)
def l1_loss(input, target, reduction="mean"):
    """Absolute error |input - target|."""
    _check_reduction("l1_loss", reduction)
    target = _pointwise_operands("l1_loss", input, target)
    return _reduce((input - target).abs(), reduction)


@amp.float32_op  # autocast: float32 (nerve.amp.FLOAT32)
def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta = 0: L1)."""
    _check_reduction("smooth_l1_loss", reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: argument 'beta' expected a value >= 0, got {beta}")
    target = _pointwise_operands("smooth_l1_loss", input, target)
    return _reduce(ops.loss.SmoothL1.apply(input, target, float(beta), False), reduction)


@amp.float32_op  # autocast: float32 (nerve.amp.FLOAT32)
def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta)."""
    _check_reduction("huber_loss", reduction)
    if delta <= 0:
        raise ValueError(f"huber_loss: argument 'delta' expected a value > 0, got {delta}")
    target = _pointwise_operands("huber_loss", input, target)
    return _reduce(ops.loss.SmoothL1.apply(input, target, float(delta), True), reduction)


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
    t = target.array
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
    t = target.array
    valid = t != ignore_index
    if weight is None:
        return int(valid.sum())
    xp = target._xp
    return float(weight.array[xp.where(valid, t, 0)][valid].sum(dtype=np.float64))


@amp.float32_op  # autocast: float32 (nerve.amp.FLOAT32)
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
        loss = ops.loss.CrossEntropyProbs.apply(x, y, weight, float(label_smoothing))
        loss = loss.reshape(()) if unbatched else loss
        return _reduce(loss, reduction)
    target = _class_target(op, input, target, ignore_index)
    x, t = (input.unsqueeze(0), target.reshape(1)) if unbatched else (input, target)
    loss = ops.loss.CrossEntropy.apply(x, t, weight, int(ignore_index), float(label_smoothing), reduction)
    return loss.reshape(()) if unbatched and reduction == "none" else loss


@amp.float32_op  # autocast: float32 (nerve.amp.FLOAT32)
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
    loss = ops.loss.NllLoss.apply(x, t, weight, int(ignore_index))
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


@amp.float32_op  # autocast: float32 (nerve.amp.FLOAT32)
def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-w (y log x + (1 - y) log(1 - x)) for probabilities x in [0, 1]; logs clamp at -100."""
    op = "binary_cross_entropy"
    _check_reduction(op, reduction)
    target = _same_shape_target(op, input, target)
    weight = _broadcast_weight(op, "weight", weight, input)
    x = input.array
    if x.size and not bool(((x >= 0) & (x <= 1)).all()):
        raise ValueError(f"{op}: all elements of input should be between 0 and 1")
    return _reduce(ops.loss.BinaryCrossEntropy.apply(input, target, weight), reduction)


@amp.float32_op  # autocast: float32 (nerve.amp.FLOAT32)
def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """binary_cross_entropy(sigmoid(input), target) computed from stable log-sigmoids;
    pos_weight (C,) weighs the positive term of each class (last dim)."""
    op = "binary_cross_entropy_with_logits"
    _check_reduction(op, reduction)
    target = _same_shape_target(op, input, target)
    weight = _broadcast_weight(op, "weight", weight, input)
    pos_weight = _broadcast_weight(op, "pos_weight", pos_weight, input)
    return _reduce(ops.loss.BinaryCrossEntropyWithLogits.apply(input, target, weight, pos_weight), reduction)


@amp.float32_op  # autocast: float32 (nerve.amp.FLOAT32)
def kl_div(input, target, reduction="mean", log_target=False):
    """KL divergence with log-probabilities input: target (log target - input) pointwise.
    'batchmean' divides the sum by input.size(0) (the mathematically right KL); 'mean' by numel."""
    op = "kl_div"
    _check_reduction(op, reduction, _REDUCTIONS + ("batchmean",))
    target = _pointwise_operands(op, input, target)
    loss = ops.loss.KlDiv.apply(input, target, bool(log_target))
    if reduction == "batchmean":
        return _reduce(loss, "mean", loss.shape[0] if loss.ndim else 1)
    return _reduce(loss, reduction)


# ------------------------------------------------------------ conv, pool, norm
# Options are ints or (h, w) pairs. 3-D inputs (C, H, W) are treated as a batch of one, as in PyTorch.

def _pair(v):
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else (int(v[0]), int(v[1]))


def _batched(op, input, ndim, fn):
    """fn on a batched input; an unbatched one goes in as a batch of one (fn may return several tensors)."""
    if input.ndim == ndim - 1:
        out = fn(input.unsqueeze(0))
        return tuple(t.squeeze(0) for t in out) if isinstance(out, tuple) else out.squeeze(0)
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
    return _batched("conv2d", input, 4, lambda x: ops.conv.Conv2d.apply(x, weight, bias, stride, padding, dilation, groups))


def _single(v):
    return int(v) if isinstance(v, (int, np.integer)) else int(v[0])


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """input (N, C, L), weight (K, C/groups, k), bias (K,) -> (N, K, OL): conv2d with H = 1."""
    stride, dilation = _single(stride), _single(dilation)
    if isinstance(padding, str):
        padding = _conv_padding("conv1d", padding, (1, weight.shape[2]), (1, dilation), (1, stride))[1]
    padding = _single(padding)
    return _batched("conv1d", input, 3, lambda x: ops.conv.Conv2d.apply(
        x.unsqueeze(2), weight.unsqueeze(2), bias, (1, stride), (0, padding), (1, dilation), groups).squeeze(2))


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """input (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw), bias (C_out,) -> (N, C_out, OH, OW)."""
    return _batched("conv_transpose2d", input, 4, lambda x: ops.conv.ConvTranspose2d.apply(
        x, weight, bias, _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation), groups))


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """input (N, C, H, W) -> (N, C, OH, OW) (and int64 indices, flat in each H*W plane, if return_indices)."""
    kernel_size = _pair(kernel_size)
    stride = kernel_size if stride is None else _pair(stride)
    out, indices = _batched("max_pool2d", input, 4, lambda x: ops.pool.MaxPool2d.apply(
        x, kernel_size, stride, _pair(padding), _pair(dilation), bool(ceil_mode)))
    return (out, indices) if return_indices else out


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    kernel_size = _pair(kernel_size)
    stride = kernel_size if stride is None else _pair(stride)
    return _batched("avg_pool2d", input, 4, lambda x: ops.pool.AvgPool2d.apply(
        x, kernel_size, stride, _pair(padding), bool(ceil_mode), bool(count_include_pad), divisor_override))


def adaptive_avg_pool2d(input, output_size):
    """input (N, C, H, W) -> (N, C, *output_size); None in output_size keeps that input size."""
    return _batched("adaptive_avg_pool2d", input, 4, lambda x: ops.pool.AdaptiveAvgPool2d.apply(x, output_size))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """input (N, C, ...); statistics per channel. Training updates running_mean/var in place."""
    stats = [None if t is None else (t.array if isinstance(t, Tensor) else t) for t in (running_mean, running_var)]
    return ops.batch_norm.BatchNorm.apply(input, weight, bias, stats[0], stats[1], bool(training),
                              0.0 if momentum is None else float(momentum), float(eps))


# ----------------------------------------------------------------- attention
def fused_attention(q, k, v, attn_mask, scale, is_causal, dropout_p=0.0, key_mask=None):
    """The fused kernel on (B, H, L, D) / (B, H, S, D) Tensors, no argument checks.

    attn_mask: array (bool: True = take part, or additive) or None; key_mask:
    bool (B, S) array (True = take part) or None. Draws the dropout seed.
    """
    seed = int(_random.generator().integers(0, 2 ** 63)) if dropout_p > 0 else 0
    return ops.attention.ScaledDotProductAttention.apply(q, k, v, attn_mask, scale, is_causal, dropout_p, seed, key_mask)


def _array(x):
    return x.array if isinstance(x, Tensor) else x


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """softmax(query key^T * scale + mask) value, PyTorch semantics.

    query (..., L, D), key (..., S, D), value (..., S, Ev) with equal leading
    dims; returns (..., L, Ev). attn_mask: bool (True = take part) or float
    (added to the logits), broadcastable to (..., L, S). is_causal: query i
    attends keys j <= i (top-left aligned). scale defaults to 1/sqrt(D).
    Rows with every key masked give zeros (PyTorch: NaN).
    """
    q, k, v = _array(query), _array(key), _array(value)
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim:
        raise ValueError(f"scaled_dot_product_attention: query, key and value must have one rank >= 2, got shapes "
                         f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if k.shape[:-2] != q.shape[:-2] or v.shape[:-1] != k.shape[:-1] or k.shape[-1] != q.shape[-1]:
        raise ValueError(f"scaled_dot_product_attention: expected query (..., L, D), key (..., S, D), value "
                         f"(..., S, Ev) with equal leading dims, got {tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{tuple(v.shape)}")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1), got {dropout_p}")
    mask = _array(attn_mask)
    if mask is not None:
        xp = backend.of(q).xp
        mask = xp.asarray(mask)
        if mask.dtype != np.bool_:
            if mask.dtype.kind not in "fiu":
                raise ValueError(f"scaled_dot_product_attention: attn_mask must be bool or float, got {mask.dtype}")
            mask = mask.astype(q.dtype, copy=False)
        try:
            if mask.ndim > q.ndim or np.broadcast_shapes(mask.shape, q.shape[:-1] + k.shape[-2:-1]) != q.shape[:-1] + k.shape[-2:-1]:
                raise ValueError
        except ValueError:
            raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {tuple(mask.shape)} does not "
                             f"broadcast to {tuple(q.shape[:-1] + k.shape[-2:-1])}") from None
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    tensors = [t if isinstance(t, Tensor) else Tensor._wrap(t) for t in (query, key, value)]
    if v.shape[-1] != q.shape[-1]:
        return attention_with_weights(*tensors, mask, dropout_p, is_causal, scale)[0]
    batch, L, S = q.shape[:-2], q.shape[-2], k.shape[-2]
    if q.ndim == 4:
        return fused_attention(*tensors, mask, scale, is_causal, dropout_p)
    # Fold the leading dims into (B, H): (L, D) -> (1, 1, L, D), (N, L, D) -> (1, N, L, D), ...
    n = int(np.prod(batch)) if q.ndim > 4 else None
    lead = (1, 1) if q.ndim == 2 else (1,) + batch if q.ndim == 3 else (n, 1)
    if mask is not None and q.ndim > 4:
        mask = backend.of(q).xp.broadcast_to(mask, batch + (L, S)).reshape(lead + (L, S))
    q4, k4, v4 = (t.reshape(*lead, *t.shape[-2:]) for t in tensors)
    out = fused_attention(q4, k4, v4, mask, scale, is_causal, dropout_p)
    return out.reshape(*batch, L, v.shape[-1])


def attention_with_weights(q, k, v, mask, dropout_p, is_causal, scale):
    """The unfused path: (out, probabilities (..., L, S) before dropout), op by op, (L, S) in memory.

    q, k, v are Tensors; mask is an array (bool: True = take part, or
    additive) or None. Used for dropout, for Ev != D and by
    nn.MultiheadAttention when need_weights=True.
    """
    xp = backend.of(q.array).xp
    dtype = q.array.dtype
    L, S = q.shape[-2], k.shape[-2]
    allowed = xp.ones((L, S), dtype=bool)
    if is_causal:
        allowed = xp.tril(allowed)
    additive = None
    if mask is not None:
        if mask.dtype == np.bool_:
            allowed = allowed & mask
        else:
            allowed = allowed & ~xp.isneginf(mask)
            additive = xp.where(xp.isneginf(mask), 0, mask).astype(dtype)
    # Masked logits get a large finite penalty (not -inf) so a fully masked
    # row softmaxes to finite values, which `valid` then zeroes.
    bias = xp.where(allowed, dtype.type(0), dtype.type(np.finfo(dtype).min / 4))
    if additive is not None:
        bias = bias + additive
    valid = allowed.any(-1, keepdims=True).astype(dtype)
    s = (q @ k.transpose(-2, -1)) * scale + Tensor._wrap(bias)
    p = s.softmax(-1) * Tensor._wrap(valid)
    pd = p * Tensor._wrap(ops.dropout.keep_mask(tuple(p.shape), dropout_p, dtype, q.array)) if dropout_p > 0 else p
    return pd @ v, p


# --------------------------------------------------------- layer norm, embedding
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing ``normalized_shape`` dims, then * weight + bias (fused native kernel)."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(int(s) for s in normalized_shape)
    shape = tuple(input.shape)
    if len(normalized_shape) == 0 or shape[len(shape) - len(normalized_shape):] != normalized_shape:
        raise ValueError(f"layer_norm: normalized_shape {normalized_shape} does not match the trailing dims of "
                         f"input of shape {shape}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != normalized_shape:
            raise ValueError(f"layer_norm: argument '{name}' expected shape {normalized_shape}, got {tuple(p.shape)}")
    x = input if isinstance(input, Tensor) else Tensor._wrap(input)
    return ops.layer_norm.LayerNorm.apply(x, weight, bias, normalized_shape, float(eps))


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of weight (num, dim) picked by integer input (any shape) -> (*input.shape, dim);
    padding_idx's row gets no gradient. max_norm: the rows looked up whose norm_type-norm
    exceeds it are first rescaled to max_norm, in place (PyTorch's renorm). scale_grad_by_freq:
    each row's gradient is divided by how often it occurs in input. sparse gradients do not exist
    in nerve (sparse=True raises)."""
    if sparse:
        raise NotImplementedError("embedding: sparse=True is not supported (nerve has no sparse gradients); use "
                                  "sparse=False, whose dense gradient any optimizer takes")
    idx = input.array if isinstance(input, Tensor) else input
    if getattr(idx, "dtype", None) is None or idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: argument 'input' expected an integer tensor of indices, got dtype "
                        f"{getattr(idx, 'dtype', type(idx).__name__)}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: argument 'weight' expected a 2-D (num, dim) tensor, got shape {tuple(weight.shape)}")
    num = weight.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx must be within [-{num}, {num}), got {padding_idx}")
        padding_idx = padding_idx + num if padding_idx < 0 else padding_idx
    if max_norm is not None:
        embedding_renorm_(weight, idx, max_norm, norm_type)
    out = ops.embedding.Embedding.apply(idx, weight, padding_idx)
    if scale_grad_by_freq and out.requires_grad:
        xp = backend.of(idx).xp
        flat = idx.reshape(-1).astype(np.int64)
        counts = xp.bincount(flat, minlength=num)[flat].reshape(idx.shape + (1,))
        scale = Tensor._wrap((1.0 / counts).astype(out.dtype))
        scaled = out * scale
        out = out.detach() + (scaled - scaled.detach())  # the value exactly, the gradient divided by the count
    return out


def embedding_renorm_(weight, indices, max_norm, norm_type=2.0):
    """Rescale, in place and outside autograd, the rows of weight at indices whose norm_type-norm
    exceeds max_norm to norm max_norm (scale max_norm / (norm + 1e-7), as PyTorch)."""
    w = weight.array
    xp = backend.of(w).xp
    rows = xp.unique(xp.asarray(indices).reshape(-1))
    with no_grad():
        sel = w[rows]
        norms = (xp.abs(sel) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
        big = norms > max_norm
        if bool(big.any()):
            scale = xp.where(big, max_norm / (norms + 1e-7), 1.0).astype(w.dtype)
            w[rows] = sel * scale[:, None]
            weight._version_counter.value += 1
    return weight


# --------------------------------------------------------- one_hot, normalize
def one_hot(tensor, num_classes=-1):
    """int64 (*tensor.shape, num_classes) with a 1 at each index; num_classes=-1: max + 1."""
    idx = tensor.array if isinstance(tensor, Tensor) else np.asarray(tensor)
    if idx.dtype.kind not in "iu":
        raise ValueError(f"one_hot: expected an integer (int64) tensor of class indices, got dtype {idx.dtype}")
    xp = backend.of(idx).xp
    if num_classes == -1:
        if idx.size == 0:
            raise ValueError("one_hot: can not infer the number of classes from an empty tensor; pass num_classes")
        num_classes = int(idx.max()) + 1
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= num_classes):
        raise ValueError(f"one_hot: class values must be in [0, num_classes={num_classes}), got "
                         f"{int(idx.min())}..{int(idx.max())}")
    out = (idx[..., None] == xp.arange(num_classes)).astype(np.int64)
    return Tensor._wrap(out)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p over dim, eps); the gradient at a zero vector is 0."""
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported")
    return input / input.norm(p, dim, keepdim=True).clamp(min=eps)


# ---------------------------------------------------------------- pad, resize
def pad(input, pad, mode="constant", value=None):
    """Pad the last len(pad) // 2 dims: pad = (left, right) of the last dim, then of the one before...
    mode: 'constant' (value, default 0; negative pads crop), 'reflect' (mirror, edge not repeated;
    pads < the dim's size), 'replicate' (edge repeated), 'circular' (wrap around). Differentiable."""
    if mode not in pad_ops.MODES:
        raise ValueError(f"pad: mode expected one of {', '.join(map(repr, pad_ops.MODES))}, got {mode!r}")
    pad = [int(v) for v in pad]
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: padding length must be even and at most 2 * input.ndim ({2 * input.ndim}), got "
                         f"{len(pad)}")
    if mode != "constant" and value not in (None, 0, 0.0):
        raise ValueError(f"pad: value is only for mode 'constant', got mode {mode!r} with value {value}")
    plan = []
    for k in range(len(pad) // 2):
        axis = input.ndim - 1 - k
        left, right = pad[2 * k], pad[2 * k + 1]
        n = input.shape[axis]
        if left == right == 0:
            continue
        if mode != "constant":
            if min(left, right) < 0:
                raise ValueError(f"pad: negative padding (cropping) is only for mode 'constant', got {tuple(pad)}")
            if n == 0:
                raise ValueError(f"pad: mode {mode!r} cannot pad dim {axis} of size 0")
            if mode == "reflect" and max(left, right) >= n:
                raise ValueError(f"pad: reflect padding must be smaller than the padded dim: got padding ({left}, "
                                 f"{right}) for dim {axis} of size {n}")
            if mode == "circular" and max(left, right) > n:
                raise ValueError(f"pad: circular padding can be at most the padded dim: got ({left}, {right}) for "
                                 f"dim {axis} of size {n}")
        if n + left + right < 0:
            raise ValueError(f"pad: padding ({left}, {right}) crops dim {axis} of size {n} below 0")
        plan.append((axis, left, right))
    if not plan:
        return input
    return pad_ops.Pad.apply(input, tuple(plan), mode, 0.0 if value is None else float(value))


_INTERPOLATE_MODES = {"nearest": None, "nearest-exact": None, "linear": 1, "bilinear": 2, "trilinear": 3, "area": 2}


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims of input (N, C, *spatial): 1 to 3 of them, to ``size`` or by ``scale_factor``
    (output size floor(in * scale_factor)). Modes: 'nearest', 'nearest-exact', and 'linear' (3-D input),
    'bilinear' (4-D), 'trilinear' (5-D) with PyTorch's align_corners rule (see ops.interpolate);
    'area' (4-D) is adaptive average pooling, as in PyTorch. Differentiable."""
    if mode not in _INTERPOLATE_MODES:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported; nerve has "
                                  f"{', '.join(_INTERPOLATE_MODES)}")
    spatial = input.ndim - 2
    if spatial < 1 or spatial > 3:
        raise ValueError(f"interpolate: expected a 3-D, 4-D or 5-D input (N, C, *spatial), got shape "
                         f"{tuple(input.shape)}")
    if _INTERPOLATE_MODES[mode] not in (None, spatial):
        raise ValueError(f"interpolate: mode {mode!r} expects a {_INTERPOLATE_MODES[mode] + 2}-D input, got "
                         f"{input.ndim}-D")
    if align_corners is not None and mode in ("nearest", "nearest-exact", "area"):
        raise ValueError("interpolate: align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | trilinear")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: only one of size or scale_factor should be defined")
    in_sizes = tuple(input.shape[2:])
    if size is not None:
        sizes = (size,) * spatial if isinstance(size, (int, np.integer)) else tuple(size)
        if len(sizes) != spatial:
            raise ValueError(f"interpolate: size {tuple(sizes)} does not match the {spatial} spatial dims")
        sizes, scales = tuple(int(v) for v in sizes), (None,) * spatial
    else:
        factors = (scale_factor,) * spatial if isinstance(scale_factor, (int, float)) else tuple(scale_factor)
        if len(factors) != spatial:
            raise ValueError(f"interpolate: scale_factor {factors} does not match the {spatial} spatial dims")
        sizes = tuple(int(math.floor(n * float(f))) for n, f in zip(in_sizes, factors))
        scales = (None,) * spatial if recompute_scale_factor else tuple(float(f) for f in factors)
    if any(m <= 0 for m in sizes):
        raise ValueError(f"interpolate: output sizes must be positive, got {sizes} for input sizes {in_sizes}")
    if mode == "area":
        return adaptive_avg_pool2d(input, sizes)
    return interpolate_ops.Interpolate.apply(input, sizes, mode, bool(align_corners), scales)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated in PyTorch in favour of interpolate; the same."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def pixel_shuffle(input, upscale_factor):
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r)."""
    r = int(upscale_factor)
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise ValueError(f"pixel_shuffle: the channels ({c}) must be divisible by upscale_factor^2 ({r * r})")
    n = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H * r, W * r) -> (*, C * r^2, H, W)."""
    r = int(downscale_factor)
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise ValueError(f"pixel_unshuffle: height ({h}) and width ({w}) must be divisible by downscale_factor ({r})")
    n = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


# ------------------------------------------------------- group, instance norm
def _affine(x, weight, bias):
    """x (N, C, *) * weight (C,) + bias (C,), broadcast over the trailing dims."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if weight is not None:
        x = x * weight.reshape(*shape)
    if bias is not None:
        x = x + bias.reshape(*shape)
    return x


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """input (N, C, *): each of num_groups groups of C / num_groups channels normalized over its
    channels and positions (biased variance), then * weight (C,) + bias (C,). The fused
    layer-norm kernel does the statistics."""
    if input.ndim < 2:
        raise ValueError(f"group_norm: expected an input of at least 2 dims (N, C, *), got shape {tuple(input.shape)}")
    n, c = input.shape[0], input.shape[1]
    if c % num_groups:
        raise ValueError(f"group_norm: expected number of channels in input ({c}) to be divisible by num_groups "
                         f"({num_groups})")
    x = input.reshape(n, num_groups, -1)
    x = layer_norm(x, (x.shape[-1],), None, None, eps) if x.shape[-1] else x
    return _affine(x.reshape(*input.shape), weight, bias)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """input (N, C, *): each (sample, channel) normalized over its positions, then * weight + bias.
    With running statistics and use_input_stats, they are updated in place with the batch mean of
    the instances' means and unbiased variances (PyTorch's rule); use_input_stats=False
    normalizes with the running statistics instead."""
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected an input of at least 3 dims (N, C, *), got shape "
                         f"{tuple(input.shape)}")
    n, c = input.shape[0], input.shape[1]
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: use_input_stats=False needs running_mean and running_var")
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    x = input.reshape(n, c, -1)
    if running_mean is not None and running_var is not None:
        with no_grad():
            xs = x.array
            m = xs.shape[-1]
            mean = xs.mean(axis=-1).mean(axis=0)
            var = (xs.var(axis=-1) * (m / max(m - 1, 1))).mean(axis=0)
            for stat, new in ((running_mean, mean), (running_var, var)):
                a = stat.array
                a *= a.dtype.type(1 - momentum)
                a += (momentum * new).astype(a.dtype)
                stat._version_counter.value += 1
    x = layer_norm(x, (x.shape[-1],), None, None, eps)
    return _affine(x.reshape(*input.shape), weight, bias)


# ----------------------------------------------------------------- recurrent
def _lengths(lengths, T, B):
    """lengths as an int64 numpy array (or None), checked."""
    if lengths is None:
        return None
    n = np.asarray(lengths.numpy() if isinstance(lengths, Tensor) else lengths)
    if n.shape != (B,) or n.dtype.kind not in "iu":
        raise ValueError(f"rnn: argument 'lengths' expected integers of shape ({B},), got {n.dtype} {n.shape}")
    if B and (n.min() < 0 or n.max() > T):
        raise ValueError(f"rnn: argument 'lengths' expected values in [0, T={T}], got {n.min()}..{n.max()}")
    return n.astype(np.int64)


def lstm_layer(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None):
    """One LSTM layer: x (T, B, I), h0, c0 (B, H) -> y (T, B, H), h_n, c_n (B, H)."""
    return ops.rnn.LSTMLayer.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=_lengths(lengths, *x.shape[:2]))


def gru_layer(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None):
    """One GRU layer: x (T, B, I), h0 (B, H) -> y (T, B, H), h_n (B, H)."""
    return ops.rnn.GRULayer.apply(x, h0, w_ih, w_hh, b_ih, b_hh, lengths=_lengths(lengths, *x.shape[:2]))


def rnn_layer(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, nonlinearity="tanh"):
    """One Elman RNN layer (tanh or relu): x (T, B, I), h0 (B, H) -> y (T, B, H), h_n (B, H)."""
    return ops.rnn.RNNLayer.apply(x, h0, w_ih, w_hh, b_ih, b_hh, lengths=_lengths(lengths, *x.shape[:2]),
                                  nonlinearity=nonlinearity)


def reverse_sequence(x, lengths=None):
    """x (T, B, ...) with each sequence reversed within its length."""
    return ops.rnn.ReverseSequence.apply(x, lengths=_lengths(lengths, *x.shape[:2]))


def lstm_cell(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step: x (B, I), h, c (B, H) -> h', c' (the layer kernel with T = 1)."""
    _, h_n, c_n = lstm_layer(x.unsqueeze(0), h, c, w_ih, w_hh, b_ih, b_hh)
    return h_n, c_n


def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step: x (B, I), h (B, H) -> h'."""
    return gru_layer(x.unsqueeze(0), h, w_ih, w_hh, b_ih, b_hh)[1]


def rnn_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One Elman RNN step: x (B, I), h (B, H) -> h'."""
    return rnn_layer(x.unsqueeze(0), h, w_ih, w_hh, b_ih, b_hh, None, nonlinearity)[1]


def recurrent(mode, x, h0, c0, weights, num_layers, bidirectional=False, dropout_p=0.0, training=False,
              lengths=None):
    """Stacked (and optionally bidirectional) layers, as nn.RNN / LSTM / GRU run them.

    mode: 'lstm', 'gru', 'rnn_tanh' or 'rnn_relu'. x (T, B, I); h0, c0
    (num_layers * D, B, H) (c0 lstm only, else None); weights[layer * D + d]
    = (w_ih, w_hh, b_ih, b_hh). Dropout (p = dropout_p, in training) applies to
    the outputs of every layer but the last. Returns y (T, B, D * H), h_n
    (and c_n for lstm) of shape (num_layers * D, B, H).
    """
    T, B = x.shape[0], x.shape[1]
    lengths = _lengths(lengths, T, B)
    D = 2 if bidirectional else 1
    h_out, c_out = [], []
    layer_in = x
    for layer in range(num_layers):
        ys = []
        for d in range(D):
            k = layer * D + d
            w_ih, w_hh, b_ih, b_hh = weights[k]
            inp = reverse_sequence(layer_in, lengths) if d else layer_in
            if mode == "lstm":
                y, h, c = lstm_layer(inp, h0[k], c0[k], w_ih, w_hh, b_ih, b_hh, lengths)
                c_out.append(c)
            elif mode == "gru":
                y, h = gru_layer(inp, h0[k], w_ih, w_hh, b_ih, b_hh, lengths)
            else:
                y, h = rnn_layer(inp, h0[k], w_ih, w_hh, b_ih, b_hh, lengths, mode[4:])
            ys.append(reverse_sequence(y, lengths) if d else y)
            h_out.append(h)
        layer_in = ys[0] if D == 1 else cat(ys, dim=2)
        if dropout_p and training and layer < num_layers - 1:
            layer_in = dropout(layer_in, dropout_p, training)
    h_n = stack(h_out) if h_out else zeros(0, B, 0, dtype=x.dtype, device=x.device)
    return (layer_in, h_n, stack(c_out)) if mode == "lstm" else (layer_in, h_n)
