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
