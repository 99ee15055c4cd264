"""nn.RNN / LSTM / GRU and their cells: PyTorch's parameter names, shapes and
init, batch_first, unbatched input, hidden states, dropout, errors."""
import math

import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.testing import gradcheck
from nerve.nn.utils import rnn
from tests.kernels.test_rnn import ref_forward


def test_parameter_names_and_shapes():
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    want = []
    for layer in range(2):
        for sfx in ("", "_reverse"):
            in_size = 3 if layer == 0 else 8
            want += [(f"weight_ih_l{layer}{sfx}", (16, in_size)), (f"weight_hh_l{layer}{sfx}", (16, 4)),
                     (f"bias_ih_l{layer}{sfx}", (16,)), (f"bias_hh_l{layer}{sfx}", (16,))]
    assert [(n, tuple(p.shape)) for n, p in m.named_parameters()] == want
    assert list(m.state_dict()) == [n for n, _ in want]
    g = nn.GRU(5, 7, bias=False)
    assert [(n, tuple(p.shape)) for n, p in g.named_parameters()] == [("weight_ih_l0", (21, 5)),
                                                                       ("weight_hh_l0", (21, 7))]
    c = nn.LSTMCell(5, 7)
    assert [(n, tuple(p.shape)) for n, p in c.named_parameters()] == [
        ("weight_ih", (28, 5)), ("weight_hh", (28, 7)), ("bias_ih", (28,)), ("bias_hh", (28,))]
    assert [n for n, _ in nn.RNNCell(2, 3, bias=False).named_parameters()] == ["weight_ih", "weight_hh"]


def test_all_weights_and_flatten_parameters():
    m = nn.GRU(3, 4, num_layers=2, bidirectional=True, bias=False)
    m.flatten_parameters()
    assert [[tuple(p.shape) for p in ws] for ws in m.all_weights] == [[(12, 3), (12, 4)]] * 2 + [[(12, 8), (12, 4)]] * 2
    assert m.all_weights[1][0] is m.weight_ih_l0_reverse


def test_init_bounds():
    m = nn.GRU(10, 25)
    for p in m.parameters():
        v = p.detach().numpy()
        assert np.abs(v).max() <= 1 / math.sqrt(25) and np.abs(v).max() > 0.15


@pytest.mark.parametrize("cls,mode", [(nn.LSTM, "lstm"), (nn.GRU, "gru"), (nn.RNN, "rnn_tanh")])
def test_module_matches_reference_batch_first(cls, mode):
    m = cls(3, 5, batch_first=True, dtype=nerve.float64)
    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    out = m(nerve.tensor(x))
    w = [m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0]
    w = [p.detach().numpy() for p in w]
    h0 = np.zeros((2, 5))
    y, h, c = ref_forward(mode, x.transpose(1, 0, 2), h0, h0 if mode == "lstm" else None, *w, None)
    np.testing.assert_allclose(out[0].detach().numpy(), y.transpose(1, 0, 2), rtol=1e-12, atol=1e-12)
    hn = out[1][0] if mode == "lstm" else out[1]
    np.testing.assert_allclose(hn.detach().numpy(), h[None], rtol=1e-12, atol=1e-12)


def test_relu_rnn_unbatched_and_hx():
    m = nn.RNN(3, 4, num_layers=2, nonlinearity="relu", dtype=nerve.float64)
    x = nerve.randn(5, 3, dtype=nerve.float64)
    h0 = nerve.randn(2, 4, dtype=nerve.float64)
    y, h = m(x, h0)
    assert tuple(y.shape) == (5, 4) and tuple(h.shape) == (2, 4)
    yb, hb = m(x.unsqueeze(1), h0.unsqueeze(1))
    np.testing.assert_array_equal(yb.detach().numpy()[:, 0], y.detach().numpy())
    assert np.all(y.detach().numpy() >= 0)


def test_cells_match_one_layer_step():
    rng = np.random.default_rng(1)
    for cell, layer in ((nn.LSTMCell(3, 4), nn.LSTM(3, 4)), (nn.GRUCell(3, 4), nn.GRU(3, 4)),
                        (nn.RNNCell(3, 4, nonlinearity="relu"), nn.RNN(3, 4, nonlinearity="relu"))):
        layer.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
        x = nerve.tensor(rng.standard_normal((2, 3)).astype(np.float32))
        y, states = layer(x.unsqueeze(0))
        got = cell(x)
        if isinstance(cell, nn.LSTMCell):
            np.testing.assert_allclose(got[1].detach().numpy(), states[1][0].detach().numpy(), rtol=1e-6)
            got = got[0]
        np.testing.assert_allclose(got.detach().numpy(), y[0].detach().numpy(), rtol=1e-6)
        got1 = cell(x[0])  # unbatched
        np.testing.assert_allclose((got1[0] if isinstance(got1, tuple) else got1).detach().numpy(),
                                   got.detach().numpy()[0], rtol=1e-6)


