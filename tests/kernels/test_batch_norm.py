"""Batch norm kernels against a float64 NumPy reference: training and eval
forward, running-statistics update, fused backward (closed form and finite
differences), float32, zero batch, bad inputs."""
import re

import numpy as np
import pytest

import nerve
from nerve import kernels
from nerve.backend import cpu as be


def bn_ref(x, w, b, eps):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    xhat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return xhat * w.reshape(shape) + b.reshape(shape), mean, var


def bn_backward_ref(dy, x, w, eps):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    m = x.size // x.shape[1]
    mean, var = x.mean(axis=axes).reshape(shape), x.var(axis=axes).reshape(shape)
    invstd = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * invstd
    dxhat = dy * w.reshape(shape)
    dx = invstd / m * (m * dxhat - dxhat.sum(axis=axes, keepdims=True) - xhat * (dxhat * xhat).sum(axis=axes, keepdims=True))
    return dx, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)


SHAPES = [(4, 3), (2, 5, 7), (3, 4, 5, 5), (1, 2, 3, 3), (17, 1), (2, 33, 3, 1), (8, 16, 16, 16),
          # the channels-innermost path (L < 16): several 256-column tiles, N not a multiple of 4, L = 15 and 16
          (67, 600), (9, 300, 3), (6, 40, 15), (5, 20, 16)]


@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
def test_batch_norm_training_forward_backward(rng, isa, shape):
    C = shape[1]
    x = rng.standard_normal(shape) * 3 + 5
    w, b = rng.standard_normal(C), rng.standard_normal(C)
    rm, rv = rng.standard_normal(C), rng.random(C) + 0.5
    rm0, rv0 = rm.copy(), rv.copy()
    y, mean, invstd = kernels.batch_norm_forward(x, w, b, rm, rv, training=True, momentum=0.3, eps=1e-5)
    ry, rmean, rvar = bn_ref(x, w, b, 1e-5)
    np.testing.assert_allclose(y, ry, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(mean, rmean, rtol=1e-12)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(rvar + 1e-5), rtol=1e-12)
    m = x.size // C
    np.testing.assert_allclose(rm, 0.7 * rm0 + 0.3 * rmean, rtol=1e-12)
    np.testing.assert_allclose(rv, 0.7 * rv0 + 0.3 * rvar * m / (m - 1), rtol=1e-12)
    dy = rng.standard_normal(shape)
    dx, dw, db = be.batch_norm_backward(dy, x, w, mean, invstd, True)
    rdx, rdw, rdb = bn_backward_ref(dy, x, w, 1e-5)
    np.testing.assert_allclose(dx, rdx, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(dw, rdw, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(db, rdb, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape", SHAPES[:4], ids=[str(s) for s in SHAPES[:4]])
def test_batch_norm_backward_finite_differences(rng, shape):
    C = shape[1]
    x, w, b = rng.standard_normal(shape), rng.standard_normal(C), rng.standard_normal(C)
    dy = rng.standard_normal(shape)
    _, mean, invstd = kernels.batch_norm_forward(x, w, b, training=True)
    grads = be.batch_norm_backward(dy, x, w, mean, invstd, True)
    fns = [lambda t: kernels.batch_norm_forward(t, w, b, None, None, True)[0],
           lambda t: kernels.batch_norm_forward(x, t, b, None, None, True)[0],
           lambda t: kernels.batch_norm_forward(x, w, t, None, None, True)[0]]
    for arr, grad, f in zip((x, w, b), grads, fns):
        v = rng.standard_normal(arr.shape)
        num = (((f(arr + 1e-6 * v) - f(arr - 1e-6 * v)) / 2e-6) * dy).sum()
        assert np.isclose(num, (grad * v).sum(), rtol=1e-6, atol=1e-6)


def test_batch_norm_eval_uses_running_stats_and_leaves_them(rng, isa):
    x = rng.standard_normal((3, 4, 5))
    w, b, rm, rv = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(4), rng.random(4) + 0.5
    rm0, rv0 = rm.copy(), rv.copy()
    y, mean, invstd = kernels.batch_norm_forward(x, w, b, rm, rv, training=False, eps=1e-3)
    ref = (x - rm[:, None]) / np.sqrt(rv[:, None] + 1e-3) * w[:, None] + b[:, None]
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(rm, rm0)
    np.testing.assert_array_equal(rv, rv0)
    dy = rng.standard_normal(x.shape)
    dx, dw, db = be.batch_norm_backward(dy, x, w, mean, invstd, False)
    np.testing.assert_allclose(dx, dy * (w / np.sqrt(rv + 1e-3))[:, None], rtol=1e-12)
    np.testing.assert_allclose(dw, (dy * (x - rm[:, None]) / np.sqrt(rv[:, None] + 1e-3)).sum(axis=(0, 2)), rtol=1e-10)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 2)), rtol=1e-12)


