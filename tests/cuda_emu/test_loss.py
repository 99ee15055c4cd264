"""Fused cross-entropy kernels (csrc/cuda/loss.cuh) against the CPU backend, through the GPU backend, and
nn.functional.cross_entropy on the GPU path. Fixture `gpu`: conftest.py."""
import numpy as np
import pytest

from nerve.backend import cpu

from .conftest import tolerance

# C: one warp per row up to 256 classes, 256 threads beyond (the shared-memory merge).
SHAPES = [(0, 3), (1, 1), (3, 5), (17, 33), (5, 256), (4, 257), (3, 1000)]


def case(rng, N, C, dtype, weighted, ignore):
    x = (rng.standard_normal((N, C)) * 3).astype(dtype)
    t = rng.integers(0, C, N)
    if ignore and N > 1:
        t[1] = ignore
    w = rng.uniform(0.2, 2.0, C).astype(dtype) if weighted else None
    return x, t, w


def run(be, put, get, x, t, w, ignore, eps, g=None):
    loss, lse = be.cross_entropy_forward(put(x), put(t), put(w), ignore, eps)
    g = np.linspace(0.5, 1.5, x.shape[0]).astype(x.dtype) if g is None else g
    gx = be.cross_entropy_backward(put(g), put(x), lse, put(t), put(w), ignore, eps)
    return get(loss), get(lse), get(gx)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,C", SHAPES)
@pytest.mark.parametrize("weighted,ignore,eps", [(False, -100, 0.0), (True, -100, 0.0), (False, 2, 0.1),
                                                 (True, -1, 0.25), (True, 0, 1.0)])
def test_cross_entropy_matches_cpu(gpu, rng, N, C, dtype, weighted, ignore, eps):
    x, t, w = case(rng, N, C, dtype, weighted, ignore)
    if ignore >= 0:
        t[t == ignore] = (ignore + 1) % C if C > 1 else ignore  # only row 1 is ignored
        if N > 1:
            t[1] = ignore
    ref = run(cpu, lambda a: a, lambda a: a, x, t, w, ignore, eps)
    got = run(gpu.be, gpu.put, gpu.get, x, t, w, ignore, eps)
    tol = tolerance(dtype, gpu)
    np.testing.assert_allclose(got[0], ref[0], rtol=tol["rtol"] * 10, atol=tol["atol"] * 10)  # loss
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-12 if dtype == np.float64 else 1e-6)  # lse (float64)
    np.testing.assert_allclose(got[2], ref[2], rtol=tol["rtol"] * 10, atol=tol["atol"] * 10)  # grad
    assert got[0].dtype == dtype and got[1].dtype == np.float64 and got[2].dtype == dtype
    if N > 1 and ignore != -100:
        assert got[0][1] == 0 and not got[2][1].any()


@pytest.mark.parametrize("C", [3, 300])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_and_non_finite_logits(gpu, C, dtype):
    x = np.zeros((6, C), dtype)
    x[0, :3] = [1e4, -1e4, 0]
    x[1, :3] = [1e4, 1e4, -1e4]
    x[2, :] = -np.inf
    x[2, 1] = 0
    x[3, :] = -np.inf  # every class impossible: lse -inf, loss nan
    x[4, 2] = np.inf
    x[5, 1] = np.nan
    t = np.array([1, 0, 1, 0, 0, 0])
    for eps in (0.0, 0.2):
        ref = run(cpu, lambda a: a, lambda a: a, x, t, None, -100, eps)
        got = run(gpu.be, gpu.put, gpu.get, x, t, None, -100, eps)
        for r, g in zip(ref, got):
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6, equal_nan=True)
            assert np.array_equal(np.isnan(g), np.isnan(r)) and np.array_equal(np.isinf(g), np.isinf(r))


def test_target_outside_the_classes_gives_nan_not_a_wild_read(gpu):
    """The binding cannot read device memory to reject such a target (the CPU binding does): the kernel makes
    that row NaN. nn.functional.cross_entropy range-checks targets before any kernel runs."""
    x = np.zeros((3, 4))
    t = np.array([0, 7, -5])
    loss, lse, gx = run(gpu.be, gpu.put, gpu.get, x, t, None, -100, 0.0)
    assert loss[0] == pytest.approx(np.log(4)) and np.isnan(loss[1:]).all()
    assert np.isfinite(gx[0]).all() and np.isnan(gx[1:]).all()
    np.testing.assert_allclose(lse, np.log(4))


