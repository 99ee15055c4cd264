"""Recurrent kernels (nerve.kernels lstm / gru / rnn and their cells) against
a NumPy float64 reference written here, with finite-difference checks of
every gradient of the sequence backward."""
import numpy as np
import pytest

import nerve._C as _C
from nerve import kernels

MODES = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


# ------------------------------------------------------------------ reference

def sigmoid(v):
    return 0.5 * (1 + np.tanh(0.5 * v))  # no overflow warning for large |v|


def ref_forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths):
    """Step by step in float64; steps at or past lengths[b] keep the state and output 0."""
    T, B, _ = x.shape
    H = w_hh.shape[1]
    b_ih = np.zeros(w_ih.shape[0]) if b_ih is None else b_ih
    b_hh = np.zeros(w_ih.shape[0]) if b_hh is None else b_hh
    lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
    h, c = h0.astype(np.float64), None if c0 is None else c0.astype(np.float64)
    y = np.zeros((T, B, H))
    for t in range(T):
        gi, gh = x[t] @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        c_new = c
        if mode == "lstm":
            i, f, g, o = np.split(gi + gh, 4, axis=1)
            c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h_new = sigmoid(o) * np.tanh(c_new)
        elif mode == "gru":
            (ir, iz, in_), (hr, hz, hn) = np.split(gi, 3, axis=1), np.split(gh, 3, axis=1)
            r, z = sigmoid(ir + hr), sigmoid(iz + hz)
            n = np.tanh(in_ + r * hn)
            h_new = (1 - z) * n + z * h
        elif mode == "rnn_tanh":
            h_new = np.tanh(gi + gh)
        else:
            h_new = np.maximum(gi + gh, 0)
        on = (t < lengths)[:, None]
        h = np.where(on, h_new, h)
        c = None if c is None else np.where(on, c_new, c)
        y[t] = np.where(on, h_new, 0)
    return y, h, c


# ------------------------------------------------------------------ helpers

