"""Resampling of the spatial axes (N, C, *spatial): nearest, nearest-exact and
(bi/tri)linear, PyTorch's coordinate rules.

Each axis of size n resampled to m is a gather of one (nearest) or two
(linear) source positions per output position, weighted; the axes are
separable, so forward gathers one axis at a time and backward scatter-adds
(ops.pad's gather_axis / scatter_axis). With ``scale`` = n / m, or 1 /
scale_factor when the caller gave one:
  nearest        src = min(floor(j * scale), n - 1)
  nearest-exact  src = min(floor((j + 0.5) * scale), n - 1)
  linear         x = (j + 0.5) * scale - 0.5 clamped at 0 (align_corners=False),
                 x = j * (n - 1) / (m - 1) (align_corners=True, 0 when m = 1);
                 i0 = floor(x), i1 = min(i0 + 1, n - 1), weights (1 - t, t), t = x - i0.
"""
import numpy as np

from nerve import backend
from nerve.autograd import Function
from nerve.ops.pad import gather_axis, scatter_axis


def axis_terms(n, m, mode, align_corners, scale):
    """[(index, weight or None)] numpy arrays for one axis, n -> m."""
    j = np.arange(m, dtype=np.float64)
    if mode in ("nearest", "nearest-exact"):
        s = n / m if scale is None else 1.0 / scale
        x = j * s if mode == "nearest" else (j + 0.5) * s
        return [(np.minimum(np.floor(x).astype(np.int64), n - 1), None)]
    if align_corners:
        x = j * ((n - 1) / (m - 1)) if m > 1 else np.zeros(m)
    else:
        s = n / m if scale is None else 1.0 / scale
        x = np.maximum((j + 0.5) * s - 0.5, 0.0)
    i0 = np.minimum(np.floor(x).astype(np.int64), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    t = x - i0
    return [(i0, 1.0 - t), (i1, t)]


class Interpolate(Function):
    """x (N, C, *spatial) -> (N, C, *size); scales: per axis 1/scale_factor override, or None."""

    @staticmethod
    def forward(ctx, x, size, mode, align_corners, scales):
        be = backend.of(x)
        plan = []
        for k, (m, scale) in enumerate(zip(size, scales)):
            axis = 2 + k
            terms = [(be.asarray(i), None if w is None else be.asarray(w.astype(x.dtype)))
                     for i, w in axis_terms(x.shape[axis], m, mode, align_corners, scale)]
            plan.append((axis, x.shape[axis], terms))
            x = gather_axis(x, axis, terms, be.xp)
        ctx.plan = plan
        return x

    @staticmethod
    def backward(ctx, g):
        xp = backend.of(g).xp
        for axis, size, terms in reversed(ctx.plan):
            g = scatter_axis(g, axis, size, terms, xp)
        return g, None, None, None, None
