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