def test_cell_backward_reaches_parameters():
    cell = nn.GRUCell(3, 4, dtype=nerve.float64)
    h = nerve.zeros(2, 4, dtype=nerve.float64)
    for _ in range(3):  # unrolled in Python: gradients flow through h
        h = cell(nerve.randn(2, 3, dtype=nerve.float64), h)
    h.sum().backward()
    assert all(p.grad is not None and np.abs(p.grad.numpy()).sum() > 0 for p in cell.parameters())


def test_dropout_between_layers():
    m = nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = nerve.randn(6, 2, 3)
    ytrain = m(x)[0].detach().numpy()
    m.eval()
    y1, y2 = m(x)[0].detach().numpy(), m(x)[0].detach().numpy()
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(ytrain, y1)


def test_lengths_in_module():
    m = nn.GRU(3, 4, bidirectional=True, dtype=nerve.float64)
    x = nerve.randn(5, 2, 3, dtype=nerve.float64)
    y, h = m(x, lengths=[5, 2])
    y_short, h_short = m(x[:2, 1:])
    np.testing.assert_allclose(y.detach().numpy()[:2, 1], y_short.detach().numpy()[:, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h.detach().numpy()[:, 1], h_short.detach().numpy()[:, 0], rtol=1e-12, atol=1e-12)
    assert np.all(y.detach().numpy()[2:, 1] == 0)


def test_module_errors():
    with pytest.raises(ValueError, match="RNN: unknown nonlinearity 'gelu'"):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="hidden_size must be a positive integer, got 0"):
        nn.LSTM(3, 0)
    with pytest.raises(ValueError, match=r"dropout should be a number in range \[0, 1\], got 2"):
        nn.GRU(3, 4, dropout=2)
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        nn.RNNBase("gru", 3, 4, proj_size=2)
    m = nn.LSTM(3, 4)
    with pytest.raises(ValueError, match="LSTM: input.size\\(-1\\) must be equal to input_size. Expected 3, got 2"):
        m(nerve.randn(5, 2, 2))
    with pytest.raises(ValueError, match=r"LSTM: expected hidden state h0 of shape \(1, 2, 4\), got \(1, 3, 4\)"):
        m(nerve.randn(5, 2, 3), (nerve.zeros(1, 3, 4), nerve.zeros(1, 2, 4)))
    with pytest.raises(ValueError, match="LSTMCell: input has inconsistent input_size: got 2 expected 3"):
        nn.LSTMCell(3, 4)(nerve.randn(2, 2))


def test_repr():
    assert repr(nn.LSTM(3, 4, num_layers=2, batch_first=True)) == "LSTM(3, 4, num_layers=2, batch_first=True)"
    assert repr(nn.RNNCell(3, 4, nonlinearity="relu")) == "RNNCell(3, 4, nonlinearity='relu')"


# ----------------------------------------------------------- packed sequences
def _np_pack(x, lengths):
    """PyTorch's packed layout written out: for each step t, the rows of the sequences (longest first,
    ties in batch order) that are longer than t."""
    order = sorted(range(len(lengths)), key=lambda b: -lengths[b])
    data, sizes = [], []
    for t in range(max(lengths)):
        rows = [b for b in order if lengths[b] > t]
        data += [x[t, b] for b in rows]
        sizes.append(len(rows))
    return np.array(data), sizes, order


def test_pack_padded_sequence_layout_and_round_trip(rng):
    x = rng.standard_normal((5, 4, 2))
    lengths = [3, 5, 1, 5]
    packed = rnn.pack_padded_sequence(nerve.tensor(x), lengths, enforce_sorted=False)
    data, sizes, order = _np_pack(x, lengths)
    np.testing.assert_array_equal(packed.data.numpy(), data)
    assert packed.batch_sizes.tolist() == sizes and packed.sorted_indices.tolist() == order
    assert packed.unsorted_indices.tolist() == np.argsort(order).tolist()
    padded, got_lengths = rnn.pad_packed_sequence(packed, batch_first=True, padding_value=-1.0, total_length=6)
    assert got_lengths.tolist() == lengths and padded.shape == (4, 6, 2)
    want = np.full((4, 6, 2), -1.0)
    for b, n in enumerate(lengths):
        want[b, :n] = x[:n, b]
    np.testing.assert_array_equal(padded.numpy(), want)
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        rnn.pack_padded_sequence(nerve.tensor(x), lengths)
    sorted_packed = rnn.pack_padded_sequence(nerve.tensor(x[:, [1, 0]]), [5, 3])
    assert sorted_packed.sorted_indices is None and sorted_packed.batch_sizes.tolist() == [2, 2, 2, 1, 1]


