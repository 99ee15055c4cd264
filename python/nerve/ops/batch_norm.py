"""Normalization: BatchNorm (x (N, C, ...), statistics per channel C) with a
fused native backward."""
from nerve import backend
from nerve.autograd import Function


class BatchNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias.

    training: batch statistics; running_mean/running_var (arrays or None) are
    updated in place with `momentum` (unbiased variance, as PyTorch).
    eval: running statistics. weight and bias may be None."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        out, mean, invstd = backend.of(x).batch_norm_forward(x, weight, bias, running_mean, running_var, training,
                                                             momentum, eps)
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.training = training
        return out

    @staticmethod
    def backward(ctx, g):
        x, weight, mean, invstd = ctx.saved_tensors
        needs = ctx.needs_input_grad
        want = (needs[0], weight is not None and needs[1], needs[2])
        return backend.of(g).batch_norm_backward(g, x, weight, mean, invstd, ctx.training, want)
