"""Pooling kernels against loop references that follow PyTorch's rules,
known values, finite-difference checks of every backward, bad inputs."""
import math
import re

import numpy as np
import pytest

import nerve
from nerve import kernels
from nerve.backend import cpu as be


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def max_pool_ref(x, k, s, p, d, ceil_mode):
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = pair(k), pair(s), pair(p), pair(d)
    N, C, H, W = x.shape
    OH, OW = be.pool_out_size(H, kh, sh, ph, dh, ceil_mode), be.pool_out_size(W, kw, sw, pw, dw, ceil_mode)
    y, idx = np.zeros((N, C, OH, OW)), np.zeros((N, C, OH, OW), dtype=np.int64)
    for n, c, oh, ow in np.ndindex(N, C, OH, OW):
        cells = [(h, w) for h in range(oh * sh - ph, oh * sh - ph + dh * (kh - 1) + 1, dh)
                 for w in range(ow * sw - pw, ow * sw - pw + dw * (kw - 1) + 1, dw) if 0 <= h < H and 0 <= w < W]
        h, w = max(cells, key=lambda hw: x[n, c, hw[0], hw[1]])  # first of equal maxima
        y[n, c, oh, ow], idx[n, c, oh, ow] = x[n, c, h, w], h * W + w
    return y, idx


def avg_pool_ref(x, k, s, p, ceil_mode, count_include_pad, divisor_override=None):
    """PyTorch's avg_pool2d: the window is clipped to the padded input for the
    count_include_pad divisor, then to the input for the sum."""
    (kh, kw), (sh, sw), (ph, pw) = pair(k), pair(s), pair(p)
    N, C, H, W = x.shape
    OH, OW = be.pool_out_size(H, kh, sh, ph, 1, ceil_mode), be.pool_out_size(W, kw, sw, pw, 1, ceil_mode)
    y = np.zeros((N, C, OH, OW))
    for oh, ow in np.ndindex(OH, OW):
        h0, w0 = oh * sh - ph, ow * sw - pw
        h1, w1 = min(h0 + kh, H + ph), min(w0 + kw, W + pw)
        padded = (h1 - h0) * (w1 - w0)
        h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
        div = divisor_override or (padded if count_include_pad else (h1 - h0) * (w1 - w0))
        y[:, :, oh, ow] = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3)) / div
    return y


def adaptive_ref(x, out_size):
    N, C, H, W = x.shape
    OH, OW = out_size
    y = np.zeros((N, C, OH, OW))
    for oh, ow in np.ndindex(OH, OW):
        h0, h1 = (oh * H) // OH, math.ceil((oh + 1) * H / OH)
        w0, w1 = (ow * W) // OW, math.ceil((ow + 1) * W / OW)
        y[:, :, oh, ow] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return y


def check_fd(rng, f, x, dx, dy, eps=1e-6):
    v = rng.standard_normal(x.shape)
    num = (((f(x + eps * v) - f(x - eps * v)) / (2 * eps)) * dy).sum()
    assert np.isclose(num, (dx * v).sum(), rtol=1e-6, atol=1e-6)


MAX_CASES = [  # (shape, kernel, stride, padding, dilation, ceil_mode)
    ((2, 3, 7, 7), 2, 2, 0, 1, False),
    ((2, 3, 7, 7), 3, 2, 1, 1, True),
    ((1, 2, 9, 5), (3, 2), (2, 1), (1, 1), (2, 1), False),
    ((1, 1, 1, 1), 1, 1, 0, 1, False),
    ((3, 2, 6, 6), 3, 3, 1, 1, True),
    ((0, 2, 5, 5), 2, 2, 0, 1, False),
    ((4, 17, 33, 33), 3, 2, 1, 1, False),
]