def test_pad_sequence_and_pack_sequence(rng):
    seqs = [rng.standard_normal((n, 3)) for n in (2, 4, 1)]
    got = rnn.pad_sequence([nerve.tensor(s) for s in seqs], batch_first=True, padding_value=9.0)
    want = np.full((3, 4, 3), 9.0)
    for b, s in enumerate(seqs):
        want[b, :len(s)] = s
    np.testing.assert_array_equal(got.numpy(), want)
    left = rnn.pad_sequence([nerve.tensor(s) for s in seqs], padding_side="left")
    np.testing.assert_array_equal(left.numpy()[2:, 0], seqs[0])
    packed = rnn.pack_sequence([nerve.tensor(s) for s in seqs], enforce_sorted=False)
    back = rnn.unpack_sequence(packed)
    for a, b in zip(back, seqs):
        np.testing.assert_array_equal(a.numpy(), b)


@pytest.mark.parametrize("cls,mode", [(nn.LSTM, "lstm"), (nn.GRU, "gru"), (nn.RNN, "rnn_tanh")])
def test_rnn_on_packed_sequence_matches_each_sequence_alone(cls, mode, rng):
    """A packed batch runs as the fused kernels with lengths: each sequence's output and h_n (in the
    original batch order) equal a run on that sequence alone; gradients reach the padded input."""
    m = cls(3, 4, dtype=nerve.float64)
    x = rng.standard_normal((6, 3, 3))
    lengths = [4, 6, 2]
    xt = nerve.tensor(x, requires_grad=True)
    out, state = m(rnn.pack_padded_sequence(xt, lengths, enforce_sorted=False))
    assert isinstance(out, rnn.PackedSequence)
    y, got_lengths = rnn.pad_packed_sequence(out)
    h_n = state[0] if mode == "lstm" else state
    w = [p.detach().numpy() for p in (m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)]
    for b, n in enumerate(lengths):
        h0 = np.zeros((1, 4))
        ys, hs, _ = ref_forward(mode, x[:n, b:b + 1], h0, h0 if mode == "lstm" else None, *w, None)
        np.testing.assert_allclose(y.detach().numpy()[:n, b], ys[:, 0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(h_n.detach().numpy()[0, b], hs[0], rtol=1e-12, atol=1e-12)
        assert np.all(y.detach().numpy()[n:, b] == 0)
    out.data.sum().backward()
    g = xt.grad.numpy()
    assert np.all(g[4:, 0] == 0) and np.all(g[2:, 2] == 0) and np.abs(g[:2, 2]).sum() > 0


def _np_lstm_proj(x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr, lengths):
    """LSTM with projection, step by step: h = W_hr (o * tanh(c)); past a length, state kept, output 0."""
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    ys = []
    for t in range(x.shape[0]):
        i, f, g, o = np.split(x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh, 4, axis=1)
        c_new = sig(f) * c + sig(i) * np.tanh(g)
        h_new = (sig(o) * np.tanh(c_new)) @ w_hr.T
        live = (t < np.asarray(lengths))[:, None]
        h, c = np.where(live, h_new, h), np.where(live, c_new, c)
        ys.append(np.where(live, h_new, 0.0))
    return np.stack(ys), h, c


def test_lstm_proj_size(rng):
    m = nn.LSTM(3, 6, proj_size=4, dtype=nerve.float64)
    assert [(n, tuple(p.shape)) for n, p in m.named_parameters()] == [
        ("weight_ih_l0", (24, 3)), ("weight_hh_l0", (24, 4)), ("bias_ih_l0", (24,)), ("bias_hh_l0", (24,)),
        ("weight_hr_l0", (4, 6))]
    x = rng.standard_normal((5, 2, 3))
    h0, c0 = rng.standard_normal((1, 2, 4)), rng.standard_normal((1, 2, 6))
    w = [p.detach().numpy() for p in m.parameters()]
    for lengths in ([5, 5], [5, 3]):
        y, (h, c) = m(nerve.tensor(x), (nerve.tensor(h0), nerve.tensor(c0)), lengths=lengths)
        want = _np_lstm_proj(x, h0[0], c0[0], *w, lengths)
        assert y.shape == (5, 2, 4) and h.shape == (1, 2, 4) and c.shape == (1, 2, 6)
        for got, ref in zip((y, h[0], c[0]), want):
            np.testing.assert_allclose(got.detach().numpy(), ref, rtol=1e-12, atol=1e-12)
    two = nn.LSTM(3, 6, num_layers=2, bidirectional=True, proj_size=2, batch_first=True, dtype=nerve.float64)
    assert two.weight_ih_l1.shape == (24, 4) and two(nerve.tensor(x))[0].shape == (5, 2, 4)
    small = nn.LSTM(3, 4, proj_size=2, dtype=nerve.float64)
    assert gradcheck(lambda t: small(t, lengths=[3, 2])[0], [x[:3]])
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(3, 4, proj_size=4)
