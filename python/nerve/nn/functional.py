"""Functional forms of the layers, PyTorch names. Shapes follow PyTorch."""
from nerve.ops import activation as A
from nerve.ops import dropout as D
from nerve.ops import gemm as G
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
