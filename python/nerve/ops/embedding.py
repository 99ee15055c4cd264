"""Embedding: a native row gather whose backward is a native scatter-add."""
from nerve import backend
from nerve.autograd import Function


class Embedding(Function):
    """indices (any shape, integer) into weight (num, dim) -> (*indices.shape, dim)."""

    @staticmethod
    def forward(ctx, indices, weight, padding_idx):
        ctx.save_for_backward(indices)
        ctx.num, ctx.padding_idx = weight.shape[0], padding_idx
        return backend.of(weight).embedding_forward(weight, indices)

    @staticmethod
    def backward(ctx, g):
        (indices,) = ctx.saved_tensors
        return None, backend.of(g).embedding_backward(g, indices, ctx.num, ctx.padding_idx), None


def embedding(input, weight, padding_idx=None):
    """Rows of weight (num, dim) picked by integer ``input``; padding_idx's row gets no gradient."""
    from nerve.tensor import Tensor
    idx = input.data if isinstance(input, Tensor) else input
    if getattr(idx, "dtype", None) is None or idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: argument 'input' expected an integer tensor of indices, got dtype "
                        f"{getattr(idx, 'dtype', type(idx).__name__)}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: argument 'weight' expected a 2-D (num, dim) tensor, got shape {tuple(weight.shape)}")
    num = weight.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx must be within [-{num}, {num}), got {padding_idx}")
        padding_idx = padding_idx + num if padding_idx < 0 else padding_idx
    return Embedding.apply(idx, weight, padding_idx)
