"""Scaled dot-product attention.

The fused kernel (flash-style forward, recomputing backward) is one Function;
it also does dropout: each call gets a 64-bit seed (drawn by nn.functional),
the kernel keeps P[i, j] by a counter-based hash of (seed, row, column), and
the backward replays the mask from the seed, so no mask is stored. A value
head size different from the query's (and nn.MultiheadAttention with
need_weights=True) takes a composed path instead (nn.functional's
attention_with_weights): q k^T, softmax, dropout, @ v, differentiated op by
op; that path materializes the (L, S) probabilities.

Fully masked rows (every key masked for a query) give a zero output row and
zero gradients on both paths. PyTorch's math path gives NaN there.
"""
from nerve import backend
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