def test_binding_checks_match_the_cpu_binding(gpu):
    from nerve import _C
    K = gpu.be._K
    x, t = np.zeros((3, 4)), np.array([0, 1, 2])
    loss, lse = np.empty(3), np.empty(3)
    cases = [
        lambda m, p: m.cross_entropy_forward(p(loss), p(lse), p(x), p(t.astype(np.int32))),
        lambda m, p: m.cross_entropy_forward(p(loss), p(lse), p(x), p(t[:2])),
        lambda m, p: m.cross_entropy_forward(p(loss), p(lse.astype(np.float32)), p(x), p(t)),
        lambda m, p: m.cross_entropy_forward(p(loss), p(lse), p(x), p(t), p(np.ones(3))),
        lambda m, p: m.cross_entropy_forward(p(loss), p(lse), p(x), p(t), None, -100, 1.5),
        lambda m, p: m.cross_entropy_forward(p(loss), p(lse), p(x.astype(np.float32)), p(t)),
        lambda m, p: m.cross_entropy_backward(p(np.empty((3, 5))), p(np.ones(3)), p(x), p(lse), p(t)),
        lambda m, p: m.cross_entropy_forward(p(loss), p(lse), p(np.zeros((3, 8)))[:, ::2], p(t)),
    ]
    for c in cases:
        with pytest.raises(ValueError) as cpu_error:
            c(_C, lambda a: a)
        with pytest.raises(ValueError) as gpu_error:
            c(K, gpu.put)
        assert str(gpu_error.value) == str(cpu_error.value)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_functional_cross_entropy_on_the_gpu_path(gpu, rng, reduction):
    """nn.functional.cross_entropy with (N, C, d) input (moved to rows), a non-contiguous input, weights,
    ignore_index and label smoothing: forward and backward as on the CPU."""
    import nerve
    import nerve.nn.functional as F
    x = rng.standard_normal((4, 6, 5)).astype(np.float32)  # (N, C, d)
    t = rng.integers(0, 6, (4, 5))
    t[0, 0] = 3
    w = rng.uniform(0.5, 2, 6).astype(np.float32)
    kw = dict(weight=None, ignore_index=3, reduction=reduction, label_smoothing=0.1)
    ref = nerve.tensor(x, requires_grad=True)
    ref_loss = F.cross_entropy(ref, nerve.tensor(t), **kw)
    ref_loss.sum().backward()
    with gpu.routed():
        xt = gpu.tensor(x, requires_grad=True)
        loss = F.cross_entropy(xt, gpu.tensor(t), **kw)
        loss.sum().backward()
        got, got_grad = gpu.get(loss.array), gpu.get(xt.grad.array)
        # weighted, on a transposed (non-contiguous) logits view
        xw = gpu.tensor(x.transpose(0, 2, 1).copy(), requires_grad=True)
        lw = F.cross_entropy(xw.permute(0, 2, 1), gpu.tensor(t), weight=gpu.tensor(w), reduction=reduction)
        got_w = gpu.get(lw.array)
    np.testing.assert_allclose(got, ref_loss.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_grad, ref.grad.numpy(), rtol=1e-5, atol=1e-6)
    ref_w = F.cross_entropy(nerve.tensor(x), nerve.tensor(t), weight=nerve.tensor(w), reduction=reduction)
    np.testing.assert_allclose(got_w, ref_w.numpy(), rtol=1e-5, atol=1e-6)


def test_zero_size_batch(gpu):
    import nerve
    import nerve.nn.functional as F
    with gpu.routed():
        loss = F.cross_entropy(gpu.tensor(np.zeros((0, 4), np.float32)), gpu.tensor(np.zeros(0, np.int64)),
                               reduction="sum")
        assert float(gpu.get(loss.array)) == 0.0
    assert nerve  # imported for the tensor type
