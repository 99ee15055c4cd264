"""Losses as autograd Functions with hand-written backward.

Most Functions return the unreduced loss (one value per element or per
sample) and nn.functional applies the reduction. Cross-entropy with class
indices is fused, reduction included: one native pass computes log-sum-exp
and the loss per row (csrc/cpu/loss.cpp), and backward writes softmax -
target (smoothed and weighted) straight from the saved log-sum-exp, no graph
of small ops. Inputs (N, C, d1, ...) are moved to rows (N * d1 * ..., C) here.
"""
import numpy as np

from nerve import backend
from nerve.autograd import Function
from nerve.ops.elementwise import unbroadcast


def _to_rows(x):
    """(N, C, d...) -> contiguous (N * d..., C); (N, C) stays as is when contiguous."""
    xp = backend.of(x).xp
    if x.ndim > 2:
        x = xp.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
    return xp.ascontiguousarray(x)


def _from_rows(rows, shape):
    """Inverse of _to_rows for an array of the input's shape."""
    xp = backend.of(rows).xp
    if len(shape) > 2:
        return xp.ascontiguousarray(xp.moveaxis(rows.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],)), -1, 1))
    return rows.reshape(shape)


class CrossEntropy(Function):
    """Softmax cross-entropy with class indices, reduction included.

    logits (N, C, d...) float, target (N, d...) int64 (already range-checked),
    weight (C,) or None. reduction 'none' -> loss (N, d...), 0 where target ==
    ignore_index; 'sum' -> its sum; 'mean' -> sum / (sum of w[t] over targets
    not ignored), nan when that is 0 (PyTorch). The reduction lives here so
    backward is one kernel call on a constant per-row gradient.
    """

    @staticmethod
    def forward(ctx, logits, target, weight, ignore_index, label_smoothing, reduction):
        be = backend.of(logits)
        xp = be.xp
        x = _to_rows(logits)
        t = xp.ascontiguousarray(target.reshape(-1), dtype=np.int64)
        w = None if weight is None else xp.ascontiguousarray(weight, dtype=logits.dtype)
        loss, lse = be.cross_entropy_forward(x, t, w, ignore_index, label_smoothing)
        ctx.save_for_backward(x, lse, t, w)
        ctx.info = (logits.shape, ignore_index, label_smoothing)
        ctx.scale = None
        if reduction == "none":
            return loss.reshape(target.shape)
        ctx.scale = 1.0
        if reduction == "mean":
            valid = t != ignore_index
            denom = float(valid.sum()) if w is None else float(w[xp.where(valid, t, 0)][valid].sum(dtype=np.float64))
            ctx.scale = 1.0 / denom if denom else float("nan")
        return xp.asarray(float(loss.sum(dtype=np.float64)) * ctx.scale, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, lse, t, w = ctx.saved_tensors
        shape, ignore_index, eps = ctx.info
        be = backend.of(x)
        if ctx.scale is None:
            g = be.xp.ascontiguousarray(g.reshape(-1), dtype=x.dtype)
        else:
            g = be.xp.full(x.shape[0], float(g) * ctx.scale, dtype=x.dtype)
        gx = be.cross_entropy_backward(g, x, lse, t, w, ignore_index, eps)
        return _from_rows(gx, shape), None, None, None, None, None


class CrossEntropyProbs(Function):
    """Softmax cross-entropy with class probabilities: logits and target (N, C, d...),
    loss (N, d...) = -sum_c w_c y_c log_softmax(x)_c, y = (1 - eps) target + eps / C."""

    @staticmethod
    def forward(ctx, logits, target, weight, label_smoothing):
        xp = backend.of(logits).xp
        C = logits.shape[1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        logp = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        wshape = (1, C) + (1,) * (logits.ndim - 2)
        w = xp.ones(wshape, logits.dtype) if weight is None else weight.reshape(wshape).astype(logits.dtype)
        y = (1 - label_smoothing) * target + label_smoothing / C
        ctx.save_for_backward(logp, y, w)
        ctx.eps = label_smoothing
        return -(w * y * logp).sum(axis=1).astype(logits.dtype)

    @staticmethod
    def backward(ctx, g):
        logp, y, w = ctx.saved_tensors
        xp = backend.of(logp).xp
        g = xp.expand_dims(g, 1)
        wy = w * y
        gx = g * (xp.exp(logp) * wy.sum(axis=1, keepdims=True) - wy) if ctx.needs_input_grad[0] else None
        gt = -(1 - ctx.eps) * g * w * logp if ctx.needs_input_grad[1] else None
        return gx, gt, None, None


class NllLoss(Function):
    """input (N, C, d...) log-probabilities, target (N, d...) int64 (range-checked),
    weight (C,) or None -> loss (N, d...) = -w[t] input[n, t, ...], 0 where ignored."""

    @staticmethod
    def forward(ctx, logp, target, weight, ignore_index):
        xp = backend.of(logp).xp
        valid = target != ignore_index
        idx = xp.expand_dims(xp.where(valid, target, 0), 1)
        wt = valid.astype(logp.dtype) if weight is None else xp.where(valid, weight.astype(logp.dtype)[idx[:, 0]], 0)
        ctx.save_for_backward(idx, wt)
        ctx.shape = logp.shape
        return (-wt * xp.take_along_axis(logp, idx, axis=1)[:, 0]).astype(logp.dtype)

    @staticmethod
    def backward(ctx, g):
        idx, wt = ctx.saved_tensors
        xp = backend.of(g).xp
        gx = xp.zeros(ctx.shape, dtype=g.dtype)
        xp.put_along_axis(gx, idx, xp.expand_dims(-g * wt, 1), axis=1)
        return gx, None, None, None


class SmoothL1(Function):
    """Elementwise Huber-type loss of d = input - target (broadcast).

    huber=False (SmoothL1, beta): 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta
    huber=True (Huber, delta):    0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta)
    """

    @staticmethod
    def forward(ctx, input, target, threshold, huber):
        xp = backend.of(input).xp
        d = input - target
        ad = xp.abs(d)
        ctx.save_for_backward(d)
        ctx.info = (input.shape, target.shape, threshold, huber)
        if huber:
            return xp.where(ad < threshold, 0.5 * d * d, threshold * (ad - 0.5 * threshold)).astype(d.dtype)
        if threshold == 0:
            return ad
        return xp.where(ad < threshold, 0.5 * d * d / threshold, ad - 0.5 * threshold).astype(d.dtype)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        sa, sb, threshold, huber = ctx.info
        xp = backend.of(d).xp
        if huber:
            gd = g * xp.clip(d, -threshold, threshold)
        elif threshold == 0:
            gd = g * xp.sign(d)
        else:
            gd = g * xp.where(xp.abs(d) < threshold, d / threshold, xp.sign(d))
        return unbroadcast(gd, sa), unbroadcast(-gd, sb) if ctx.needs_input_grad[1] else None, None, None


class BinaryCrossEntropy(Function):
    """-w (y log x + (1 - y) log(1 - x)) with each log clamped at -100 (PyTorch)."""

    @staticmethod
    def forward(ctx, x, y, weight):
        xp = backend.of(x).xp
        with np.errstate(divide="ignore"):
            log_x = xp.maximum(xp.log(x), -100)
            log_1mx = xp.maximum(xp.log1p(-x), -100)
        loss = -(y * log_x + (1 - y) * log_1mx)
        if weight is not None:
            loss = loss * weight
        ctx.save_for_backward(x, y, weight, log_x, log_1mx)
        return loss.astype(x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, y, weight, log_x, log_1mx = ctx.saved_tensors
        xp = backend.of(x).xp
        gw = g if weight is None else g * weight
        gx = gw * (x - y) / xp.maximum((1 - x) * x, 1e-12) if ctx.needs_input_grad[0] else None
        gy = gw * (log_1mx - log_x) if ctx.needs_input_grad[1] else None
        return gx, gy, None


class BinaryCrossEntropyWithLogits(Function):
    """-w (pw y log sigmoid(x) + (1 - y) log sigmoid(-x)), from stable log-sigmoids;
    pos_weight pw broadcasts along the last (class) dim."""

    @staticmethod
    def forward(ctx, x, y, weight, pos_weight):
        xp = backend.of(x).xp
        # log sigmoid(x) = -softplus(-x), log sigmoid(-x) = -softplus(x), softplus(z) = max(z, 0) + log1p(exp(-|z|))
        tail = xp.log1p(xp.exp(-xp.abs(x)))
        sp_neg = xp.maximum(-x, 0) + tail
        sp_pos = xp.maximum(x, 0) + tail
        py = y if pos_weight is None else pos_weight * y
        loss = py * sp_neg + (1 - y) * sp_pos
        if weight is not None:
            loss = loss * weight
        ctx.save_for_backward(x, y, weight, pos_weight, sp_neg, sp_pos)
        return loss.astype(x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, y, weight, pos_weight, sp_neg, sp_pos = ctx.saved_tensors
        be = backend.of(x)
        gw = g if weight is None else g * weight
        py = y if pos_weight is None else pos_weight * y
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = unbroadcast(gw * (be.sigmoid(x) * (py + 1 - y) - py), x.shape)
        if ctx.needs_input_grad[1]:
            pw = 1 if pos_weight is None else pos_weight
            gy = unbroadcast(gw * (pw * sp_neg - sp_pos), y.shape)
        return gx, gy, None, None


class KlDiv(Function):
    """Pointwise KL: target (log target - input), 0 where target == 0; with
    log_target: exp(target) (target - input). Input holds log-probabilities."""

    @staticmethod
    def forward(ctx, x, y, log_target):
        xp = backend.of(x).xp
        if log_target:
            loss = xp.exp(y) * (y - x)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                loss = xp.where(y > 0, y * xp.log(xp.where(y > 0, y, 1)), 0) - y * x
        ctx.save_for_backward(x, y)
        ctx.log_target = log_target
        return loss.astype(x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        xp = backend.of(x).xp
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = unbroadcast(-g * (xp.exp(y) if ctx.log_target else y), x.shape)
        if ctx.needs_input_grad[1]:
            if ctx.log_target:
                gy = g * xp.exp(y) * (y - x + 1)
            else:
                with np.errstate(divide="ignore"):
                    gy = g * (xp.log(y) + 1 - x)
            gy = unbroadcast(gy, y.shape)
        return gx, gy, None