def make(mode, T, B, I, H, dtype=np.float64, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    G = GATES[mode]
    s = 1 / np.sqrt(H)
    a = dict(x=rng.standard_normal((T, B, I)), h0=rng.standard_normal((B, H)) * 0.5,
             c0=rng.standard_normal((B, H)) * 0.5 if mode == "lstm" else None,
             w_ih=rng.uniform(-s, s, (G * H, I)) * 2, w_hh=rng.uniform(-s, s, (G * H, H)) * 2,
             b_ih=rng.uniform(-s, s, G * H) if bias else None, b_hh=rng.uniform(-s, s, G * H) if bias else None)
    return {k: None if v is None else v.astype(dtype) for k, v in a.items()}


def forward(mode, a, lengths=None):
    """-> (y, h_n, c_n or None, saved) via the kernels."""
    if mode == "lstm":
        y, h, c, res = kernels.lstm_forward(a["x"], a["h0"], a["c0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"], lengths)
        return y, h, c, res
    if mode == "gru":
        y, h, res = kernels.gru_forward(a["x"], a["h0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"], lengths)
        return y, h, None, res
    y, h = kernels.rnn_forward(a["x"], a["h0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"], lengths, mode[4:])
    return y, h, None, None


def backward(mode, a, dy, dh, dc, lengths=None):
    """-> dict of gradients keyed like the inputs."""
    y, _, _, res = forward(mode, a, lengths)
    args = (a["x"], a["h0"])
    if mode == "lstm":
        g = kernels.lstm_backward(dy, dh, dc, *args, a["c0"], a["w_ih"], a["w_hh"], y, res, a["b_ih"], a["b_hh"], lengths)
        names = ["x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"]
    elif mode == "gru":
        g = kernels.gru_backward(dy, dh, *args, a["w_ih"], a["w_hh"], y, res, a["b_ih"], a["b_hh"], lengths)
        names = ["x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"]
    else:
        g = kernels.rnn_backward(dy, dh, *args, a["w_ih"], a["w_hh"], y, a["b_ih"], a["b_hh"], lengths, mode[4:])
        names = ["x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"]
    return dict(zip(names, g))


def ref(mode, a, lengths=None):
    return ref_forward(mode, a["x"], a["h0"], a["c0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"], lengths)


def check_forward(mode, a, lengths=None, rtol=1e-12, atol=1e-12):
    y, h, c, _ = forward(mode, a, lengths)
    ry, rh, rc = ref(mode, {k: None if v is None else v.astype(np.float64) for k, v in a.items()}, lengths)
    assert y.dtype == a["x"].dtype and h.dtype == a["x"].dtype
    np.testing.assert_allclose(y, ry, rtol=rtol, atol=atol)
    np.testing.assert_allclose(h, rh, rtol=rtol, atol=atol)
    if mode == "lstm":
        np.testing.assert_allclose(c, rc, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ forward

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("T,B,I,H", [(3, 2, 3, 4), (1, 1, 1, 1), (7, 3, 17, 33), (2, 5, 7, 3), (0, 2, 3, 4),
                                     (2, 3, 0, 4)])
def test_forward_matches_reference(mode, T, B, I, H):
    check_forward(mode, make(mode, T, B, I, H))


@pytest.mark.parametrize("mode", MODES)
def test_forward_float32(mode, isa):
    check_forward(mode, make(mode, 5, 3, 17, 33, np.float32), rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("mode", MODES)
def test_forward_no_bias(mode):
    check_forward(mode, make(mode, 4, 3, 5, 6, bias=False))


@pytest.mark.parametrize("mode", MODES)
def test_forward_lengths(mode, isa):
    a = make(mode, 5, 4, 3, 7)
    lengths = np.array([5, 0, 3, 1])
    check_forward(mode, a, lengths)
    y, h, _, _ = forward(mode, a, lengths)
    assert np.all(y[3:, 2] == 0) and np.all(y[:, 1] == 0)
    np.testing.assert_array_equal(h[1], a["h0"][1])  # length 0: the state passes through


@pytest.mark.parametrize("mode", MODES)
def test_zero_batch(mode):
    a = make(mode, 3, 0, 3, 4)
    y, h, c, _ = forward(mode, a)
    assert y.shape == (3, 0, 4) and h.shape == (0, 4)
    g = backward(mode, a, np.zeros_like(y), np.zeros_like(h), None if c is None else np.zeros_like(c))
    assert g["x"].shape == (3, 0, 3)
    for k in ("w_ih", "w_hh", "b_ih", "b_hh"):
        assert np.all(g[k] == 0)


def test_saturation_and_nan(isa):
    # Large pre-activations saturate the gates exactly like NumPy; NaN propagates.
    for dtype in (np.float32, np.float64):
        a = make("lstm", 3, 2, 3, 4, dtype)
        a["x"] = (a["x"] * 1000).astype(dtype)
        check_forward("lstm", a, rtol=1e-5, atol=1e-6)
        a["x"][1, 0, 0] = np.nan
        y, h, c, _ = forward("lstm", a)
        assert np.all(np.isnan(y[1:, 0])) and np.all(np.isfinite(y[:, 1]))


def test_noncontiguous_inputs():
    a = make("gru", 4, 3, 5, 6)
    strided = dict(a)
    strided["x"] = np.asfortranarray(a["x"])
    strided["w_ih"] = np.ascontiguousarray(a["w_ih"].T).T
    strided["w_hh"] = np.repeat(a["w_hh"], 2, axis=1)[:, ::2]
    assert not strided["w_hh"].flags.c_contiguous
    for r, s in zip(forward("gru", a)[:2], forward("gru", strided)[:2]):
        np.testing.assert_array_equal(r, s)


# ------------------------------------------------------------------ cells

@pytest.mark.parametrize("bias", [True, False])
def test_cells_match_one_step(bias):
    for mode in MODES:
        a = make(mode, 1, 3, 5, 7, bias=bias)
        rh = ref(mode, a)
        args = (a["x"][0], a["h0"])
        if mode == "lstm":
            h, c = kernels.lstm_cell_forward(*args, a["c0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"])
            np.testing.assert_allclose(c, rh[2], rtol=1e-12, atol=1e-12)
        elif mode == "gru":
            h = kernels.gru_cell_forward(*args, a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"])
        else:
            h = kernels.rnn_cell_forward(*args, a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"], mode[4:])
        np.testing.assert_allclose(h, rh[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_cell_backward_matches_sequence_backward(mode):
    a = make(mode, 1, 2, 3, 4)
    rng = np.random.default_rng(1)
    dh = rng.standard_normal((2, 4))
    dc = rng.standard_normal((2, 4)) if mode == "lstm" else None
    seq = backward(mode, a, np.zeros((1, 2, 4)), dh, dc)
    args = (a["x"][0], a["h0"])
    if mode == "lstm":
        cell = kernels.lstm_cell_backward(dh, dc, *args, a["c0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"])
    elif mode == "gru":
        cell = kernels.gru_cell_backward(dh, *args, a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"])
    else:
        cell = kernels.rnn_cell_backward(dh, *args, a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"], mode[4:])
    for (name, g), gc in zip(seq.items(), cell):
        np.testing.assert_array_equal(g[0] if name == "x" else g, gc)


# ------------------------------------------------------------------ gradients

def numerical_grads(mode, a, wy, wh, wc, lengths, eps=1e-6):
    """Central differences of L = sum(y*wy) + sum(h_n*wh) (+ sum(c_n*wc))."""
    def loss():
        y, h, c, _ = forward(mode, a, lengths)
        return np.sum(y * wy) + np.sum(h * wh) + (np.sum(c * wc) if c is not None else 0.0)
    out = {}
    for k, v in a.items():
        if v is None:
            continue
        g = np.zeros_like(v)
        for idx in np.ndindex(v.shape):
            old = v[idx]
            v[idx] = old + eps
            lp = loss()
            v[idx] = old - eps
            lm = loss()
            v[idx] = old
            g[idx] = (lp - lm) / (2 * eps)
        out[k] = g
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bias,lengths", [(True, None), (False, None), (True, [3, 1]), (True, [0, 2])])
def test_backward_finite_differences(mode, bias, lengths, isa):
    T, B, I, H = 3, 2, 3, 4
    a = make(mode, T, B, I, H, bias=bias, seed=3)
    lengths = None if lengths is None else np.array(lengths)
    rng = np.random.default_rng(7)
    wy, wh = rng.standard_normal((T, B, H)), rng.standard_normal((B, H))
    wc = rng.standard_normal((B, H)) if mode == "lstm" else None
    got = backward(mode, a, wy, wh, wc, lengths)
    want = numerical_grads(mode, a, wy, wh, wc, lengths)
    assert set(k for k, v in got.items() if v is not None) == set(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=1e-7, err_msg=f"{mode} d{k}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("missing", ["b_ih", "b_hh"])
def test_one_bias_missing_equals_zero_bias(mode, missing):
    a = make(mode, 4, 3, 5, 6, seed=9)
    rng = np.random.default_rng(3)
    dy, dh = rng.standard_normal((4, 3, 6)), rng.standard_normal((3, 6))
    dc = rng.standard_normal((3, 6)) if mode == "lstm" else None
    zero = dict(a, **{missing: np.zeros_like(a[missing])})
    none = dict(a, **{missing: None})
    gz, gn = backward(mode, zero, dy, dh, dc), backward(mode, none, dy, dh, dc)
    assert gn[missing] is None
    for k, v in gn.items():
        if v is not None:
            np.testing.assert_allclose(v, gz[k], rtol=1e-13, atol=1e-13, err_msg=k)


@pytest.mark.parametrize("mode", MODES)
def test_backward_float32_matches_float64(mode, isa):
    T, B, I, H = 6, 3, 17, 33
    a64 = make(mode, T, B, I, H, seed=5)
    a32 = {k: None if v is None else v.astype(np.float32) for k, v in a64.items()}
    rng = np.random.default_rng(2)
    wy, wh = rng.standard_normal((T, B, H)), rng.standard_normal((B, H))
    wc = rng.standard_normal((B, H)) if mode == "lstm" else None
    g64 = backward(mode, a64, wy, wh, wc)
    g32 = backward(mode, a32, *(None if w is None else w.astype(np.float32) for w in (wy, wh, wc)))
    for k, v in g64.items():
        assert g32[k].dtype == np.float32
        np.testing.assert_allclose(g32[k], v, rtol=1e-3, atol=1e-4 * max(1.0, np.abs(v).max()), err_msg=k)


# ------------------------------------------------------------------ bad input

def test_bad_inputs():
    a = make("lstm", 3, 2, 3, 4)
    args = [a[k] for k in ("x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh")]
    with pytest.raises(ValueError,
                       match=r"lstm_forward: argument 'w_ih' expected shape \(G\*H=16, I=3\), got \(16, 2\)"):
        kernels.lstm_forward(args[0], args[1], args[2], args[3][:, :2], *args[4:])
    with pytest.raises(ValueError,
                       match=r"lstm_forward: argument 'w_hh' expected shape \(4\*H=16, H=4\), got \(12, 4\)"):
        kernels.lstm_forward(*args[:4], args[4][:12], *args[5:])
    with pytest.raises(ValueError, match=r"lstm_forward: argument 'h0' expected shape \(B=2, H=4\), got \(3, 4\)"):
        kernels.lstm_forward(args[0], np.zeros((3, 4)), *args[2:])
    with pytest.raises(ValueError, match=r"lstm_forward: argument 'x' expected a 3-D array, got shape \(2, 3\)"):
        kernels.lstm_forward(args[0][0], *args[1:])
    with pytest.raises(ValueError, match="lstm_forward: argument 'h0' expected dtype float64, got float32"):
        kernels.lstm_forward(args[0], args[1].astype(np.float32), *args[2:])
    with pytest.raises(ValueError, match="lstm_forward: argument 'x' expected dtype float32 or float64, got int64"):
        kernels.lstm_forward(args[0].astype(np.int64), *args[1:])
    with pytest.raises(ValueError, match=r"lstm_forward: argument 'lengths' expected values in \[0, T=3\], got 4"):
        kernels.lstm_forward(*args, lengths=[1, 4])
    with pytest.raises(ValueError, match=r"lstm_forward: argument 'lengths' expected values in \[0, T=3\], got -1"):
        kernels.lstm_forward(*args, lengths=[-1, 2])
    with pytest.raises(ValueError, match=r"lstm_forward: argument 'lengths' expected shape \(B=2,\), got \(3,\)"):
        kernels.lstm_forward(*args, lengths=[1, 2, 3])
    with pytest.raises(ValueError, match="lstm_forward: argument 'c0' must be an array, got None"):
        kernels.lstm_forward(args[0], args[1], None, *args[3:])
    with pytest.raises(ValueError, match="rnn_forward: argument 'nonlinearity' expected 'tanh' or 'relu', got 'gelu'"):
        kernels.rnn_forward(make("rnn_tanh", 2, 2, 3, 4)["x"], np.zeros((2, 4)), np.zeros((4, 3)), np.zeros((4, 4)),
              nonlinearity="gelu")
    with pytest.raises(ValueError, match=r"gru_forward: hidden size \(w_hh.shape\[1\]\) must be >= 1, got 0"):
        kernels.gru_forward(args[0], np.zeros((2, 0)), np.zeros((0, 3)), np.zeros((0, 0)))


def test_bad_raw_kernel_arguments():
    a = make("gru", 3, 2, 3, 4)
    y, h_n, res = np.empty((3, 2, 4)), np.empty((2, 4)), np.empty((3, 2, 16))
    base = [y, h_n, res, a["x"], a["h0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"]]
    with pytest.raises(ValueError,
                       match=r"gru_forward: argument 'reserve' expected shape \(T=3, B=2, R=16\), got \(3, 2, 12\)"):
        _C.gru_forward(*base[:2], np.empty((3, 2, 12)), *base[3:])
    with pytest.raises(ValueError, match="gru_forward: argument 'y' must be C-contiguous"):
        _C.gru_forward(np.empty((3, 4, 2)).transpose(0, 2, 1), *base[1:])
    ro = np.empty((2, 4))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="gru_forward: argument 'h_n' must be writable"):
        _C.gru_forward(y, ro, *base[2:])
    with pytest.raises(ValueError, match="gru_forward: argument 'b_ih' expected a numpy array or None, got <class 'list'>"):
        _C.gru_forward(*base[:7], [0.0] * 12, a["b_hh"])
    with pytest.raises(ValueError, match="gru_backward: argument 'grad_y' expected shape"):
        _C.gru_backward(np.empty((3, 2, 3)), np.empty((2, 4)), np.empty((12, 3)), np.empty((12, 4)), None, None,
                        np.empty((3, 2, 5)), np.empty((2, 4)), a["x"], a["h0"], a["w_ih"], a["w_hh"], y, res)