def test_batch_norm_without_affine_float32_and_large_mean(rng, isa):
    x = (rng.standard_normal((16, 3, 8, 8)) + 1000).astype(np.float32)
    y, mean, invstd = kernels.batch_norm_forward(x, training=True)
    ry, _, _ = bn_ref(x.astype(np.float64), np.ones(3), np.zeros(3), 1e-5)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, ry, rtol=1e-3, atol=2e-3)
    dx, dw, db = be.batch_norm_backward(np.ones_like(x), x, None, mean, invstd, True, (True, False, False))
    assert dw is None and db is None and np.abs(dx).max() < 1e-2  # a constant gradient is normalized away


def test_batch_norm_zero_batch_and_needs(rng):
    x = np.zeros((0, 3, 4))
    rm, rv = np.zeros(3), np.ones(3)
    y, mean, invstd = kernels.batch_norm_forward(x, None, None, rm, rv, training=True)
    assert y.shape == (0, 3, 4) and not rm.any() and (rv == 1).all()
    dx, dw, db = be.batch_norm_backward(np.zeros((0, 3, 4)), x, np.ones(3), mean, invstd, True)
    assert dx.shape == (0, 3, 4) and not dw.any() and not db.any()


def test_batch_norm_non_contiguous_input(rng):
    x = rng.standard_normal((5, 6, 4)).transpose(0, 2, 1)  # (5, 4, 6), channels strided
    y, _, _ = kernels.batch_norm_forward(x, np.ones(4), np.zeros(4), training=True)
    np.testing.assert_allclose(y, bn_ref(x, np.ones(4), np.zeros(4), 1e-5)[0], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("call, message", [
    (lambda x: kernels.batch_norm_forward(x.astype(np.int64), training=True),
     "batch_norm_forward: argument 'x' expected dtype float32 or float64, got int64"),
    (lambda x: kernels.batch_norm_forward(x, np.ones(4), training=True),
     "batch_norm_forward: argument 'weight' expected shape (C=3,), got (4,)"),
    (lambda x: kernels.batch_norm_forward(x, np.ones(3, np.float32), training=True),
     "batch_norm_forward: argument 'weight' expected dtype float64 (like 'x'), got float32"),
    (lambda x: kernels.batch_norm_forward(x, training=False),
     "batch_norm_forward: eval mode (training=False) needs 'running_mean' and 'running_var'"),
    (lambda x: kernels.batch_norm_forward(x, None, None, np.zeros(3), training=True),
     "batch_norm_forward: arguments 'running_mean' and 'running_var' must both be arrays or both be None"),
    (lambda x: kernels.batch_norm_forward(x[:1, :, :1], training=True),
     "batch_norm_forward: expected more than 1 value per channel when training, got input shape (1, 3, 1)"),
    (lambda x: kernels.batch_norm_forward(x, training=True, eps=0),
     "batch_norm_forward: argument 'eps' expected > 0, got 0"),
    (lambda x: kernels.batch_norm_forward(x, None, None, np.zeros(6)[::2], np.ones(3), training=True),
     "batch_norm_forward: argument 'running_mean' must be C-contiguous"),
    (lambda x: kernels.batch_norm_forward(x[0, 0], training=True),
     "batch_norm_forward: argument 'x' expected shape (N, C, ...), got (4,)"),
    (lambda x: be.batch_norm_backward(np.zeros((2, 3, 5)), x, None, np.zeros(3), np.ones(3), True),
     "batch_norm_backward: argument 'grad_out' expected shape (2, 3, 4) (like 'x'), got (2, 3, 5)"),
])
def test_batch_norm_bad_inputs(rng, call, message):
    x = rng.standard_normal((2, 3, 4))
    with pytest.raises(ValueError, match=re.escape(message)):
        call(x)


def test_batch_norm_native_aliasing(rng):
    x = rng.standard_normal((2, 3, 4))
    stats = np.zeros(6)
    with pytest.raises(ValueError, match="batch_norm_forward: argument 'save_mean' must not share memory with 'save_invstd'"):
        nerve._C.batch_norm_forward(np.empty_like(x), stats[:3], stats[2:5], x, None, None, None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="batch_norm_forward: argument 'out' must not share memory with 'x'"):
        nerve._C.batch_norm_forward(x, np.empty(3), np.empty(3), x, None, None, None, None, True, 0.1, 1e-5)


@pytest.mark.parametrize("shape", [(256, 1024), (37, 515), (10, 130, 7), (12, 9, 16)], ids=str)
def test_batch_norm_small_L_float32_threads(rng, isa, shape):
    """BatchNorm1d on (N, C) and short (N, C, L), float32: the channels-innermost path (and L = 16,
    the per-channel one) against float64, running var unbiased, eval and both backward modes;
    bitwise the same on 1 and 2 threads (the split only moves tile borders)."""
    C = shape[1]
    x = (rng.standard_normal(shape) * 2 + 100).astype(np.float32)  # a large mean: two-pass variance needed
    w, b = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    x64 = x.astype(np.float64)
    ry, rmean, rvar = bn_ref(x64, w.astype(np.float64), b.astype(np.float64), 1e-5)
    rdx, rdw, rdb = bn_backward_ref(dy.astype(np.float64), x64, w.astype(np.float64), 1e-5)
    m = x.size // C
    results = []
    before = nerve._C.get_num_threads()
    try:
        for threads in (1, 2):
            nerve._C.set_num_threads(threads)
            rm, rv = np.zeros(C, np.float32), np.ones(C, np.float32)
            y, mean, invstd = kernels.batch_norm_forward(x, w, b, rm, rv, training=True, momentum=0.5, eps=1e-5)
            np.testing.assert_allclose(y, ry, rtol=1e-5, atol=1e-4)
            np.testing.assert_allclose(mean, rmean, rtol=1e-6)
            np.testing.assert_allclose(invstd, 1 / np.sqrt(rvar + 1e-5), rtol=1e-5)
            np.testing.assert_allclose(rm, 0.5 * rmean, rtol=1e-6)
            np.testing.assert_allclose(rv, 0.5 + 0.5 * rvar * m / (m - 1), rtol=1e-5)
            dx, dw, db = be.batch_norm_backward(dy, x, w, mean, invstd, True)
            np.testing.assert_allclose(dx, rdx, rtol=1e-3, atol=1e-4)
            np.testing.assert_allclose(dw, rdw, rtol=1e-4, atol=1e-3)
            np.testing.assert_allclose(db, rdb, rtol=1e-5, atol=1e-4)
            ye, _, _ = kernels.batch_norm_forward(x, w, b, rm, rv, training=False, eps=1e-5)
            shape_c = (1, -1) + (1,) * (x.ndim - 2)
            scale = (w / np.sqrt(rv.astype(np.float64) + 1e-5)).reshape(shape_c)
            np.testing.assert_allclose(ye, (x64 - rm.reshape(shape_c)) * scale + b.reshape(shape_c), rtol=1e-5, atol=1e-4)
            ex, _, _ = be.batch_norm_backward(dy, x, w, rm, 1 / np.sqrt(rv + np.float32(1e-5)), False)
            np.testing.assert_allclose(ex, dy * scale, rtol=1e-6, atol=1e-7)
            results.append(b"".join(a.tobytes() for a in (y, mean, invstd, rm, rv, dx, dw, db, ye, ex)))
    finally:
        nerve._C.set_num_threads(before)
    assert results[0] == results[1]
