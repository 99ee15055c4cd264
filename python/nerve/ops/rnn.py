"""Recurrent layers as autograd Functions on the whole-sequence kernels
(csrc/cpu/rnn.h): one layer, one direction per Function; stacks of layers,
the reverse direction and dropout between layers are composed here.

Function.apply returns one tensor, so each layer Function returns its
outputs packed along the time axis: (T + 1, B, H) = [y_0..y_{T-1}, h_n]
(rnn, gru) or (T + 2, B, H) = [y, h_n, c_n] (lstm), and the wrappers below
split it with differentiable slicing. The kernels write straight into the
packed array, so packing costs no copy.

Sequences are (T, B, features). lengths (B,) (optional, ints in [0, T])
gives each batch element's length: steps at or past it keep the state and
output zeros, like PyTorch's packed sequences; h_n (c_n) are the states
after each element's last step. The reverse direction of a bidirectional
layer runs each sequence backwards from its own last step.
"""
import numpy as np

from nerve import backend
from nerve.autograd import Function
from nerve.tensor import Tensor, cat, stack, zeros


class LSTMLayer(Function):
    """forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=None) -> packed (T + 2, B, H)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=None):
        be = backend.of(x)
        packed = be.xp.empty((x.shape[0] + 2,) + tuple(h0.shape), x.dtype)
        _, _, _, reserve = be.lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, packed=packed)
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, packed, reserve)
        ctx.lengths = lengths
        return packed

    @staticmethod
    def backward(ctx, g):
        x, h0, c0, w_ih, w_hh, b_ih, b_hh, packed, reserve = ctx.saved_tensors
        T = x.shape[0]
        return backend.of(g).lstm_backward(g[:T], g[T], g[T + 1], x, h0, c0, w_ih, w_hh, packed[:T], reserve, b_ih,
                                           b_hh, ctx.lengths)


class GRULayer(Function):
    """forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, lengths=None) -> packed (T + 1, B, H)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, lengths=None):
        be = backend.of(x)
        packed = be.xp.empty((x.shape[0] + 1,) + tuple(h0.shape), x.dtype)
        _, _, reserve = be.gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, packed=packed)
        ctx.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh, packed, reserve)
        ctx.lengths = lengths
        return packed

    @staticmethod
    def backward(ctx, g):
        x, h0, w_ih, w_hh, b_ih, b_hh, packed, reserve = ctx.saved_tensors
        T = x.shape[0]
        return backend.of(g).gru_backward(g[:T], g[T], x, h0, w_ih, w_hh, packed[:T], reserve, b_ih, b_hh,
                                          ctx.lengths)


