"""Layer norm kernel (nerve.kernels.layer_norm_forward / layer_norm_backward) against NumPy float64."""
import numpy as np
import pytest

from nerve import _C, kernels


def reference(x, w=None, b=None, eps=1e-5):
    x = np.asarray(x, np.float64)
    mean = x.mean(-1, keepdims=True)
    rstd = 1 / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + eps)
    y = (x - mean) * rstd
    y = y * w if w is not None else y
    y = y + b if b is not None else y
    return y, mean[:, 0], rstd[:, 0]


def reference_backward(g, x, w=None, eps=1e-5):
    x, g = np.asarray(x, np.float64), np.asarray(g, np.float64)
    _, mean, rstd = reference(x, eps=eps)
    xhat = (x - mean[:, None]) * rstd[:, None]
    gw = g * w if w is not None else g
    dx = rstd[:, None] * (gw - gw.mean(-1, keepdims=True) - xhat * (gw * xhat).mean(-1, keepdims=True))
    return dx, (g * xhat).sum(0), g.sum(0)


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [True, False])
def test_matches_reference(dtype, affine, rng):
    for N in (1, 3, 7, 33):
        for C in (1, 3, 7, 17, 33, 130):
            x = rng.standard_normal((N, C)).astype(dtype)
            w = rng.standard_normal(C).astype(dtype) if affine else None
            b = rng.standard_normal(C).astype(dtype) if affine else None
            y, mean, rstd = kernels.layer_norm_forward(x, w, b, 1e-5)
            ry, rm, rr = reference(x, w, b)
            np.testing.assert_allclose(y, ry, **tol(dtype))
            np.testing.assert_allclose(mean, rm, **tol(dtype))
            np.testing.assert_allclose(rstd, rr, rtol=tol(dtype)["rtol"])
            g = rng.standard_normal((N, C)).astype(dtype)
            dx, dw, db = kernels.layer_norm_backward(g, x, mean, rstd, w, need_dweight=affine, need_dbias=affine)
            rdx, rdw, rdb = reference_backward(g, x, w)
            np.testing.assert_allclose(dx, rdx, **tol(dtype))
            if affine:
                np.testing.assert_allclose(dw, rdw, **tol(dtype))
                np.testing.assert_allclose(db, rdb, **tol(dtype))
            else:
                assert dw is None and db is None


def test_bias_only_and_weight_only(rng):
    x = rng.standard_normal((5, 9))
    w, b = rng.standard_normal(9), rng.standard_normal(9)
    np.testing.assert_allclose(kernels.layer_norm_forward(x, w, None)[0], reference(x, w)[0], rtol=1e-12)
    np.testing.assert_allclose(kernels.layer_norm_forward(x, None, b)[0], reference(x, None, b)[0], rtol=1e-12)


def test_finite_difference_gradients(rng):
    x, w, b = rng.standard_normal((4, 6)), rng.standard_normal(6), rng.standard_normal(6)
    g = rng.standard_normal((4, 6))
    y, mean, rstd = kernels.layer_norm_forward(x, w, b)
    grads = kernels.layer_norm_backward(g, x, mean, rstd, w)
    eps = 1e-6
    for arr, grad in zip((x, w, b), grads):
        num = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + eps
            plus = (kernels.layer_norm_forward(x, w, b)[0] * g).sum()
            arr[i] = old - eps
            minus = (kernels.layer_norm_forward(x, w, b)[0] * g).sum()
            arr[i] = old
            num[i] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-8)


def test_large_offset_and_constant_rows(rng):
    # Two-pass variance: a common offset of 1e4 does not cancel the float32 result.
    x = (1e4 + rng.standard_normal((3, 64))).astype(np.float32)
    np.testing.assert_allclose(kernels.layer_norm_forward(x)[0], reference(x)[0], rtol=1e-3, atol=2e-3)
    y, mean, rstd = kernels.layer_norm_forward(np.full((2, 5), 3.0))
    assert np.all(y == 0) and np.allclose(rstd, 1 / np.sqrt(1e-5))


def test_zero_rows_and_many_rows(rng):
    y, mean, rstd = kernels.layer_norm_forward(np.zeros((0, 7), np.float32), np.ones(7, np.float32), np.zeros(7, np.float32))
    assert y.shape == (0, 7) and mean.shape == (0,)
    dx, dw, db = kernels.layer_norm_backward(y, y, mean, rstd, np.ones(7, np.float32))
    assert dx.shape == (0, 7) and np.all(dw == 0) and np.all(db == 0)
    # Enough rows that the dweight / dbias sums run on several threads.
    x, g, w = rng.standard_normal((3000, 65)), rng.standard_normal((3000, 65)), rng.standard_normal(65)
    y, mean, rstd = kernels.layer_norm_forward(x, w, w)
    for got, want in zip(kernels.layer_norm_backward(g, x, mean, rstd, w), reference_backward(g, x, w)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)


def test_bad_inputs():
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"layer_norm_forward: argument 'weight' expected shape \(C=4,\), got \(5,\)"):
        kernels.layer_norm_forward(x, np.ones(5, np.float32))
    with pytest.raises(ValueError, match="layer_norm_forward: argument 'bias' expected dtype float32, got float64"):
        kernels.layer_norm_forward(x, None, np.ones(4))
    with pytest.raises(ValueError, match="layer_norm_forward: argument 'x' expected a 2-D array, got shape"):
        kernels.layer_norm_forward(x[0])
    with pytest.raises(ValueError, match="argument 'x' expected dtype float32 or float64, got int64"):
        kernels.layer_norm_forward(x.astype(np.int64))
    with pytest.raises(ValueError, match="argument 'eps' expected a finite value >= 0, got -1"):
        kernels.layer_norm_forward(x, eps=-1)
    with pytest.raises(ValueError, match=r"argument 'y' expected shape \(N=3, C=4\), got \(3, 5\)"):
        _C.layer_norm_forward(np.empty((3, 5), np.float32), np.empty(3, np.float32), np.empty(3, np.float32), x)
    y, m, r = kernels.layer_norm_forward(x)
    with pytest.raises(ValueError, match=r"layer_norm_backward: argument 'rstd' expected shape \(N=3,\), got \(2,\)"):
        kernels.layer_norm_backward(x, x, m, r[:2])
    with pytest.raises(ValueError, match="layer_norm_backward: argument 'grad_x' must be C-contiguous"):
        _C.layer_norm_backward(np.empty((4, 3), np.float32).T, None, None, x, x, m, r)
