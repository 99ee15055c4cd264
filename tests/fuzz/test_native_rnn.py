"""Valid-call fuzzing of the recurrent family of ``nerve._C`` (see
test_native.py): lstm/gru/rnn (tanh, relu) forward and backward over a whole
sequence, with lengths (packed sequences: a finished element keeps its state
and writes y = 0), biases None, T, B or I = 0.

The reference forward is a float64 step loop with PyTorch's gate orders. The
backward reference is its exact gradient by the complex step (f(a + ih e_k)
.imag / h, all k at once as a leading batch dim), so the kernel's analytic
BPTT is checked against no hand-written formula.

Values are finite: relu(NaN) and the saturating gates make NaN propagation
implementation-defined. The forward draws huge entries (1e4) too, to drive
the gates into saturation; the backward keeps moderate values.
Hostile calls are covered by test_native_recorded.py.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nerve import _C

from .test_native import FLOATS, FUZZ, Call, close, quiet, run_valid, sizes

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _mm(a, w):  # a (..., B, I) @ w (..., G, I)^T with broadcast leading dims
    return a @ np.swapaxes(w, -1, -2)


@quiet
def rnn_ref(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths):
    """y (..., T, B, H), h_n, c_n (lstm, else None); real or complex, any leading dims."""
    T = x.shape[-3]
    H = h0.shape[-1]
    h, c = h0, c0
    ys = []
    for t in range(T):
        gi = _mm(x[..., t, :, :], w_ih) + (0 if b_ih is None else b_ih[..., None, :])
        gh = _mm(h, w_hh) + (0 if b_hh is None else b_hh[..., None, :])
        if mode == "lstm":
            g = gi + gh
            i, f, gg, o = (g[..., k * H:(k + 1) * H] for k in range(4))
            c_new = _sigmoid(f) * c + _sigmoid(i) * np.tanh(gg)
            h_new = _sigmoid(o) * np.tanh(c_new)
        elif mode == "gru":
            r = _sigmoid(gi[..., :H] + gh[..., :H])
            z = _sigmoid(gi[..., H:2 * H] + gh[..., H:2 * H])
            n = np.tanh(gi[..., 2 * H:] + r * gh[..., 2 * H:])
            h_new = (1 - z) * n + z * h
        elif mode == "rnn_tanh":
            h_new = np.tanh(gi + gh)
        else:
            a = gi + gh
            h_new = np.where(a.real > 0, a, 0)
        live = np.ones((x.shape[-2], 1), bool) if lengths is None else (t < lengths)[:, None]
        ys.append(np.where(live, h_new, 0))
        h = np.where(live, h_new, h)
        if mode == "lstm":
            c = np.where(live, c_new, c)
    y = np.stack(ys, axis=-3) if T else np.zeros(x.shape[:-1] + (H,), x.dtype)
    return y, h, c


def complex_step_grad(f, inputs, cotangents, h=1e-30):
    """Gradient of sum(cot * f(*inputs)) w.r.t. every non-None input, exact to
    rounding: each element gets its own imaginary perturbation along a new
    leading axis, so f runs once."""
    present = [a for a in inputs if a is not None]
    P = sum(a.size for a in present)
    stacked, offset = [], 0
    for a in inputs:
        if a is None:
            stacked.append(None)
            continue
        s = np.broadcast_to(a.astype(np.complex128), (P,) + a.shape).copy()
        flat = s.reshape(P, -1)
        flat[offset + np.arange(a.size), np.arange(a.size)] += 1j * h
        stacked.append(s)
        offset += a.size
    outs = f(*stacked)
    total = sum((o * cot).reshape(P, -1).sum(axis=1) for o, cot in zip(outs, cotangents) if cot is not None)
    grad = np.imag(total) / h if P else np.zeros(0)
    result, offset = [], 0
    for a in inputs:
        if a is None:
            result.append(None)
            continue
        result.append(grad[offset: offset + a.size].reshape(a.shape))
        offset += a.size
    return result


def _problem(draw, mode, huge):
    dtype = draw(st.sampled_from(FLOATS))
    T, B, I, H = draw(sizes(5)), draw(st.integers(0, 3)), draw(st.integers(0, 5)), draw(st.integers(1, 5))
    G = GATES[mode]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def arr(*shape, s=0.5):
        return (rng.standard_normal(shape) * s).astype(dtype)

    x, h0 = arr(T, B, I, s=1.0), arr(B, H)
    if huge and x.size and draw(st.booleans()):
        x.reshape(-1)[rng.integers(0, x.size, 2)] = draw(st.sampled_from([1e4, -1e4]))
    c0 = arr(B, H) if mode == "lstm" else None
    w_ih, w_hh = arr(G * H, I), arr(G * H, H)
    b_ih = arr(G * H) if draw(st.booleans()) else None
    b_hh = arr(G * H) if draw(st.booleans()) else None
    lengths = rng.integers(0, T + 1, B).astype(np.int64) if draw(st.booleans()) else None
    return dtype, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths


def _run_forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths):
    """The kernel's forward: y, h_n, c_n, reserve and the Call arguments."""
    T, B, _ = x.shape
    H, dtype = h0.shape[1], x.dtype
    y, h_n = np.full((T, B, H), np.nan, dtype), np.full((B, H), np.nan, dtype)
    c_n = np.full((B, H), np.nan, dtype) if mode == "lstm" else None
    reserve = np.full((T, B, {"lstm": 5, "gru": 4}.get(mode, 0) * H), np.nan, dtype)
    if mode == "lstm":
        args = dict(y=y, h_n=h_n, c_n=c_n, reserve=reserve, x=x, h0=h0, c0=c0)
    elif mode == "gru":
        args = dict(y=y, h_n=h_n, reserve=reserve, x=x, h0=h0)
    else:
        args = dict(y=y, h_n=h_n, x=x, h0=h0)
    args.update(w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh, lengths=lengths)
    return y, h_n, c_n, reserve, args


