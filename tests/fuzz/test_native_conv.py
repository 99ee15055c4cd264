"""Valid-call fuzzing of the conv family of ``nerve._C`` (see test_native.py):
conv2d_forward, conv2d_backward_input, conv2d_backward_weight with strides,
padding, dilation, groups (depthwise included), 1x1 kernels, against a float64
NumPy reference (a sum over the kernel taps of per-group einsums).

Hostile calls are covered by test_native_recorded.py. Only one operand of each
call carries NaN/Inf: the kernels multiply padding zeros by the other
operand (im2col), so an Inf weight would make 0 * Inf = NaN in the padding a
legitimate but implementation-defined answer.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nerve import _C

from .test_native import FLOATS, FUZZ, Call, arrays, close_mag, quiet, run_valid


def _problem(draw):
    dtype = draw(st.sampled_from(FLOATS))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    Cg = draw(st.integers(1, 3))
    Kg = draw(st.integers(1, 3))
    if draw(st.integers(0, 3)) == 0:  # depthwise: one input channel per group
        Cg, groups = 1, draw(st.integers(1, 5))
    kh, kw = draw(st.sampled_from([1, 1, 2, 3, 4])), draw(st.sampled_from([1, 2, 3]))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 2))
    # Smallest input with at least one output (0 when the padding alone fits the kernel).
    H = max(dh * (kh - 1) + 1 - 2 * ph, 0) + draw(st.integers(0, 7))
    W = max(dw * (kw - 1) + 1 - 2 * pw, 0) + draw(st.integers(0, 7))
    N = draw(st.sampled_from([0, 1, 1, 2, 3]))
    OH = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    return dict(dtype=dtype, N=N, G=groups, Cg=Cg, Kg=Kg, H=H, W=W, kh=kh, kw=kw, s=(sh, sw), p=(ph, pw),
                d=(dh, dw), OH=OH, OW=OW)


def _taps(P):
    """(i, j, rows, cols) slices of the padded input read by kernel tap (i, j)."""
    (sh, sw), (dh, dw) = P["s"], P["d"]
    for i in range(P["kh"]):
        for j in range(P["kw"]):
            yield i, j, slice(i * dh, i * dh + sh * (P["OH"] - 1) + 1, sh), \
                slice(j * dw, j * dw + sw * (P["OW"] - 1) + 1, sw)


def _pad(x, P):
    (ph, pw) = P["p"]
    return np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))


@quiet
def conv_ref(x, w, P):
    """float64 forward (no bias): out (N, K, OH, OW)."""
    N, G, Cg, Kg = P["N"], P["G"], P["Cg"], P["Kg"]
    xp = _pad(x, P).reshape(N, G, Cg, P["H"] + 2 * P["p"][0], P["W"] + 2 * P["p"][1])
    wg = w.astype(np.float64).reshape(G, Kg, Cg, P["kh"], P["kw"])
    out = np.zeros((N, G, Kg, P["OH"], P["OW"]))
    for i, j, rows, cols in _taps(P):
        out += np.einsum("ngchw,gkc->ngkhw", xp[..., rows, cols], wg[..., i, j])
    return out.reshape(N, G * Kg, P["OH"], P["OW"])


@quiet
def conv_input_grad_ref(dy, w, P):
    N, G, Cg, Kg = P["N"], P["G"], P["Cg"], P["Kg"]
    (ph, pw) = P["p"]
    dxp = np.zeros((N, G, Cg, P["H"] + 2 * ph, P["W"] + 2 * pw))
    dyg = dy.astype(np.float64).reshape(N, G, Kg, P["OH"], P["OW"])
    wg = w.astype(np.float64).reshape(G, Kg, Cg, P["kh"], P["kw"])
    for i, j, rows, cols in _taps(P):
        dxp[..., rows, cols] += np.einsum("ngkhw,gkc->ngchw", dyg, wg[..., i, j])
    return dxp[..., ph: ph + P["H"], pw: pw + P["W"]].reshape(N, G * Cg, P["H"], P["W"])


@quiet
def conv_weight_grad_ref(x, dy, P):
    N, G, Cg, Kg = P["N"], P["G"], P["Cg"], P["Kg"]
    xp = _pad(x, P).reshape(N, G, Cg, P["H"] + 2 * P["p"][0], P["W"] + 2 * P["p"][1])
    dyg = dy.astype(np.float64).reshape(N, G, Kg, P["OH"], P["OW"])
    dw = np.zeros((G, Kg, Cg, P["kh"], P["kw"]))
    for i, j, rows, cols in _taps(P):
        dw[..., i, j] = np.einsum("ngchw,ngkhw->gkc", xp[..., rows, cols], dyg)
    return dw.reshape(G * Kg, Cg, P["kh"], P["kw"])


def _shapes(P):
    C, K = P["G"] * P["Cg"], P["G"] * P["Kg"]
    return (P["N"], C, P["H"], P["W"]), (K, P["Cg"], P["kh"], P["kw"]), (P["N"], K, P["OH"], P["OW"])


def _options(P):
    return P["s"], P["p"], P["d"], P["G"]


def build_conv2d_forward(draw):
    P = _problem(draw)
    dtype = P["dtype"]
    xs, ws, ys = _shapes(P)
    x, w = arrays(draw, xs, dtype), arrays(draw, ws, dtype, special=False)
    b = arrays(draw, (ws[0],), dtype, special=False) if draw(st.booleans()) else None
    out = np.full(ys, np.nan, dtype)  # every element must be written
    want = conv_ref(x, w, P) + (0 if b is None else b.astype(np.float64)[:, None, None])
    mag = conv_ref(np.abs(x), np.abs(w), P) + (0 if b is None else np.abs(b.astype(np.float64))[:, None, None])
    n = P["Cg"] * P["kh"] * P["kw"] + 1
    return Call("conv2d_forward", _C.conv2d_forward, {"out": out, "x": x, "weight": w, "bias": b},
                ["out"], lambda: close_mag(out, want, mag, dtype, n / 4, "out")) \
        .positional(*_options(P))


def build_conv2d_backward_input(draw):
    P = _problem(draw)
    dtype = P["dtype"]
    xs, ws, ys = _shapes(P)
    dy, w = arrays(draw, ys, dtype), arrays(draw, ws, dtype, special=False)
    dx = np.full(xs, np.nan, dtype)
    want, mag = conv_input_grad_ref(dy, w, P), conv_input_grad_ref(np.abs(dy), np.abs(w), P)
    n = P["Kg"] * P["kh"] * P["kw"]
    return Call("conv2d_backward_input", _C.conv2d_backward_input, {"grad_input": dx, "grad_output": dy, "weight": w},
                ["grad_input"], lambda: close_mag(dx, want, mag, dtype, n / 4, "grad_input")).positional(*_options(P))


def build_conv2d_backward_weight(draw):
    P = _problem(draw)
    dtype = P["dtype"]
    xs, ws, ys = _shapes(P)
    special_x = draw(st.booleans()) or any(P["p"])  # an Inf dy times a padding zero: see the module docstring
    x, dy = arrays(draw, xs, dtype, special=special_x), arrays(draw, ys, dtype, special=not special_x)
    gw = np.full(ws, np.nan, dtype)
    gb = np.full(ws[0], np.nan, dtype) if draw(st.booleans()) else None
    want, mag = conv_weight_grad_ref(x, dy, P), conv_weight_grad_ref(np.abs(x), np.abs(dy), P)
    n = P["N"] * P["OH"] * P["OW"]
    dy64 = dy.astype(np.float64)

    def check():
        close_mag(gw, want, mag, dtype, max(n, 1) / 4, "grad_weight")
        if gb is not None:
            close_mag(gb, dy64.sum(axis=(0, 2, 3)), np.abs(dy64).sum(axis=(0, 2, 3)), dtype, max(n, 1) / 4,
                      "grad_bias")

    return Call("conv2d_backward_weight", _C.conv2d_backward_weight,
                {"grad_weight": gw, "grad_bias": gb, "x": x, "grad_output": dy}, ["grad_weight", "grad_bias"],
                check).positional(*_options(P))


BUILDERS = {
    "conv2d_forward": build_conv2d_forward,
    "conv2d_backward_input": build_conv2d_backward_input,
    "conv2d_backward_weight": build_conv2d_backward_weight,
}


@pytest.mark.parametrize("kernel", sorted(BUILDERS))
@FUZZ
@given(data=st.data())
def test_valid(kernel, data):
    run_valid(BUILDERS, kernel, data)