@pytest.mark.parametrize("case", MAX_CASES, ids=[str(c) for c in MAX_CASES])
def test_max_pool2d_matches_reference_and_fd(rng, isa, case):
    shape, k, s, p, d, ceil = case
    x = rng.standard_normal(shape)
    y, idx = kernels.max_pool2d_forward(x, k, s, p, d, ceil)
    if x.size < 1000:
        ry, ridx = max_pool_ref(x, k, s, p, d, ceil)
        np.testing.assert_array_equal(y, ry)
        np.testing.assert_array_equal(idx, ridx)
    else:  # big case: every output is the input value its index points at
        np.testing.assert_array_equal(y, np.take_along_axis(x.reshape(*shape[:2], -1), idx.reshape(*shape[:2], -1),
                                                            axis=2).reshape(y.shape))
    dy = rng.standard_normal(y.shape)
    dx = be.max_pool2d_backward(dy, idx, x.shape)
    check_fd(rng, lambda t: kernels.max_pool2d_forward(t, k, s, p, d, ceil)[0], x, dx, dy)


def test_max_pool2d_float32_nan_and_stride_default(rng):
    x = rng.standard_normal((1, 1, 4, 4)).astype(np.float32)
    x[0, 0, 1, 0] = np.nan
    y, idx = kernels.max_pool2d_forward(x, 2)
    assert y.dtype == np.float32 and np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 4
    np.testing.assert_array_equal(y[0, 0, 1], x[0, 0, 2:, :].reshape(2, 2, 2).max(axis=(0, 2)))


AVG_CASES = [  # (shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    ((2, 3, 7, 7), 2, 2, 0, False, True, None),
    ((2, 3, 7, 7), 3, 2, 1, True, True, None),
    ((2, 3, 7, 7), 3, 2, 1, True, False, None),
    ((1, 2, 8, 5), (3, 2), (2, 1), (1, 1), False, False, None),
    ((1, 2, 5, 5), 2, 2, 1, True, True, 3),
    ((0, 2, 4, 4), 2, 2, 0, False, True, None),
]