def _fn(mode, direction):
    return getattr(_C, ("lstm" if mode == "lstm" else "gru" if mode == "gru" else "rnn") + direction)


def _op(mode, direction):
    return ("rnn" if mode.startswith("rnn") else mode) + direction


def _extra(mode):
    return (mode[4:],) if mode.startswith("rnn") else ()


def build_forward(mode):
    def build(draw):
        dtype, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths = _problem(draw, mode, huge=True)
        y, h_n, c_n, _, args = _run_forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths)
        to64 = [None if a is None else a.astype(np.float64) for a in (x, h0, c0, w_ih, w_hh, b_ih, b_hh)]
        want_y, want_h, want_c = rnn_ref(mode, *to64, lengths)
        scale = 10 * (x.shape[0] + 1) * (1 + x.shape[2] + h0.shape[1]) * (100 if np.abs(x).max(initial=0) > 100 else 1)

        def check():
            close(y, want_y, dtype, scale)
            close(h_n, want_h, dtype, scale)
            if mode == "lstm":
                close(c_n, want_c, dtype, scale)

        return Call(_op(mode, "_forward"), _fn(mode, "_forward"), args, ["y", "h_n", "c_n", "reserve"],
                    check).positional(*_extra(mode))
    return build


def build_backward(mode):
    def build(draw):
        dtype, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths = _problem(draw, mode, huge=False)
        y, h_n, c_n, reserve, fargs = _run_forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths)
        _fn(mode, "_forward")(*fargs.values(), *_extra(mode))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        dy, dh_n = rng.standard_normal(y.shape).astype(dtype), rng.standard_normal(h_n.shape).astype(dtype)
        dc_n = rng.standard_normal(h_n.shape).astype(dtype) if mode == "lstm" else None
        inputs = [None if a is None else a.astype(np.float64) for a in (x, h0, c0, w_ih, w_hh, b_ih, b_hh)]
        wants = complex_step_grad(lambda *a: rnn_ref(mode, *a, lengths), inputs,
                                  [dy.astype(np.float64), dh_n.astype(np.float64),
                                   None if dc_n is None else dc_n.astype(np.float64)])
        grads = [None if a is None else np.full(a.shape, np.nan, dtype) for a in (x, h0, c0, w_ih, w_hh, b_ih, b_hh)]
        names = ["dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh"]
        scale = 10 * (x.shape[0] + 1) * (1 + x.shape[2] + h0.shape[1])

        def check():
            for name, got, want in zip(names, grads, wants):
                if got is not None:
                    try:
                        close(got, want, dtype, scale)
                    except AssertionError as e:
                        raise AssertionError(f"{name}: {e}") from None

        args = dict(zip(names, grads))
        args.update(dy=dy, dh_n=dh_n, dc_n=dc_n, x=x, h0=h0, c0=c0, w_ih=w_ih, w_hh=w_hh, y=y, reserve=reserve,
                    lengths=lengths)
        if mode != "lstm":
            for name in ("dc0", "dc_n", "c0"):
                del args[name]
        if mode.startswith("rnn"):
            del args["reserve"]
        return Call(_op(mode, "_backward"), _fn(mode, "_backward"), args, [n for n in names if n in args],
                    check).positional(*_extra(mode))
    return build


BUILDERS = {}
for _mode in GATES:
    BUILDERS[f"{_mode}_forward"] = build_forward(_mode)
    BUILDERS[f"{_mode}_backward"] = build_backward(_mode)


@pytest.mark.parametrize("kernel", sorted(BUILDERS))
@FUZZ
@given(data=st.data())
def test_valid(kernel, data):
    run_valid(BUILDERS, kernel, data)
