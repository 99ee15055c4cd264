"""Layer norm as one fused Function: the native kernel saves mean and rstd,
and the backward kernel gives dx, dweight and dbias in one pass."""
import numpy as np

from nerve import backend
from nerve.autograd import Function


class LayerNorm(Function):
    """x (..., *normalized_shape); weight, bias (*normalized_shape) or None."""

    @staticmethod
    def forward(ctx, x, weight, bias, normalized_shape, eps):
        k = len(normalized_shape)
        C = int(np.prod(normalized_shape))
        x2 = x.reshape(-1, C)
        w = None if weight is None else weight.reshape(C)
        b = None if bias is None else bias.reshape(C)
        y, mean, rstd = backend.of(x).layer_norm_forward(x2, w, b, eps)
        ctx.save_for_backward(x2, mean, rstd, w)
        ctx.shapes = (x.shape, None if weight is None else weight.shape, k)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        x2, mean, rstd, w = ctx.saved_tensors
        x_shape, w_shape, _ = ctx.shapes
        need = ctx.needs_input_grad
        dx, dw, db = backend.of(x2).layer_norm_backward(g.reshape(x2.shape), x2, mean, rstd, w, need[0],
                                                        len(need) > 1 and need[1], len(need) > 2 and need[2])
        return (None if dx is None else dx.reshape(x_shape), None if dw is None else dw.reshape(w_shape),
                None if db is None else db.reshape(w_shape), None, None)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing dims ``normalized_shape`` of input, then * weight + bias."""
    from nerve.tensor import Tensor
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
    return LayerNorm.apply(x, weight, bias, normalized_shape, float(eps))
