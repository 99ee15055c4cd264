"""Reductions over dims with keepdim: sum, mean, max/min, var, logsumexp."""
from nerve.autograd import Function
from nerve import backend


def normalize_dims(dim, ndim):
    """dim (None, int or sequence) -> a sorted tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(f"dimension out of range (expected to be in range of [{-max(ndim, 1)}, "
                             f"{max(ndim, 1) - 1}], but got {d})")
        out.append(d % max(ndim, 1))
    return tuple(sorted(set(out))) if ndim else ()


def _expand_back(g, shape, dims, keepdim):
    """Re-insert reduced axes into g so it broadcasts against the input."""
    if not keepdim:
        for d in dims:
            g = backend.of(g).xp.expand_dims(g, d)
    return g


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dim, keepdim):
        dims = normalize_dims(dim, x.ndim)
        ctx.info = (x.shape, dims, keepdim)
        return x.sum(axis=dims, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        shape, dims, keepdim = ctx.info
        xp = backend.of(g).xp
        return xp.broadcast_to(_expand_back(g, shape, dims, keepdim), shape).copy(), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, x, dim, keepdim):
        dims = normalize_dims(dim, x.ndim)
        ctx.info = (x.shape, dims, keepdim)
        count = 1
        for d in dims:
            count *= x.shape[d]
        # sum / count, not x.mean: an empty mean is nan without NumPy's warning (as PyTorch).
        return x.sum(axis=dims, keepdims=keepdim) / x.dtype.type(count)

    @staticmethod
    def backward(ctx, g):
        shape, dims, keepdim = ctx.info
        xp = backend.of(g).xp
        count = 1
        for d in dims:
            count *= shape[d]
        g = _expand_back(g, shape, dims, keepdim) / max(count, 1)
        return xp.broadcast_to(g, shape).astype(g.dtype), None, None


class Amax(Function):
    """max (or min, with sign=-1) over dims; ties share the gradient equally."""

    @staticmethod
    def forward(ctx, x, dim, keepdim, sign):
        dims = normalize_dims(dim, x.ndim)
        out = x.max(axis=dims, keepdims=True) if sign > 0 else x.min(axis=dims, keepdims=True)
        ctx.save_for_backward(x, out)
        ctx.info = (dims, keepdim)
        return out if keepdim else out.reshape([n for i, n in enumerate(x.shape) if i not in dims])

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        dims, keepdim = ctx.info
        mask = x == out
        count = mask.sum(axis=dims, keepdims=True)
        return _expand_back(g, x.shape, dims, keepdim) * mask / count, None, None, None


class MaxDim(Function):
    """Values of max/min along one dim; the gradient goes to the index picked (as PyTorch)."""

    @staticmethod
    def forward(ctx, x, dim, keepdim, sign):
        xp = backend.of(x).xp
        idx = xp.argmax(x, axis=dim) if sign > 0 else xp.argmin(x, axis=dim)
        idx = xp.expand_dims(idx, dim)
        ctx.save_for_backward(idx)
        ctx.info = (x.shape, dim, keepdim)
        out = xp.take_along_axis(x, idx, axis=dim)
        return out if keepdim else xp.squeeze(out, axis=dim)

    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved_tensors
        shape, dim, keepdim = ctx.info
        xp = backend.of(g).xp
        gx = xp.zeros(shape, dtype=g.dtype)
        xp.put_along_axis(gx, idx, g if keepdim else xp.expand_dims(g, dim), axis=dim)
        return gx, None, None, None


class Var(Function):
    @staticmethod
    def forward(ctx, x, dim, correction, keepdim):
        dims = normalize_dims(dim, x.ndim)
        count = 1
        for d in dims:
            count *= x.shape[d]
        mean = x.mean(axis=dims, keepdims=True)
        centered = x - mean
        ctx.save_for_backward(centered)
        ctx.info = (dims, keepdim, max(count - correction, 0))
        denom = max(count - correction, 0)
        with_nan = (centered * centered).sum(axis=dims, keepdims=keepdim)
        return with_nan / denom if denom > 0 else with_nan * x.dtype.type("nan")

    @staticmethod
    def backward(ctx, g):
        (centered,) = ctx.saved_tensors
        dims, keepdim, denom = ctx.info
        g = _expand_back(g, centered.shape, dims, keepdim)
        return g * centered * (2.0 / denom if denom > 0 else float("nan")), None, None, None


class Norm(Function):
    """(sum |x|^p)^(1/p) over dims; the gradient is 0 where the norm is 0 (PyTorch's choice)."""

    @staticmethod
    def forward(ctx, x, p, dim, keepdim):
        xp = backend.of(x).xp
        dims = normalize_dims(dim, x.ndim)
        a = xp.abs(x)
        out = xp.sqrt((x * x).sum(axis=dims, keepdims=True)) if p == 2 else \
            ((a ** p).sum(axis=dims, keepdims=True) ** (1 / p)).astype(x.dtype, copy=False)
        ctx.save_for_backward(x, out)
        ctx.info = (p, dims, keepdim)
        return out if keepdim else out.reshape([n for i, n in enumerate(x.shape) if i not in dims])

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        p, dims, keepdim = ctx.info
        xp = backend.of(x).xp
        g = _expand_back(g, x.shape, dims, keepdim)
        safe = xp.where(out == 0, 1, out)
        if p == 2:
            scale = x / safe
        else:
            scale = xp.sign(x) * xp.abs(x) ** (p - 1) / safe ** (p - 1)
        return xp.where(out == 0, 0, g * scale), None, None, None


class LogSumExp(Function):
    @staticmethod
    def forward(ctx, x, dim, keepdim):
        xp = backend.of(x).xp
        dims = normalize_dims(dim, x.ndim)
        m = x.max(axis=dims, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        out = xp.log(xp.exp(x - m).sum(axis=dims, keepdims=True)) + m
        ctx.save_for_backward(x, out)
        ctx.info = (dims, keepdim)
        return out if keepdim else out.reshape([n for i, n in enumerate(x.shape) if i not in dims])

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        dims, keepdim = ctx.info
        xp = backend.of(x).xp
        return _expand_back(g, x.shape, dims, keepdim) * xp.exp(x - out), None, None


class CumSum(Function):
    """Running sum along dim; the gradient is the reversed running sum of the gradient."""

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        return backend.of(x).xp.cumsum(x, axis=dim, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        xp = backend.of(g).xp
        return xp.flip(xp.cumsum(xp.flip(g, ctx.dim), axis=ctx.dim), ctx.dim), None


class CumProd(Function):
    """Running product along dim. Gradient: reversed running sum of g * out, divided by x where x has
    no zero along its line; lines with a zero take the exact O(n^2) form (product with x[k] left out)."""

    @staticmethod
    def forward(ctx, x, dim):
        out = backend.of(x).xp.cumprod(x, axis=dim, dtype=x.dtype)
        ctx.save_for_backward(x, out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        xp = backend.of(g).xp
        dim = ctx.dim
        x_, out_, g_ = (xp.moveaxis(a, dim, -1) for a in (x, out, g))
        rev = xp.flip(xp.cumsum(xp.flip(g_ * out_, -1), axis=-1), -1)
        zero_line = (x_ == 0).any(axis=-1, keepdims=True)
        gx = xp.where(zero_line, 0, rev / xp.where(x_ == 0, 1, x_))
        if bool(zero_line.any()):
            n = x_.shape[-1]
            exact = xp.empty_like(x_)
            for k in range(n):
                xk = x_.copy()
                xk[..., k] = 1
                exact[..., k] = (g_[..., k:] * xp.cumprod(xk, axis=-1)[..., k:]).sum(axis=-1)
            gx = xp.where(zero_line, exact, gx)
        return xp.moveaxis(gx.astype(g.dtype, copy=False), -1, dim), None
