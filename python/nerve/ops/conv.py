"""Convolutions: Conv2d (and Conv1d through it with H = 1) and ConvTranspose2d.

Each pass is one native kernel (nerve._C conv2d_forward / _backward_input /
_backward_weight). A transposed convolution is the adjoint of a convolution,
so it reuses them with the roles swapped: its forward is conv2d's input
gradient, its input gradient is conv2d's forward, and its weight gradient is
conv2d's weight gradient with input and output exchanged.
"""
from nerve import backend
from nerve.autograd import Function


class Conv2d(Function):
    """x (N, C, H, W), weight (K, C/groups, kh, kw), bias (K,) or None -> (N, K, OH, OW)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        ctx.save_for_backward(x, weight)
        ctx.options = (stride, padding, dilation, groups)
        ctx.has_bias = bias is not None
        return backend.of(x).conv2d_forward(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        be = backend.of(g)
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = be.conv2d_backward_input(g, weight, x.shape, *ctx.options)
        want_b = ctx.has_bias and ctx.needs_input_grad[2]
        if ctx.needs_input_grad[1]:
            gw, gb = be.conv2d_backward_weight(x, g, weight.shape, *ctx.options, bias=want_b)
        elif want_b:
            gb = g.sum(axis=(0, 2, 3))
        return gx, gw, gb


class ConvTranspose2d(Function):
    """x (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw), bias (C_out,) or None -> (N, C_out, OH, OW),
    OH = (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, output_padding, dilation, groups):
        ctx.save_for_backward(x, weight)
        ctx.options = (stride, padding, dilation, groups)
        ctx.has_bias = bias is not None
        return backend.of(x).conv_transpose2d_forward(x, weight, bias, stride, padding, output_padding, dilation,
                                                      groups)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        be = backend.of(g)
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = be.conv2d_forward(g, weight, None, *ctx.options)
        if ctx.needs_input_grad[1]:
            gw, _ = be.conv2d_backward_weight(g, x, weight.shape, *ctx.options, bias=False)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = g.sum(axis=(0, 2, 3))
        return gx, gw, gb
