"""Valid-call fuzzing of the pool family of ``nerve._C`` (see test_native.py):
max_pool2d forward/backward (padding, dilation, ceil_mode), avg_pool2d
forward/backward (count_include_pad, divisor_override, ceil_mode) and
adaptive_avg_pool2d forward/backward, against float64 window loops with
PyTorch's semantics.

Max pooling draws NaN and +-Inf too: a window's maximum is NaN when it holds
a NaN (as PyTorch). Ties (two +-Inf, two 1e4) and several NaNs make the argmax
ambiguous, so the indices are checked by meaning: inside the window (not in
the padding) and pointing at an element equal to the maximum (NaN for NaN).
Hostile calls are covered by test_native_recorded.py.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nerve import _C

from .test_native import FLOATS, FUZZ, Call, arrays, close_mag, quiet, run_valid


def out_size(size, k, s, p, d, ceil_mode):
    """PyTorch's pooling output length."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _window(draw, dilation):
    dtype = draw(st.sampled_from(FLOATS))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = tuple(draw(st.integers(0, kk // 2)) for kk in k)
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 2))) if dilation else (1, 1)
    ceil_mode = draw(st.booleans())
    H = max(d[0] * (k[0] - 1) + 1 - 2 * p[0], 1) + draw(st.integers(0, 7))
    W = max(d[1] * (k[1] - 1) + 1 - 2 * p[1], 1) + draw(st.integers(0, 7))
    N, C = draw(st.sampled_from([0, 1, 2])), draw(st.sampled_from([1, 2, 3]))
    OH, OW = (out_size(n, k[i], s[i], p[i], d[i], ceil_mode) for i, n in enumerate((H, W)))
    return dtype, (N, C, H, W), (N, C, OH, OW), k, s, p, d, ceil_mode


def _positions(o, k, s, p, d, size):
    """Input positions of output o's window along one axis, and which are inside [0, size)."""
    pos = o * s - p + d * np.arange(k)
    return pos, (pos >= 0) & (pos < size)


# ------------------------------------------------------------------ max pool
def build_max_pool2d_forward(draw):
    dtype, xs, ys, k, s, p, d, ceil_mode = _window(draw, dilation=True)
    x = arrays(draw, xs, dtype)
    out, idx = np.full(ys, np.nan, dtype), np.full(ys, -1, np.int64)
    H, W = xs[2:]

    def check():
        flat = x.reshape(xs[0], xs[1], H * W).astype(np.float64)
        for oh in range(ys[2]):
            rows, rin = _positions(oh, k[0], s[0], p[0], d[0], H)
            for ow in range(ys[3]):
                cols, cin = _positions(ow, k[1], s[1], p[1], d[1], W)
                where = (rows[rin][:, None] * W + cols[cin][None, :]).reshape(-1)
                if where.size == 0:  # a window entirely in the padding (dilation): nothing to compare
                    continue
                vals = flat[:, :, where]
                want = np.where(np.isnan(vals).any(axis=2), np.nan, np.max(vals, axis=2, initial=-np.inf))
                got = out[:, :, oh, ow].astype(np.float64)
                np.testing.assert_array_equal(got, want, err_msg=f"max_pool2d out[:, :, {oh}, {ow}]")
                i = idx[:, :, oh, ow]
                assert np.isin(i, where).all(), f"index {i} outside the window {where} at ({oh}, {ow})"
                picked = np.take_along_axis(flat, i[..., None], axis=2)[..., 0]
                np.testing.assert_array_equal(picked, want, err_msg=f"max_pool2d indices[:, :, {oh}, {ow}]")

    return Call("max_pool2d_forward", _C.max_pool2d_forward, {"out": out, "indices": idx, "x": x},
                ["out", "indices"], check).positional(k, s, p, d, ceil_mode)


