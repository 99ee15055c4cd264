"""Numerical robustness: extreme inputs stay finite, and float32 reductions
stay within their stated error bounds.

Bounds (u = 2^-24, float32 unit roundoff), from NumPy's reductions that
Tensor.sum/mean use:
- a full reduction, or one over the last (contiguous) axis, uses pairwise
  summation: |error| <= (log2(n) + 16) * u * sum|x| (blocks of 128 summed in
  8 lanes, then pairwise) -- about 2e-6 * sum|x| at n = 10^7;
- a reduction over a leading axis adds rows in order: |error| <= (n - 1) * u
  * sum|x| (Higham's bound for recursive summation); random rounding makes it
  ~sqrt(n) * u in practice (5e-5 relative at n = 2.5 * 10^6).
"""
import math

import numpy as np
import pytest

import nerve
import nerve.nn.functional as F

U32 = 2.0**-24
EXTREME = np.array([[1e4, -1e4, 0.0, 3.0],   # huge spread
                    [7.0, 7.0, 7.0, 7.0],    # constant row
                    [-1e4, -1e4, -1e4, -1e4],  # constant and huge
                    [1e4, 1e4, -3.0, 1e4]])


def t(x, grad=True):
    return nerve.tensor(x, requires_grad=grad)


def a(x):
    return x.detach().numpy()


def log_softmax_ref(x):
    x = np.asarray(x, np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax_extreme_logits(dtype):
    x = t(EXTREME.astype(dtype))
    p = F.softmax(x, dim=1)
    lp = F.log_softmax(x, dim=1)
    ref = log_softmax_ref(EXTREME)
    assert np.isfinite(a(p)).all() and np.isfinite(a(lp)).all()
    np.testing.assert_allclose(a(lp), ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(a(p), np.exp(ref), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(a(p).sum(axis=1), 1.0, rtol=1e-6)
    (p * nerve.tensor(np.arange(4.0, dtype=dtype))).sum().backward()
    (lp[:, 0]).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_softmax_with_minus_inf_masks():
    x = np.array([[-np.inf, 0.0, -np.inf], [1e4, -np.inf, 1e4]], np.float32)
    p = F.softmax(t(x, False), dim=1).numpy()
    np.testing.assert_allclose(p, [[0, 1, 0], [0.5, 0, 0.5]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cross_entropy_extreme_logits(dtype, label_smoothing):
    x = t(EXTREME.astype(dtype))
    target = nerve.tensor(np.array([1, 2, 0, 2]))
    loss = F.cross_entropy(x, target, reduction="none", label_smoothing=label_smoothing)
    ref = log_softmax_ref(EXTREME)
    y = np.full(ref.shape, label_smoothing / 4)
    y[np.arange(4), target.numpy()] += 1 - label_smoothing
    np.testing.assert_allclose(a(loss), -(y * ref).sum(axis=1), rtol=1e-6)
    loss.sum().backward()
    g = x.grad.numpy()
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g, np.exp(ref) - y, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_extreme(dtype):
    z = np.array([1e4, -1e4, 100.0, -100.0, 0.0, 30.0, -30.0])
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 1.0, 0.0])
    x = t(z.astype(dtype))
    loss = F.binary_cross_entropy_with_logits(x, nerve.tensor(y.astype(dtype)), reduction="none")
    ref = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))  # stable softplus form, float64
    np.testing.assert_allclose(a(loss), ref, rtol=1e-6)
    loss.sum().backward()
    g = x.grad.numpy()
    sig = np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))
    np.testing.assert_allclose(g, sig - y, atol=1e-7)


@pytest.mark.parametrize("n", [10**7])
def test_float32_full_sum_within_pairwise_bound(n):
    x = np.random.default_rng(0).uniform(-1, 3, n).astype(np.float32)
    ref, mass = x.astype(np.float64).sum(), np.abs(x).sum(dtype=np.float64)
    bound = (math.log2(n) + 16) * U32 * mass
    got = nerve.from_numpy(x).sum().item()
    assert abs(got - ref) <= bound, (got, ref, bound)
    got_mean = nerve.from_numpy(x).mean().item()
    assert abs(got_mean - ref / n) <= bound / n
    rows = nerve.from_numpy(x.reshape(1000, -1)).sum(dim=1).numpy().astype(np.float64)
    ref_rows = x.reshape(1000, -1).astype(np.float64).sum(axis=1)
    mass_rows = np.abs(x.reshape(1000, -1)).sum(axis=1, dtype=np.float64)
    assert (np.abs(rows - ref_rows) <= (math.log2(n / 1000) + 16) * U32 * mass_rows).all()


def test_float32_leading_axis_sum_within_recursive_bound():
    x = np.random.default_rng(1).uniform(0, 1, (2_500_000, 4)).astype(np.float32)
    n = x.shape[0]
    got = nerve.from_numpy(x).sum(dim=0).numpy().astype(np.float64)
    ref, mass = x.astype(np.float64).sum(axis=0), np.abs(x).sum(axis=0, dtype=np.float64)
    assert (np.abs(got - ref) <= (n - 1) * U32 * mass).all()
    assert (np.abs(got - ref) <= 10 * math.sqrt(n) * U32 * mass).all()  # the typical size, with margin


# ---------------------------------------------------------- layer norm, attention
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_constant_rows_and_large_offsets(dtype):
    rng = np.random.default_rng(0)
    x = np.concatenate([np.full((2, 64), 7.0), 1e4 + rng.standard_normal((3, 64)), 1e4 * rng.standard_normal((1, 64))])
    w, b = rng.standard_normal(64), rng.standard_normal(64)
    xt = t(x.astype(dtype))
    y = F.layer_norm(xt, (64,), t(w.astype(dtype)), t(b.astype(dtype)), eps=1e-5)
    mu, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    ref = (x - mu) / np.sqrt(var + 1e-5) * w + b
    assert np.isfinite(a(y)).all()
    # float32 input rows at 1e4 carry ~1e-3 absolute rounding: a relative 1e-3 of the unit-variance output
    np.testing.assert_allclose(a(y), ref, rtol=1e-3 if dtype == np.float32 else 1e-9, atol=2e-3)
    np.testing.assert_allclose(a(y)[:2], np.broadcast_to(b, (2, 64)), atol=1e-6)  # constant row -> bias
    y.sum().backward()
    assert np.isfinite(xt.grad.numpy()).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_attention_extreme_scores_and_fully_masked_rows(dtype):
    rng = np.random.default_rng(0)
    q = rng.standard_normal((1, 2, 5, 8)) * 100  # scores of order 1e4
    k = rng.standard_normal((1, 2, 6, 8)) * 100
    v = rng.standard_normal((1, 2, 6, 8))
    mask = np.ones((5, 6), bool)
    mask[2] = False  # row 2 sees no key: documented to give zeros
    qt, kt, vt = t(q.astype(dtype)), t(k.astype(dtype)), t(v.astype(dtype))
    out = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=nerve.tensor(mask))
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(8)
    p = np.exp(log_softmax_ref(s))
    ref = p @ v
    ref[:, :, 2] = 0
    o = a(out)
    assert np.isfinite(o).all()
    np.testing.assert_allclose(o, ref, atol=1e-4 if dtype == np.float32 else 1e-9)
    out.sum().backward()
    for g in (qt.grad, kt.grad, vt.grad):
        assert np.isfinite(g.numpy()).all()
