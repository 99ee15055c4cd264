"""Scaled dot-product attention.

The fused kernel (flash-style forward, recomputing backward) is one Function;
it also does dropout: each call draws a 64-bit seed from nerve's generator,
the kernel keeps P[i, j] by a counter-based hash of (seed, row, column), and
the backward replays the mask from the seed, so no mask is stored. A value
head size different from the query's (and nn.MultiheadAttention with
need_weights=True) takes a composed path instead: q k^T, softmax, dropout,
@ v, differentiated op by op; that path materializes the (L, S)
probabilities.

Fully masked rows (every key masked for a query) give a zero output row and
zero gradients on both paths. PyTorch's math path gives NaN there.
"""
import math

import numpy as np

from nerve import backend
from nerve import random as nrandom
from nerve.autograd import Function


class ScaledDotProductAttention(Function):
    """Fused attention on (B, H, L, D) q and (B, H, S, D) k, v arrays.

    attn_mask is an array (bool: True = take part, or additive float) or
    None and gets no gradient; dropout_p > 0 uses the kernel's dropout with
    `seed`; key_mask (B, S) bool (True = take part) or None masks keys per
    batch on top of attn_mask.
    """

    @staticmethod
    def forward(ctx, q, k, v, attn_mask, scale, is_causal, dropout_p, seed, key_mask):
        out, lse = backend.of(q).attention_forward(q, k, v, attn_mask, scale, is_causal, dropout_p, seed, key_mask)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.options = (attn_mask, scale, is_causal, dropout_p, seed, key_mask)
        return out

    @staticmethod
    def backward(ctx, g):
        q, k, v, out, lse = ctx.saved_tensors
        dq, dk, dv = backend.of(q).attention_backward(g, q, k, v, out, lse, *ctx.options)
        return dq, dk, dv, None, None, None, None, None, None


def fused_attention(q, k, v, attn_mask, scale, is_causal, dropout_p=0.0, key_mask=None):
    """The fused kernel on (B, H, L, D) / (B, H, S, D) Tensors, no argument checks.

    attn_mask: array (bool: True = take part, or additive) or None; key_mask:
    bool (B, S) array (True = take part) or None. Draws the dropout seed.
    """
    seed = int(nrandom.generator().integers(0, 2 ** 63)) if dropout_p > 0 else 0
    return ScaledDotProductAttention.apply(q, k, v, attn_mask, scale, is_causal, dropout_p, seed, key_mask)


def _array(x):
    from nerve.tensor import Tensor
    return x.data if isinstance(x, Tensor) else x


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """softmax(query key^T * scale + mask) value, PyTorch semantics.

    query (..., L, D), key (..., S, D), value (..., S, Ev) with equal leading
    dims; returns (..., L, Ev). attn_mask: bool (True = take part) or float
    (added to the logits), broadcastable to (..., L, S). is_causal: query i
    attends keys j <= i (top-left aligned). scale defaults to 1/sqrt(D).
    Rows with every key masked give zeros (PyTorch: NaN).
    """
    from nerve.tensor import Tensor
    q, k, v = _array(query), _array(key), _array(value)
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim:
        raise ValueError(f"scaled_dot_product_attention: query, key and value must have one rank >= 2, got shapes "
                         f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if k.shape[:-2] != q.shape[:-2] or v.shape[:-1] != k.shape[:-1] or k.shape[-1] != q.shape[-1]:
        raise ValueError(f"scaled_dot_product_attention: expected query (..., L, D), key (..., S, D), value "
                         f"(..., S, Ev) with equal leading dims, got {tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{tuple(v.shape)}")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1), got {dropout_p}")
    mask = _array(attn_mask)
    if mask is not None:
        xp = backend.of(q).xp
        mask = xp.asarray(mask)
        if mask.dtype != np.bool_:
            if mask.dtype.kind not in "fiu":
                raise ValueError(f"scaled_dot_product_attention: attn_mask must be bool or float, got {mask.dtype}")
            mask = mask.astype(q.dtype, copy=False)
        try:
            if mask.ndim > q.ndim or np.broadcast_shapes(mask.shape, q.shape[:-1] + k.shape[-2:-1]) != q.shape[:-1] + k.shape[-2:-1]:
                raise ValueError
        except ValueError:
            raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {tuple(mask.shape)} does not "
                             f"broadcast to {tuple(q.shape[:-1] + k.shape[-2:-1])}") from None
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    tensors = [t if isinstance(t, Tensor) else Tensor._wrap(t) for t in (query, key, value)]
    if v.shape[-1] != q.shape[-1]:
        return attention_with_weights(*tensors, mask, dropout_p, is_causal, scale)[0]
    batch, L, S = q.shape[:-2], q.shape[-2], k.shape[-2]
    if q.ndim == 4:
        return fused_attention(*tensors, mask, scale, is_causal, dropout_p)
    # Fold the leading dims into (B, H): (L, D) -> (1, 1, L, D), (N, L, D) -> (1, N, L, D), ...
    n = int(np.prod(batch)) if q.ndim > 4 else None
    lead = (1, 1) if q.ndim == 2 else (1,) + batch if q.ndim == 3 else (n, 1)
    if mask is not None and q.ndim > 4:
        mask = backend.of(q).xp.broadcast_to(mask, batch + (L, S)).reshape(lead + (L, S))
    q4, k4, v4 = (t.reshape(*lead, *t.shape[-2:]) for t in tensors)
    out = fused_attention(q4, k4, v4, mask, scale, is_causal, dropout_p)
    return out.reshape(*batch, L, v.shape[-1])


def attention_with_weights(q, k, v, mask, dropout_p, is_causal, scale):
    """The unfused path: (out, probabilities (..., L, S) before dropout), op by op, (L, S) in memory.

    q, k, v are Tensors; mask is an array (bool: True = take part, or
    additive) or None. Used for dropout, for Ev != D and by
    nn.MultiheadAttention when need_weights=True.
    """
    from nerve.ops.dropout import keep_mask
    from nerve.tensor import Tensor
    xp = backend.of(q.data).xp
    dtype = q.data.dtype
    L, S = q.shape[-2], k.shape[-2]
    allowed = xp.ones((L, S), dtype=bool)
    if is_causal:
        allowed = xp.tril(allowed)
    additive = None
    if mask is not None:
        if mask.dtype == np.bool_:
            allowed = allowed & mask
        else:
            allowed = allowed & ~xp.isneginf(mask)
            additive = xp.where(xp.isneginf(mask), 0, mask).astype(dtype)
    # Masked logits get a large finite penalty (not -inf) so a fully masked
    # row softmaxes to finite values, which `valid` then zeroes.
    bias = xp.where(allowed, dtype.type(0), dtype.type(np.finfo(dtype).min / 4))
    if additive is not None:
        bias = bias + additive
    valid = allowed.any(-1, keepdims=True).astype(dtype)
    s = (q @ k.transpose(-2, -1)) * scale + Tensor._wrap(bias)
    p = s.softmax(-1) * Tensor._wrap(valid)
    pd = p * Tensor._wrap(keep_mask(tuple(p.shape), dropout_p, dtype, q.data)) if dropout_p > 0 else p
    return pd @ v, p
