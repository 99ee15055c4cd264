"""The native fused cross-entropy kernel (nerve._C.cross_entropy_forward /
cross_entropy_backward) against float64 NumPy, on every ISA, and its checks."""
import numpy as np
import pytest

from nerve import _C
from nerve.ops import loss as L


def reference(x, t, w, ignore_index, eps):
    """Per-row loss, lse and d loss / d x for unit row gradients, in float64."""
    x = x.astype(np.float64)
    N, C = x.shape
    m = x.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]
    logp = x - lse[:, None]
    wc = np.ones(C) if w is None else w.astype(np.float64)
    valid = t != ignore_index
    safe = np.where(valid, t, 0)
    y = np.full((N, C), eps / C) * wc  # smoothed, weighted target distribution (times its mass)
    y[np.arange(N), safe] += (1 - eps) * wc[safe]
    loss = np.where(valid, -(y * logp).sum(axis=1), 0.0)
    grad = np.where(valid[:, None], np.exp(logp) * y.sum(axis=1, keepdims=True) - y, 0.0)
    return loss, lse, grad


def run(x, t, w=None, ignore_index=-100, eps=0.0, g=None):
    N = x.shape[0]
    loss, lse = np.empty(N, x.dtype), np.empty(N, np.float64)
    _C.cross_entropy_forward(loss, lse, x, t, w, ignore_index, eps)
    g = np.ones(N, x.dtype) if g is None else g
    gx = np.full_like(x, np.nan)
    _C.cross_entropy_backward(gx, g, x, lse, t, w, ignore_index, eps)
    return loss, lse, gx


@pytest.mark.parametrize("dtype,rtol", [(np.float32, 2e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("N,C", [(1, 1), (3, 3), (7, 17), (33, 5), (300, 64), (2, 2053)])  # 300 x 64: threads; 2053: blocks + tail
@pytest.mark.parametrize("weighted,eps", [(False, 0.0), (True, 0.0), (False, 0.3), (True, 0.1)])
def test_cross_entropy_kernel_matches_numpy(isa, dtype, rtol, N, C, weighted, eps, rng):
    x = (rng.standard_normal((N, C)) * 4).astype(dtype)
    t = rng.integers(0, C, N)
    t[::4] = -7  # ignored rows
    w = rng.uniform(0.2, 2.0, C).astype(dtype) if weighted else None
    g = rng.standard_normal(N).astype(dtype)
    loss, lse, gx = run(x, t, w, -7, eps, g)
    ref_loss, ref_lse, ref_grad = reference(x, t, w, -7, eps)
    np.testing.assert_allclose(loss, ref_loss, rtol=rtol, atol=rtol)
    assert lse.dtype == np.float64  # for every dtype: backward needs it exact
    np.testing.assert_allclose(lse, ref_lse, rtol=rtol)
    np.testing.assert_allclose(gx, ref_grad * g[:, None], rtol=rtol, atol=rtol)
    assert (gx[::4] == 0).all()


def test_cross_entropy_kernel_extreme_logits(isa):
    for dtype in (np.float32, np.float64):
        x = np.array([[1e4, -1e4, 0], [1e4, 1e4, -1e4], [-np.inf, 0, -np.inf]], dtype)
        t = np.array([1, 0, 1])
        loss, lse, gx = run(x, t, eps=0.2)
        assert np.isfinite(gx).all()
        np.testing.assert_allclose(loss[:2], reference(x[:2], t[:2], None, -100, 0.2)[0], rtol=1e-6)
        np.testing.assert_allclose(gx[1], [0.5 - 0.8 - 0.2 / 3, 0.5 - 0.2 / 3, -0.2 / 3], rtol=1e-6, atol=1e-7)
        assert loss[2] == np.inf  # label smoothing puts mass on a class of probability 0, as PyTorch


def test_cross_entropy_kernel_zero_rows():
    # (the CUDA kernels' own comparison with these: tests/cuda_emu/test_loss.py)
    loss, lse, gx = run(np.zeros((0, 3)), np.zeros(0, np.int64))
    assert loss.shape == (0,) and gx.shape == (0, 3)


def test_cross_entropy_kernel_bad_inputs():
    x, t = np.zeros((3, 4)), np.array([0, 1, 2])
    loss, lse = np.empty(3), np.empty(3)
    fwd = _C.cross_entropy_forward
    with pytest.raises(ValueError, match=r"cross_entropy_forward: argument 'target' has class index 4 at position 1, "
                                         r"expected a value in \[0, 4\) or ignore_index=-100"):
        fwd(loss, lse, x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"argument 'target' has class index -1 at position 0"):
        fwd(loss, lse, x, np.array([-1, 0, 1]))
    with pytest.raises(ValueError, match=r"cross_entropy_forward: argument 'target' expected dtype int64, got int32"):
        fwd(loss, lse, x, t.astype(np.int32))
    with pytest.raises(ValueError, match=r"argument 'target' expected shape \(N=3,\), got \(2,\)"):
        fwd(loss, lse, x, t[:2])
    with pytest.raises(ValueError, match=r"argument 'logits' expected dtype float32 or float64, got int64"):
        fwd(loss, lse, x.astype(np.int64), t)
    with pytest.raises(ValueError, match=r"argument 'logits' expected a 2-D array, got shape \(3, 4, 1\)"):
        fwd(loss, lse, x[..., None], t)
    with pytest.raises(ValueError, match=r"argument 'logits' must be C-contiguous"):
        fwd(loss, lse, np.zeros((4, 3)).T, t)
    with pytest.raises(ValueError, match=r"argument 'loss' expected dtype float64, got float32"):
        fwd(loss.astype(np.float32), lse, x, t)
    with pytest.raises(ValueError, match=r"argument 'lse' expected dtype float64, got float32"):
        fwd(loss.astype(np.float32), lse.astype(np.float32), x.astype(np.float32), t)
    with pytest.raises(ValueError, match=r"argument 'loss' expected shape \(N=3,\), got \(4,\)"):
        fwd(np.empty(4), lse, x, t)
    with pytest.raises(ValueError, match=r"argument 'weight' expected shape \(C=4,\), got \(3,\)"):
        fwd(loss, lse, x, t, np.ones(3))
    with pytest.raises(ValueError, match=r"argument 'label_smoothing' expected a value in \[0, 1\], got -0.5"):
        fwd(loss, lse, x, t, None, -100, -0.5)
    with pytest.raises(ValueError, match=r"argument 'logits' needs at least one class, got shape \(3, 0\)"):
        fwd(loss, lse, np.zeros((3, 0)), np.array([-100, -100, -100]))
    with pytest.raises(ValueError, match=r"argument 'loss' must be writable"):
        ro = np.empty(3)
        ro.flags.writeable = False
        fwd(ro, lse, x, t)
    bwd = _C.cross_entropy_backward
    with pytest.raises(ValueError, match=r"cross_entropy_backward: argument 'grad_logits' expected shape "
                                         r"\(N=3, C=4\), got \(3, 5\)"):
        bwd(np.empty((3, 5)), np.ones(3), x, lse, t)
    with pytest.raises(ValueError, match=r"cross_entropy_backward: argument 'grad_loss' expected shape \(N=3,\)"):
        bwd(np.empty((3, 4)), np.ones(2), x, lse, t)
    with pytest.raises(ValueError, match=r"cross_entropy_backward: argument 'target' has class index 9"):
        bwd(np.empty((3, 4)), np.ones(3), x, lse, np.array([9, 0, 0]))
