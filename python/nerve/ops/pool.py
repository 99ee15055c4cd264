"""Pooling: MaxPool2d (indices kept for backward), AvgPool2d, AdaptiveAvgPool2d."""
from nerve import backend
from nerve.autograd import Function


class MaxPool2d(Function):
    """x (N, C, H, W) -> out (N, C, OH, OW) and its int64 indices (flat in
    each H*W plane, as PyTorch's return_indices), which get no gradient."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, ceil_mode):
        out, indices = backend.of(x).max_pool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode)
        ctx.save_for_backward(indices)
        ctx.input_shape = x.shape
        return out, indices

    @staticmethod
    def backward(ctx, g, _):
        (indices,) = ctx.saved_tensors
        return (backend.of(g).max_pool2d_backward(g, indices, ctx.input_shape),)


class AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
        ctx.options = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        ctx.input_shape = x.shape
        return backend.of(x).avg_pool2d_forward(x, *ctx.options)

    @staticmethod
    def backward(ctx, g):
        return (backend.of(g).avg_pool2d_backward(g, ctx.input_shape, *ctx.options),)


class AdaptiveAvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, output_size):
        ctx.input_shape = x.shape
        return backend.of(x).adaptive_avg_pool2d_forward(x, output_size)

    @staticmethod
    def backward(ctx, g):
        return (backend.of(g).adaptive_avg_pool2d_backward(g, ctx.input_shape),)