def build_max_pool2d_backward(draw):
    dtype = draw(st.sampled_from(FLOATS))
    N, C = draw(st.sampled_from([0, 1, 2])), draw(st.sampled_from([1, 2, 3]))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    OH, OW = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    dy = arrays(draw, (N, C, OH, OW), dtype)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Few distinct targets: overlapping windows send several gradients to one element.
    idx = rng.integers(0, min(H * W, draw(st.sampled_from([1, 3, H * W]))), (N, C, OH, OW)).astype(np.int64)
    dx = np.full((N, C, H, W), np.nan, dtype)
    want, mag = np.zeros((N, C, H * W)), np.zeros((N, C, H * W))
    with np.errstate(invalid="ignore"):
        for n in range(N):
            for c in range(C):
                np.add.at(want[n, c], idx[n, c].reshape(-1), dy[n, c].reshape(-1).astype(np.float64))
                np.add.at(mag[n, c], idx[n, c].reshape(-1), np.abs(dy[n, c].reshape(-1).astype(np.float64)))
    return Call("max_pool2d_backward", _C.max_pool2d_backward, {"grad_input": dx, "grad_output": dy, "indices": idx},
                ["grad_input"], lambda: close_mag(dx, want.reshape(dx.shape), mag.reshape(dx.shape), dtype,
                                                  OH * OW / 4, "grad_input"))


# ------------------------------------------------------------------ avg pool
def _avg_windows(xs, ys, k, s, p, count_include_pad, divisor):
    """Yields (oh, ow, rows slice, cols slice, divisor) as PyTorch's avg_pool2d."""
    H, W = xs[2:]
    for oh in range(ys[2]):
        h0 = oh * s[0] - p[0]
        h1 = min(h0 + k[0], H + p[0])
        for ow in range(ys[3]):
            w0 = ow * s[1] - p[1]
            w1 = min(w0 + k[1], W + p[1])
            pool = (h1 - h0) * (w1 - w0)
            r0, r1, c0, c1 = max(h0, 0), min(h1, H), max(w0, 0), min(w1, W)
            div = divisor or (pool if count_include_pad else (r1 - r0) * (c1 - c0))
            yield oh, ow, slice(r0, r1), slice(c0, c1), div


def _avg_options(draw):
    return draw(st.booleans()), draw(st.sampled_from([0, 0, 1, 3]))


@quiet
def avg_pool_ref(x, xs, ys, k, s, p, cip, divisor):
    out, mag = np.zeros(ys), np.zeros(ys)
    x = x.astype(np.float64)
    for oh, ow, rows, cols, div in _avg_windows(xs, ys, k, s, p, cip, divisor):
        out[:, :, oh, ow] = x[:, :, rows, cols].sum(axis=(2, 3)) / div
        mag[:, :, oh, ow] = np.abs(x[:, :, rows, cols]).sum(axis=(2, 3)) / div
    return out, mag


@quiet
def avg_pool_grad_ref(dy, xs, ys, k, s, p, cip, divisor):
    dx, mag = np.zeros(xs), np.zeros(xs)
    dy = dy.astype(np.float64)
    for oh, ow, rows, cols, div in _avg_windows(xs, ys, k, s, p, cip, divisor):
        dx[:, :, rows, cols] += (dy[:, :, oh, ow] / div)[:, :, None, None]
        mag[:, :, rows, cols] += (np.abs(dy[:, :, oh, ow]) / div)[:, :, None, None]
    return dx, mag


def build_avg_pool2d_forward(draw):
    dtype, xs, ys, k, s, p, _, ceil_mode = _window(draw, dilation=False)
    cip, divisor = _avg_options(draw)
    x = arrays(draw, xs, dtype)
    out = np.full(ys, np.nan, dtype)
    want, mag = avg_pool_ref(x, xs, ys, k, s, p, cip, divisor)
    return Call("avg_pool2d_forward", _C.avg_pool2d_forward, {"out": out, "x": x}, ["out"],
                lambda: close_mag(out, want, mag, dtype, k[0] * k[1] / 4, "out")).positional(
        k, s, p, ceil_mode, cip, divisor)


