"""Recurrent ops (nerve.ops.rnn, composed in nerve.nn.functional): autograd through the layer
Functions, reverse_sequence, and stacked / bidirectional composition against
a NumPy float64 reference."""
import numpy as np
import pytest

import nerve
from nerve.nn import functional as F
from nerve.testing import gradcheck
from tests.kernels.test_rnn import GATES, MODES, make, ref_forward


def T(a, grad=False):
    return None if a is None else nerve.tensor(a, dtype=nerve.float64, requires_grad=grad)


def layer(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=None):
    """The layer op as one tensor (y, h_n, c_n flattened) for gradcheck."""
    if mode == "lstm":
        outs = F.lstm_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths)
    elif mode == "gru":
        outs = F.gru_layer(x, h0, w_ih, w_hh, b_ih, b_hh, lengths)
    else:
        outs = F.rnn_layer(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, mode[4:])
    return nerve.cat([o.reshape(-1) for o in outs])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("lengths", [None, [2, 0, 3]])
def test_layer_gradcheck(mode, lengths):
    a = make(mode, 3, 3, 2, 3, seed=11)
    keys = ["x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"]
    if mode != "lstm":
        keys.remove("c0")
        fn = lambda x, h0, w_ih, w_hh, b_ih, b_hh: layer(mode, x, h0, None, w_ih, w_hh, b_ih, b_hh, lengths)  # noqa
    else:
        fn = lambda *args: layer(mode, *args, lengths)  # noqa
    assert gradcheck(fn, [a[k] for k in keys], atol=1e-6, rtol=1e-5)


def test_layer_without_bias_and_partial_grads():
    a = make("lstm", 3, 2, 3, 4, bias=False)
    x, w_ih = T(a["x"], True), T(a["w_ih"], True)
    y, h, c = F.lstm_layer(x, T(a["h0"]), T(a["c0"]), w_ih, T(a["w_hh"]))
    (y.sum() + h.sum() * 2 + c.sum() * 3).backward()
    ry = ref_forward("lstm", *(a[k] for k in ("x", "h0", "c0", "w_ih", "w_hh")), None, None, None)
    np.testing.assert_allclose(y.detach().numpy(), ry[0], rtol=1e-12, atol=1e-12)
    assert x.grad.shape == x.shape and w_ih.grad.shape == w_ih.shape


def test_reverse_sequence():
    x = np.arange(4 * 3 * 2, dtype=np.float64).reshape(4, 3, 2)
    got = F.reverse_sequence(T(x), [4, 2, 0]).numpy()
    np.testing.assert_array_equal(got[:, 0], x[::-1, 0])
    np.testing.assert_array_equal(got[:2, 1], x[1::-1, 1])
    np.testing.assert_array_equal(got[2:, 1], x[2:, 1])
    np.testing.assert_array_equal(got[:, 2], x[:, 2])
    np.testing.assert_array_equal(F.reverse_sequence(T(x)).numpy(), x[::-1])
    assert gradcheck(lambda v: F.reverse_sequence(v, [3, 1, 4]), [x])


def ref_stack(mode, x, h0, c0, weights, num_layers, D, lengths):
    """Stacked, bidirectional reference built from the single-layer reference."""
    B = x.shape[1]
    n = np.full(B, x.shape[0]) if lengths is None else np.asarray(lengths)

    def rev(v):
        out = v.copy()
        for b in range(B):
            out[:n[b], b] = v[:n[b], b][::-1]
        return out
    hs, cs, inp = [], [], x
    for layer in range(num_layers):
        ys = []
        for d in range(D):
            k = layer * D + d
            y, h, c = ref_forward(mode, rev(inp) if d else inp, h0[k], None if c0 is None else c0[k], *weights[k],
                                  lengths)
            ys.append(rev(y) if d else y)
            hs.append(h)
            cs.append(c)
        inp = np.concatenate(ys, axis=2)
    return inp, np.stack(hs), (np.stack(cs) if c0 is not None else None)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("lengths", [None, [4, 1, 3]])
def test_recurrent_stack_matches_reference(mode, bidirectional, lengths):
    rng = np.random.default_rng(4)
    Tn, B, I, H, L = 4, 3, 5, 6, 2
    D = 2 if bidirectional else 1
    G = GATES[mode]
    x = rng.standard_normal((Tn, B, I))
    h0 = rng.standard_normal((L * D, B, H))
    c0 = rng.standard_normal((L * D, B, H)) if mode == "lstm" else None
    weights = [tuple(rng.uniform(-0.5, 0.5, s) for s in ((G * H, I if k < D else D * H), (G * H, H), (G * H,),
                                                        (G * H,))) for k in range(L * D)]
    out = F.recurrent(mode, T(x), T(h0), T(c0), [tuple(T(w) for w in ws) for ws in weights], L, bidirectional,
                      lengths=lengths)
    ref = ref_stack(mode, x, h0, c0, weights, L, D, lengths)
    for got, want in zip(out, ref):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-11, atol=1e-12)


def test_recurrent_gradcheck_bidirectional_lengths():
    rng = np.random.default_rng(5)
    Tn, B, I, H = 3, 2, 2, 3
    x, h0, c0 = rng.standard_normal((Tn, B, I)), rng.standard_normal((4, B, H)), rng.standard_normal((4, B, H))
    w = [(rng.uniform(-.5, .5, (4 * H, I if k < 2 else 2 * H)), rng.uniform(-.5, .5, (4 * H, H)),
          rng.uniform(-.5, .5, 4 * H), rng.uniform(-.5, .5, 4 * H)) for k in range(4)]

    def fn(x, h0, c0, w_ih_l1r):
        ws = [tuple(T(v) for v in wk) for wk in w]
        ws[3] = (w_ih_l1r,) + ws[3][1:]
        y, h, c = F.recurrent("lstm", x, h0, c0, ws, 2, True, lengths=[3, 2])
        return nerve.cat([y.reshape(-1), h.reshape(-1), c.reshape(-1)])
    assert gradcheck(fn, [x, h0, c0, w[3][0]], atol=1e-6, rtol=1e-5)


def test_lengths_errors():
    a = make("gru", 3, 2, 3, 4)
    args = [T(a[k]) for k in ("x", "h0", "w_ih", "w_hh")]
    with pytest.raises(ValueError, match=r"rnn: argument 'lengths' expected values in \[0, T=3\], got 0..5"):
        F.gru_layer(*args, lengths=[5, 0])
    with pytest.raises(ValueError, match=r"rnn: argument 'lengths' expected integers of shape \(2,\), got float64"):
        F.gru_layer(*args, lengths=[1.0, 2.0])
