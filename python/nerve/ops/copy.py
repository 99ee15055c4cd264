"""Copies that change dtype or device, differentiable, and clone."""
from nerve.autograd import Function
from nerve import backend


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return g


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype = x.dtype
        return backend.of(x).astype(x, dtype)

    @staticmethod
    def backward(ctx, g):
        return backend.of(g).astype(g, ctx.dtype), None


class ToDevice(Function):
    """Move between 'cpu' and 'cuda'; the gradient moves back."""

    @staticmethod
    def forward(ctx, x, device_type):
        ctx.source = backend.of(x)
        return backend.for_device(device_type).asarray(ctx.source.to_numpy(x))

    @staticmethod
    def backward(ctx, g):
        return ctx.source.asarray(backend.of(g).to_numpy(g)), None
