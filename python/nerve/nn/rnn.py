"""RNN, LSTM, GRU and their cells with PyTorch's parameter names, shapes,
gate orders and initialization (uniform(-1/sqrt(H), 1/sqrt(H))).

Each layer and direction runs as one native whole-sequence kernel (see
nerve.ops.rnn; nn.functional.recurrent stacks them). Beyond PyTorch:
forward takes an optional ``lengths`` (B,) instead of a PackedSequence;
steps past a sequence's length output zeros and keep its state, so h_n
holds each sequence's state after its own last step, as with packed
sequences. A PackedSequence input (nn.utils.rnn) is unpacked to exactly that
and its output packed again. LSTM's proj_size (h = W_hr (o * tanh(c)), of
size proj_size) has no fused kernel: it runs step by step from Tensor ops.
"""
import math

from nerve.nn import functional as F
from nerve.nn import init
from nerve.nn.module import Module
from nerve.nn.parameter import Parameter
from nerve.nn.utils.rnn import PackedSequence, packed_rows, pad_packed_sequence
from nerve.tensor import cat, empty, stack, zeros

_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


class RNNBase(Module):
    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if not isinstance(proj_size, int) or proj_size < 0:
            raise ValueError(f"proj_size should be a non-negative integer, got {proj_size!r}")
        if proj_size and mode != "lstm":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if proj_size and isinstance(hidden_size, int) and proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        self.proj_size = proj_size
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"hidden_size must be a positive integer, got {hidden_size!r}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"num_layers must be a positive integer, got {num_layers!r}")
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError(f"dropout should be a number in range [0, 1], got {dropout!r}")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional = float(dropout), bidirectional
        D = 2 if bidirectional else 1
        G = _GATES[mode]
        out_size = proj_size or hidden_size  # the size of h
        self._flat_names = []
        for layer in range(num_layers):
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                in_size = input_size if layer == 0 else out_size * D
                names = [f"weight_ih{sfx}", f"weight_hh{sfx}"] + ([f"bias_ih{sfx}", f"bias_hh{sfx}"] if bias else [])
                shapes = [(G * hidden_size, in_size), (G * hidden_size, out_size)] + [(G * hidden_size,)] * 2
                if proj_size:
                    names.append(f"weight_hr{sfx}")
                    shapes = shapes[:len(names) - 1] + [(proj_size, hidden_size)]
                for name, shape in zip(names, shapes):
                    setattr(self, name, Parameter(empty(*shape, dtype=dtype, device=device)))
                self._flat_names.append(names)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def flatten_parameters(self):
        """No-op, for code written for PyTorch (nerve keeps no flat cuDNN weight buffer)."""

    @property
    def all_weights(self):
        """[[weight_ih, weight_hh(, bias_ih, bias_hh)] per layer and direction], as in PyTorch."""
        return [[getattr(self, n) for n in names] for names in self._flat_names]

    def _weights(self):
        """(w_ih, w_hh, b_ih, b_hh) per layer and direction (+ w_hr with proj_size)."""
        out = []
        for names in self._flat_names:
            ws = [getattr(self, n) for n in names]
            w_hr = ws.pop() if self.proj_size else None
            ws += [None, None] if not self.bias else []
            out.append(tuple(ws) + ((w_hr,) if self.proj_size else ()))
        return out

    def _projected_lstm(self, x, h0, c0, lengths):
        """LSTM with proj_size, step by step: x (T, B, I); h0 (L*D, B, P); c0 (L*D, B, H)."""
        T, B = x.shape[0], x.shape[1]
        lengths = F._lengths(lengths, T, B)
        masks = None
        if lengths is not None:
            steps = (x._xp.arange(T)[:, None] < x._xp.asarray(lengths)[None, :]).astype(x.dtype)
            masks = [x._wrap(steps[t][:, None]) for t in range(T)]
        D = 2 if self.bidirectional else 1
        weights = self._weights()
        layer_in, h_out, c_out = x, [], []
        for layer in range(self.num_layers):
            ys = []
            for d in range(D):
                k = layer * D + d
                w_ih, w_hh, b_ih, b_hh, w_hr = weights[k]
                inp = F.reverse_sequence(layer_in, lengths) if d else layer_in
                h, c, outs = h0[k], c0[k], []
                for t in range(T):
                    gates = F.linear(inp[t], w_ih, b_ih) + F.linear(h, w_hh, b_hh)
                    i, f, g, o = gates.chunk(4, 1)
                    c_new = f.sigmoid() * c + i.sigmoid() * g.tanh()
                    h_new = F.linear(o.sigmoid() * c_new.tanh(), w_hr)
                    if masks is None:
                        h, c = h_new, c_new
                        outs.append(h_new)
                    else:
                        m = masks[t]
                        h, c = m * h_new + (1 - m) * h, m * c_new + (1 - m) * c
                        outs.append(m * h_new)
                y = stack(outs) if outs else zeros(0, B, self.proj_size, dtype=x.dtype, device=x.device)
                ys.append(F.reverse_sequence(y, lengths) if d else y)
                h_out.append(h)
                c_out.append(c)
            layer_in = ys[0] if D == 1 else cat(ys, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, True)
        return layer_in, stack(h_out), stack(c_out)

    def forward(self, input, hx=None, lengths=None):
        """input (T, B, I) ((B, T, I) if batch_first, or unbatched (T, I)), or a PackedSequence;
        hx (L*D, B, H) (LSTM: (h0, c0)); lengths (B,) optional. Returns (output, h_n), LSTM
        (output, (h_n, c_n)); output is packed when input was."""
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError(f"{type(self).__name__}: a PackedSequence carries its lengths; do not pass lengths")
            padded, lengths = pad_packed_sequence(input)
            batch_first, self.batch_first = self.batch_first, False
            try:
                y, states = self.forward(padded, hx, lengths)
            finally:
                self.batch_first = batch_first
            T, B = y.shape[0], y.shape[1]
            rows = packed_rows(lengths, input.sorted_indices, T, B)
            data = y.reshape(T * B, y.shape[2])[rows]
            return PackedSequence(data, input.batch_sizes, input.sorted_indices, input.unsorted_indices), states
        lstm = self.mode == "lstm"
        batched = input.ndim == 3
        if input.ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__}: expected input of 2 (unbatched) or 3 dimensions, got "
                             f"{input.ndim} (shape {tuple(input.shape)})")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input.size(-1) must be equal to input_size. "
                             f"Expected {self.input_size}, got {input.shape[-1]}")
        x = input if not batched else input.transpose(0, 1) if self.batch_first else input
        if not batched:
            x = x.unsqueeze(1)
        B = x.shape[1]
        states = (2 if self.bidirectional else 1) * self.num_layers
        want = (states, B, self.hidden_size)
        want_h = (states, B, self.proj_size or self.hidden_size)
        if hx is None:
            h0 = zeros(*want_h, dtype=x.dtype, device=x.device)
            c0 = zeros(*want, dtype=x.dtype, device=x.device) if lstm else None
        else:
            h0, c0 = hx if lstm else (hx, None)
            if not batched:
                h0, c0 = h0.unsqueeze(1), None if c0 is None else c0.unsqueeze(1)
            for name, s, shape in (("h0", h0, want_h), ("c0", c0, want)):
                if s is not None and tuple(s.shape) != shape:
                    raise ValueError(f"{type(self).__name__}: expected hidden state {name} of shape {shape}, got "
                                     f"{tuple(s.shape)}")
        if self.proj_size:
            out = self._projected_lstm(x, h0, c0, lengths)
        else:
            out = F.recurrent(self.mode, x, h0, c0, self._weights(), self.num_layers, self.bidirectional,
                              self.dropout, self.training, lengths)
        y, states_out = out[0], out[1:]
        if not batched:
            y, states_out = y.squeeze(1), tuple(s.squeeze(1) for s in states_out)
        elif self.batch_first:
            y = y.transpose(0, 1)
        return (y, states_out) if lstm else (y, states_out[0])

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "rnn_relu":
            s += ", nonlinearity='relu'"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False),
                              ("proj_size", 0)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity '{nonlinearity}', expected 'tanh' or 'relu'")
        super().__init__(f"rnn_{nonlinearity}", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """LSTM, gates i, f, g, o stacked in weight_ih_l{k} (4H, in)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)


class GRU(RNNBase):
    """GRU, gates r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


class RNNCellBase(Module):
    def __init__(self, mode, input_size, hidden_size, bias, device, dtype):
        super().__init__()
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"hidden_size must be a positive integer, got {hidden_size!r}")
        self.mode, self.input_size, self.hidden_size, self.bias = mode, input_size, hidden_size, bias
        gh = _GATES[mode] * hidden_size
        self.weight_ih = Parameter(empty(gh, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(empty(gh, hidden_size, dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(empty(gh, dtype=dtype, device=device))
            self.bias_hh = Parameter(empty(gh, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _prepare(self, input, hx):
        """(B, I) input (unsqueezed if 1-D), the states (zeros if None), and whether the input was batched."""
        if input.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}: expected input of 1 (unbatched) or 2 dimensions, got "
                             f"{input.ndim} (shape {tuple(input.shape)})")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input has inconsistent input_size: got {input.shape[-1]} "
                             f"expected {self.input_size}")
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        n = 2 if self.mode == "lstm" else 1
        if hx is None:
            states = tuple(zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device) for _ in range(n))
        else:
            states = tuple(hx) if n == 2 else (hx,)
            states = states if batched else tuple(s.unsqueeze(0) for s in states)
            for s in states:
                if tuple(s.shape) != (x.shape[0], self.hidden_size):
                    raise ValueError(f"{type(self).__name__}: expected hidden state of shape "
                                     f"{(x.shape[0], self.hidden_size)}, got {tuple(s.shape)}")
        return x, states, batched

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.mode == "rnn_relu":
            s += ", nonlinearity='relu'"
        return s


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity '{nonlinearity}', expected 'tanh' or 'relu'")
        super().__init__(f"rnn_{nonlinearity}", input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, hx)
        h = F.rnn_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.nonlinearity)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("lstm", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        """-> (h', c')."""
        x, (h, c), batched = self._prepare(input, hx)
        h, c = F.lstm_cell(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("gru", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, hx)
        h = F.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h if batched else h.squeeze(0)