def build_avg_pool2d_backward(draw):
    dtype, xs, ys, k, s, p, _, ceil_mode = _window(draw, dilation=False)
    cip, divisor = _avg_options(draw)
    dy = arrays(draw, ys, dtype)
    dx = np.full(xs, np.nan, dtype)
    want, mag = avg_pool_grad_ref(dy, xs, ys, k, s, p, cip, divisor)
    return Call("avg_pool2d_backward", _C.avg_pool2d_backward, {"grad_input": dx, "grad_output": dy},
                ["grad_input"], lambda: close_mag(dx, want, mag, dtype, k[0] * k[1] / 4, "grad_input")).positional(
        k, s, p, ceil_mode, cip, divisor)


# -------------------------------------------------------------- adaptive avg
def _adaptive(draw):
    dtype = draw(st.sampled_from(FLOATS))
    N, C = draw(st.sampled_from([0, 1, 2])), draw(st.sampled_from([1, 2, 3]))
    H, W = draw(st.integers(1, 11)), draw(st.integers(1, 11))
    OH, OW = draw(st.integers(1, H + 2)), draw(st.integers(1, W + 2))  # larger than the input too
    return dtype, (N, C, H, W), (N, C, OH, OW)


def _adaptive_windows(xs, ys):
    H, W = xs[2:]
    for oh in range(ys[2]):
        rows = slice(oh * H // ys[2], -(-(oh + 1) * H // ys[2]))
        for ow in range(ys[3]):
            yield oh, ow, rows, slice(ow * W // ys[3], -(-(ow + 1) * W // ys[3]))


def build_adaptive_avg_pool2d_forward(draw):
    dtype, xs, ys = _adaptive(draw)
    x = arrays(draw, xs, dtype)
    out = np.full(ys, np.nan, dtype)
    want, mag = np.zeros(ys), np.zeros(ys)
    x64 = x.astype(np.float64)
    with np.errstate(invalid="ignore"):
        for oh, ow, rows, cols in _adaptive_windows(xs, ys):
            want[:, :, oh, ow] = x64[:, :, rows, cols].mean(axis=(2, 3))
            mag[:, :, oh, ow] = np.abs(x64[:, :, rows, cols]).mean(axis=(2, 3))
    return Call("adaptive_avg_pool2d_forward", _C.adaptive_avg_pool2d_forward, {"out": out, "x": x}, ["out"],
                lambda: close_mag(out, want, mag, dtype, xs[2] * xs[3] / ys[2] / ys[3], "out"))


def build_adaptive_avg_pool2d_backward(draw):
    dtype, xs, ys = _adaptive(draw)
    dy = arrays(draw, ys, dtype)
    dx = np.full(xs, np.nan, dtype)
    want, mag = np.zeros(xs), np.zeros(xs)
    dy64 = dy.astype(np.float64)
    with np.errstate(invalid="ignore"):
        for oh, ow, rows, cols in _adaptive_windows(xs, ys):
            count = (rows.stop - rows.start) * (cols.stop - cols.start)
            want[:, :, rows, cols] += (dy64[:, :, oh, ow] / count)[:, :, None, None]
            mag[:, :, rows, cols] += (np.abs(dy64[:, :, oh, ow]) / count)[:, :, None, None]
    return Call("adaptive_avg_pool2d_backward", _C.adaptive_avg_pool2d_backward,
                {"grad_input": dx, "grad_output": dy}, ["grad_input"],
                lambda: close_mag(dx, want, mag, dtype, ys[2] * ys[3] / xs[2] / xs[3] + 1, "grad_input"))


BUILDERS = {
    "max_pool2d_forward": build_max_pool2d_forward,
    "max_pool2d_backward": build_max_pool2d_backward,
    "avg_pool2d_forward": build_avg_pool2d_forward,
    "avg_pool2d_backward": build_avg_pool2d_backward,
    "adaptive_avg_pool2d_forward": build_adaptive_avg_pool2d_forward,
    "adaptive_avg_pool2d_backward": build_adaptive_avg_pool2d_backward,
}


@pytest.mark.parametrize("kernel", sorted(BUILDERS))
@FUZZ
@given(data=st.data())
def test_valid(kernel, data):
    run_valid(BUILDERS, kernel, data)
