"""Activations and (log-)softmax."""
from nerve.autograd import Function
from nerve import backend


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        out = backend.of(x).xp.maximum(x, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (out > 0)


class LeakyRelu(Function):
    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return backend.of(x).xp.where(x > 0, x, x * x.dtype.type(slope))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return backend.of(x).xp.where(x > 0, g, g * g.dtype.type(ctx.slope)), None


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        out = backend.of(x).sigmoid(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out * (1 - out)


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        out = backend.of(x).xp.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (1 - out * out)


class Gelu(Function):
    """GELU, exact (erf) or with the tanh approximation (approximate='tanh')."""

    @staticmethod
    def forward(ctx, x, approximate):
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        return backend.of(x).gelu_forward(x, approximate)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return backend.of(x).gelu_backward(g, x, ctx.approximate), None


class Silu(Function):
    @staticmethod
    def forward(ctx, x):
        s = backend.of(x).sigmoid(x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, g):
        x, s = ctx.saved_tensors
        return g * s * (1 + x * (1 - s))


class Softplus(Function):
    @staticmethod
    def forward(ctx, x, beta, threshold):
        xp = backend.of(x).xp
        ctx.save_for_backward(x)
        ctx.info = (beta, threshold)
        bx = x * beta
        return xp.where(bx > threshold, x, xp.logaddexp(0, bx) / beta).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        beta, threshold = ctx.info
        bx = x * beta
        # Above the threshold the forward is the identity, so is the gradient.
        return g * backend.of(x).xp.where(bx > threshold, 1, backend.of(x).sigmoid(bx)), None, None


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        xp = backend.of(x).xp
        e = xp.exp(x - x.max(axis=dim, keepdims=True))
        out = e / e.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return out * (g - (g * out).sum(axis=ctx.dim, keepdims=True)), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        xp = backend.of(x).xp
        shifted = x - x.max(axis=dim, keepdims=True)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        xp = backend.of(out).xp
        return g - xp.exp(out) * g.sum(axis=ctx.dim, keepdims=True), None

