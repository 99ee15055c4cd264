"""Recurrent layers as autograd Functions on the whole-sequence kernels
(csrc/cpu/rnn.h): one layer, one direction per Function, with the outputs
y, h_n (and c_n) as separate results. Stacks of layers, the reverse
direction and dropout between layers are composed in nn.functional.

Sequences are (T, B, features). lengths (B,) (optional, ints in [0, T])
gives each batch element's length: steps at or past it keep the state and
output zeros, like PyTorch's packed sequences; h_n (c_n) are the states
after each element's last step. The reverse direction of a bidirectional
layer runs each sequence backwards from its own last step.
"""
from nerve import backend
from nerve.autograd import Function


class LSTMLayer(Function):
    """forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=None) -> y (T, B, H), h_n, c_n (B, H)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=None):
        y, h_n, c_n, reserve = backend.of(x).lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths)
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, y, reserve)
        ctx.lengths = lengths
        return y, h_n, c_n

    @staticmethod
    def backward(ctx, dy, dh_n, dc_n):
        x, h0, c0, w_ih, w_hh, b_ih, b_hh, y, reserve = ctx.saved_tensors
        return backend.of(dy).lstm_backward(dy, dh_n, dc_n, x, h0, c0, w_ih, w_hh, y, reserve, b_ih, b_hh,
                                            ctx.lengths)


class GRULayer(Function):
    """forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, lengths=None) -> y (T, B, H), h_n (B, H)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, lengths=None):
        y, h_n, reserve = backend.of(x).gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, lengths)
        ctx.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh, y, reserve)
        ctx.lengths = lengths
        return y, h_n

    @staticmethod
    def backward(ctx, dy, dh_n):
        x, h0, w_ih, w_hh, b_ih, b_hh, y, reserve = ctx.saved_tensors
        return backend.of(dy).gru_backward(dy, dh_n, x, h0, w_ih, w_hh, y, reserve, b_ih, b_hh, ctx.lengths)


class RNNLayer(Function):
    """forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, lengths=None, nonlinearity='tanh') -> y (T, B, H), h_n (B, H)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, lengths=None, nonlinearity="tanh"):
        y, h_n = backend.of(x).rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, nonlinearity)
        ctx.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh, y)
        ctx.lengths, ctx.nonlinearity = lengths, nonlinearity
        return y, h_n

    @staticmethod
    def backward(ctx, dy, dh_n):
        x, h0, w_ih, w_hh, b_ih, b_hh, y = ctx.saved_tensors
        return backend.of(dy).rnn_backward(dy, dh_n, x, h0, w_ih, w_hh, y, b_ih, b_hh, ctx.lengths,
                                           ctx.nonlinearity)


class ReverseSequence(Function):
    """out[t, b] = x[lengths[b] - 1 - t, b] for t < lengths[b], else x[t, b] (all of x reversed without lengths).
    Its own inverse, so backward applies the same permutation to the gradient."""

    @staticmethod
    def forward(ctx, x, lengths=None):
        be = backend.of(x)
        ctx.index = (be.reverse_index(x.shape[0], x.shape[1], lengths), be.xp.arange(x.shape[1]))
        return x[ctx.index]

    @staticmethod
    def backward(ctx, g):
        return g[ctx.index]

