"""Padding (constant, reflect, replicate, circular) as per-axis gathers.

Each padded axis maps output position j to source index src(j) = j - left,
folded back into [0, n) by the mode (reflect: mirror without repeating the
edge; replicate: clamp; circular: modulo; constant: positions outside get
the fill value and no gradient). Negative padding crops, as in PyTorch.
Forward gathers along one axis at a time (xp.take); backward is the
transpose, a scatter-add (xp.add.at) along the same axes in reverse order,
so an edge element copied k times receives the sum of its k gradients.
``gather_axis``/``scatter_axis`` are shared with interpolate, whose output
positions are weighted sums of one or two source positions.
"""
import numpy as np

from nerve import backend
from nerve.autograd import Function

MODES = ("constant", "reflect", "replicate", "circular")


def gather_axis(x, axis, terms, xp):
    """sum_k take(x, idx_k, axis) * w_k; terms = [(idx, w or None)], w of len(idx) broadcast on axis."""
    out = None
    for idx, w in terms:
        t = xp.take(x, idx, axis=axis)
        if w is not None:
            t = t * w.reshape((-1,) + (1,) * (x.ndim - axis - 1)).astype(x.dtype, copy=False)
        out = t if out is None else out + t
    return out


def scatter_axis(g, axis, size, terms, xp):
    """The transpose of gather_axis: g (..., len(idx), ...) -> (..., size, ...)."""
    gm = xp.moveaxis(g, axis, 0)
    out = xp.zeros((size,) + gm.shape[1:], dtype=g.dtype)
    for idx, w in terms:
        v = gm if w is None else gm * w.reshape((-1,) + (1,) * (gm.ndim - 1)).astype(g.dtype, copy=False)
        xp.add.at(out, idx, v)
    return xp.moveaxis(out, 0, axis)


def source_index(n, left, right, mode):
    """(src, valid) numpy arrays for one axis of size n padded by (left, right) (negative: crop)."""
    j = np.arange(n + left + right) - left
    if mode == "constant":
        valid = (j >= 0) & (j < n)
        return np.clip(j, 0, max(n - 1, 0)), valid
    if mode == "replicate":
        return np.clip(j, 0, n - 1), None
    if mode == "circular":
        return j % n, None
    period = 2 * (n - 1)  # reflect: ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ...
    k = np.abs(j) % period if period else np.zeros_like(j)
    return np.where(k < n, k, period - k), None


class Pad(Function):
    """x padded on its trailing axes: pad = ((axis, left, right), ...), mode, fill value."""

    @staticmethod
    def forward(ctx, x, pad, mode, value):
        be = backend.of(x)
        xp = be.xp
        plan = []
        for axis, left, right in pad:
            src, valid = source_index(x.shape[axis], left, right, mode)
            weight = None if valid is None else be.asarray(valid.astype(x.dtype))
            terms = [(be.asarray(src), weight)]
            plan.append((axis, x.shape[axis], terms))
            x = gather_axis(x, axis, [(terms[0][0], None)], xp)
            if valid is not None and not valid.all():
                fill = be.asarray(~valid).reshape((-1,) + (1,) * (x.ndim - axis - 1))
                x = xp.where(fill, x.dtype.type(value), x)
        ctx.plan = plan
        return x

    @staticmethod
    def backward(ctx, g):
        xp = backend.of(g).xp
        for axis, size, terms in reversed(ctx.plan):
            g = scatter_axis(g, axis, size, terms, xp)
        return g, None, None, None
