"""Gradient clipping."""
import math

from nerve.tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale gradients in place so their joint norm is at most max_norm; returns the norm before clipping."""
    grads = _grads(parameters)
    if not grads:
        return Tensor._wrap(__import__("numpy").asarray(0.0, dtype="float32"))
    xp = grads[0]._xp
    if norm_type == math.inf:
        total = max(float(xp.abs(g.array).max()) if g.numel() else 0.0 for g in grads)
    else:
        total = sum(float((xp.abs(g.array.astype("float64")) ** norm_type).sum()) for g in grads) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} is non-finite ({total})")
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g.array *= g.dtype.type(coef)
    return Tensor._wrap(xp.asarray(total, dtype=grads[0].dtype))


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element into [-clip_value, clip_value] in place."""
    for g in _grads(parameters):
        xp = g._xp
        xp.clip(g.array, -clip_value, clip_value, out=g.array)


def l1_penalty(parameters, strength):
    """L1 regularization term ``strength * sum(|p|)`` over the parameters, as a
    Tensor to add to the loss (its gradient is strength * sign(p)). L2 is the
    optimizers' ``weight_decay``; L1 has no optimizer option, add this instead:
    ``loss = criterion(out, y) + nn.utils.l1_penalty(model.parameters(), 1e-4)``."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    total = None
    for p in parameters:
        term = p.abs().sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("l1_penalty: got no parameters")
    return total * strength
