"""Dropout: zero elements with probability p and scale the rest by 1/(1-p);
the mask comes from nerve's seeded generator."""
from nerve.autograd import Function
from nerve import backend


def keep_mask(shape, p, dtype, like):
    """Array of 0 and 1/(1-p) with P(0) = p, on the device of `like`."""
    return backend.of(like).dropout_mask(shape, p, dtype)


class Dropout(Function):
    """x * mask, where mask broadcasts against x (per element, or per channel for Dropout2d)."""

    @staticmethod
    def forward(ctx, x, mask):
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None
