"""Differentiable ops, one module per family. Each op is a Function whose
forward/backward work on raw arrays and call backend kernels. Nothing here
knows about Tensor or nn: Tensor methods and nn.functional compose these."""
from nerve.ops import (
    activation, attention, batch_norm, conv, copy, dropout, elementwise, embedding, gemm, layer_norm, loss, pool,
    reduce, rnn, shape,
)

__all__ = ["activation", "attention", "batch_norm", "conv", "copy", "dropout", "elementwise", "embedding", "gemm",
           "layer_norm", "loss", "pool", "reduce", "rnn", "shape"]