@pytest.mark.parametrize("case", AVG_CASES, ids=[str(c) for c in AVG_CASES])
def test_avg_pool2d_matches_reference_and_fd(rng, isa, case):
    shape, k, s, p, ceil, cip, div = case
    x = rng.standard_normal(shape)
    y = kernels.avg_pool2d_forward(x, k, s, p, ceil, cip, div)
    np.testing.assert_allclose(y, avg_pool_ref(x, k, s, p, ceil, cip, div), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx = be.avg_pool2d_backward(dy, x.shape, k, s, p, ceil, cip, div)
    check_fd(rng, lambda t: kernels.avg_pool2d_forward(t, k, s, p, ceil, cip, div), x, dx, dy)


def test_avg_pool2d_known_values():
    x = np.ones((1, 1, 3, 3))
    np.testing.assert_allclose(kernels.avg_pool2d_forward(x, 2, 2, 1)[0, 0], [[0.25, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(kernels.avg_pool2d_forward(x, 2, 2, 1, count_include_pad=False)[0, 0], np.ones((2, 2)))
    # ceil_mode: 5 -> 3 windows, the last one holds a single row/column.
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    y = kernels.avg_pool2d_forward(x, 2, 2, 0, ceil_mode=True)
    assert y.shape == (1, 1, 3, 3) and y[0, 0, 2, 2] == 24.0 and y[0, 0, 0, 2] == (4 + 9) / 2


@pytest.mark.parametrize("shape, out", [((2, 3, 5, 7), (3, 2)), ((1, 2, 4, 4), (1, 1)), ((1, 1, 3, 3), (5, 4)),
                                        ((2, 2, 6, 6), (6, 6)), ((0, 2, 3, 3), (2, 2))])
def test_adaptive_avg_pool2d_matches_reference_and_fd(rng, isa, shape, out):
    x = rng.standard_normal(shape)
    y = kernels.adaptive_avg_pool2d_forward(x, out)
    np.testing.assert_allclose(y, adaptive_ref(x, out), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx = be.adaptive_avg_pool2d_backward(dy, x.shape)
    check_fd(rng, lambda t: kernels.adaptive_avg_pool2d_forward(t, out), x, dx, dy)


def test_adaptive_avg_pool2d_none_keeps_size_and_float32(rng):
    x = rng.standard_normal((1, 2, 5, 4)).astype(np.float32)
    y = kernels.adaptive_avg_pool2d_forward(x, (None, 2))
    assert y.shape == (1, 2, 5, 2) and y.dtype == np.float32


def test_non_contiguous_input(rng):
    x = rng.standard_normal((2, 3, 8, 6)).transpose(0, 1, 3, 2)
    np.testing.assert_array_equal(kernels.max_pool2d_forward(x, 2)[0], max_pool_ref(np.ascontiguousarray(x), 2, 2, 0, 1, False)[0])
    np.testing.assert_allclose(kernels.avg_pool2d_forward(x, 2), avg_pool_ref(x, 2, 2, 0, False, True))


@pytest.mark.parametrize("call, message", [
    (lambda x: kernels.max_pool2d_forward(x.astype(np.int32), 2), "max_pool2d_forward: argument 'x' expected dtype float32 or float64, got int32"),
    (lambda x: kernels.max_pool2d_forward(x, 2, padding=2), "max_pool2d_forward: argument 'padding' expected values in [0, kernel_size / 2], got (2, 2)"),
    (lambda x: kernels.max_pool2d_forward(x, 0), "max_pool2d_forward: argument 'kernel_size' expected values >= 1, got (0, 0)"),
    (lambda x: kernels.max_pool2d_forward(x, 2, stride=0), "max_pool2d_forward: argument 'stride' expected values >= 1"),
    (lambda x: kernels.max_pool2d_forward(x, 2, dilation=0), "max_pool2d_forward: argument 'dilation' expected values >= 1"),
    (lambda x: kernels.max_pool2d_forward(x, 9), "max_pool2d_forward: input of size (5, 5) with padding (0, 0) is smaller than the window (9, 9)"),
    (lambda x: kernels.max_pool2d_forward(x[0], 2), "max_pool2d_forward: argument 'x' expected a 4-D array, got shape (3, 5, 5)"),
    (lambda x: kernels.avg_pool2d_forward(x, 2, divisor_override=-1), "avg_pool2d_forward: argument 'divisor_override' expected > 0"),
    (lambda x: kernels.avg_pool2d_forward(x, 2, padding=(0, 3)), "avg_pool2d_forward: argument 'padding' expected values in [0, kernel_size / 2]"),
    (lambda x: kernels.adaptive_avg_pool2d_forward(x, (0, 2)), "adaptive_avg_pool2d_forward: argument 'out' expected an output size >= 1"),
    (lambda x: be.max_pool2d_backward(np.zeros((2, 3, 2, 2)), np.full((2, 3, 2, 2), 25), x.shape),
     "max_pool2d_backward: argument 'indices' expected values in [0, H*W=25), got 25 at flat position 0"),
    (lambda x: be.max_pool2d_backward(np.zeros((2, 3, 2, 2)), np.zeros((2, 3, 2, 2), np.int32), x.shape),
     "max_pool2d_backward: argument 'indices' expected dtype int64"),
    (lambda x: be.avg_pool2d_backward(np.zeros((2, 3, 3, 3)), x.shape, 2, 2, 0, False, True, None),
     "avg_pool2d_backward: argument 'grad_out' expected shape (N=2, C=3, OH=2, OW=2), got (2, 3, 3, 3)"),
    (lambda x: be.adaptive_avg_pool2d_backward(np.zeros((2, 4, 3, 3)), x.shape),
     "adaptive_avg_pool2d_backward: argument 'grad_out' expected shape (N=2, C=3, OH=3, OW=3), got (2, 4, 3, 3)"),
])
def test_pool_bad_inputs(rng, call, message):
    x = rng.standard_normal((2, 3, 5, 5))
    with pytest.raises(ValueError, match=re.escape(message)):
        call(x)


def test_pool_native_checks_layout_and_aliasing(rng):
    x = rng.standard_normal((1, 2, 4, 4))
    with pytest.raises(ValueError, match="max_pool2d_forward: argument 'x' must be C-contiguous"):
        nerve._C.max_pool2d_forward(np.empty((1, 2, 2, 2)), np.empty((1, 2, 2, 2), np.int64), x[:, :, ::-1],
                                    (2, 2), (2, 2), (0, 0), (1, 1), False)
    with pytest.raises(ValueError, match="avg_pool2d_forward: argument 'out' must not share memory with 'x'"):
        nerve._C.avg_pool2d_forward(x.reshape(-1)[:8].reshape(1, 2, 2, 2), x, (2, 2), (2, 2), (0, 0), False, True, 0)