class RNNLayer(Function):
    """forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, lengths=None, nonlinearity='tanh') -> packed (T + 1, B, H)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, lengths=None, nonlinearity="tanh"):
        be = backend.of(x)
        packed = be.xp.empty((x.shape[0] + 1,) + tuple(h0.shape), x.dtype)
        be.rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, nonlinearity, packed=packed)
        ctx.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh, packed)
        ctx.lengths, ctx.nonlinearity = lengths, nonlinearity
        return packed

    @staticmethod
    def backward(ctx, g):
        x, h0, w_ih, w_hh, b_ih, b_hh, packed = ctx.saved_tensors
        T = x.shape[0]
        return backend.of(g).rnn_backward(g[:T], g[T], x, h0, w_ih, w_hh, packed[:T], b_ih, b_hh, ctx.lengths,
                                          ctx.nonlinearity)


class ReverseSequence(Function):
    """out[t, b] = x[lengths[b] - 1 - t, b] for t < lengths[b], else x[t, b] (all of x reversed without lengths).
    Its own inverse, so backward applies the same permutation to the gradient."""

    @staticmethod
    def forward(ctx, x, lengths=None):
        ctx.index = reverse_index(x.shape[0], x.shape[1], lengths)
        return x[ctx.index, np.arange(x.shape[1])]

    @staticmethod
    def backward(ctx, g):
        return g[ctx.index, np.arange(g.shape[1])]


def reverse_index(T, B, lengths):
    """(T, B) time index of the reversed sequence (see ReverseSequence)."""
    t = np.arange(T)[:, None]
    if lengths is None:
        return np.broadcast_to(T - 1 - t, (T, B))
    n = np.asarray(lengths)[None, :]
    return np.where(t < n, n - 1 - t, t)


def _lengths(lengths, T, B):
    """lengths as an int64 numpy array (or None), checked."""
    if lengths is None:
        return None
    n = np.asarray(lengths.numpy() if isinstance(lengths, Tensor) else lengths)
    if n.shape != (B,) or n.dtype.kind not in "iu":
        raise ValueError(f"rnn: argument 'lengths' expected integers of shape ({B},), got {n.dtype} {n.shape}")
    if B and (n.min() < 0 or n.max() > T):
        raise ValueError(f"rnn: argument 'lengths' expected values in [0, T={T}], got {n.min()}..{n.max()}")
    return n.astype(np.int64)


def lstm_layer(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None):
    """One LSTM layer: x (T, B, I), h0, c0 (B, H) -> y (T, B, H), h_n, c_n (B, H)."""
    T = x.shape[0]
    packed = LSTMLayer.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=_lengths(lengths, T, x.shape[1]))
    return packed[:T], packed[T], packed[T + 1]


def gru_layer(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None):
    """One GRU layer: x (T, B, I), h0 (B, H) -> y (T, B, H), h_n (B, H)."""
    T = x.shape[0]
    packed = GRULayer.apply(x, h0, w_ih, w_hh, b_ih, b_hh, lengths=_lengths(lengths, T, x.shape[1]))
    return packed[:T], packed[T]


def rnn_layer(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, nonlinearity="tanh"):
    """One Elman RNN layer (tanh or relu): x (T, B, I), h0 (B, H) -> y (T, B, H), h_n (B, H)."""
    T = x.shape[0]
    packed = RNNLayer.apply(x, h0, w_ih, w_hh, b_ih, b_hh, lengths=_lengths(lengths, T, x.shape[1]),
                            nonlinearity=nonlinearity)
    return packed[:T], packed[T]


def reverse_sequence(x, lengths=None):
    """x (T, B, ...) with each sequence reversed within its length."""
    return ReverseSequence.apply(x, lengths=_lengths(lengths, x.shape[0], x.shape[1]))


def lstm_cell(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step: x (B, I), h, c (B, H) -> h', c' (the layer kernel with T = 1)."""
    _, h_n, c_n = lstm_layer(x.unsqueeze(0), h, c, w_ih, w_hh, b_ih, b_hh)
    return h_n, c_n


def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step: x (B, I), h (B, H) -> h'."""
    return gru_layer(x.unsqueeze(0), h, w_ih, w_hh, b_ih, b_hh)[1]


def rnn_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One Elman RNN step: x (B, I), h (B, H) -> h'."""
    return rnn_layer(x.unsqueeze(0), h, w_ih, w_hh, b_ih, b_hh, None, nonlinearity)[1]


def recurrent(mode, x, h0, c0, weights, num_layers, bidirectional=False, dropout=0.0, training=False,
              lengths=None):
    """Stacked (and optionally bidirectional) layers, as nn.RNN / LSTM / GRU run them.

    mode: 'lstm', 'gru', 'rnn_tanh' or 'rnn_relu'. x (T, B, I); h0, c0
    (num_layers * D, B, H) (c0 lstm only, else None); weights[layer * D + d]
    = (w_ih, w_hh, b_ih, b_hh). Dropout (p = dropout, in training) applies to
    the outputs of every layer but the last. Returns y (T, B, D * H), h_n
    (and c_n for lstm) of shape (num_layers * D, B, H).
    """
    from nerve.nn.functional import dropout as dropout_fn
    T, B = x.shape[0], x.shape[1]
    lengths = _lengths(lengths, T, B)
    D = 2 if bidirectional else 1
    h_out, c_out = [], []
    layer_in = x
    for layer in range(num_layers):
        ys = []
        for d in range(D):
            k = layer * D + d
            w_ih, w_hh, b_ih, b_hh = weights[k]
            inp = reverse_sequence(layer_in, lengths) if d else layer_in
            if mode == "lstm":
                y, h, c = lstm_layer(inp, h0[k], c0[k], w_ih, w_hh, b_ih, b_hh, lengths)
                c_out.append(c)
            elif mode == "gru":
                y, h = gru_layer(inp, h0[k], w_ih, w_hh, b_ih, b_hh, lengths)
            else:
                y, h = rnn_layer(inp, h0[k], w_ih, w_hh, b_ih, b_hh, lengths, mode[4:])
            ys.append(reverse_sequence(y, lengths) if d else y)
            h_out.append(h)
        layer_in = ys[0] if D == 1 else cat(ys, dim=2)
        if dropout and training and layer < num_layers - 1:
            layer_in = dropout_fn(layer_in, dropout, training)
    h_n = stack(h_out) if h_out else zeros(0, B, 0, dtype=x.dtype, device=x.device)
    return (layer_in, h_n, stack(c_out)) if mode == "lstm" else (layer_in, h_n)
