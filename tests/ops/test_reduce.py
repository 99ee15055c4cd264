"""Reductions over dims with keepdim: forward vs NumPy and gradcheck."""
import numpy as np
import pytest

import nerve
from nerve.testing import check_op

CASES = [((7,), None), ((7,), 0), ((3, 17), None), ((3, 17), 1), ((3, 17), -2), ((2, 3, 7), (0, 2)),
         ((2, 3, 7), (-1,)), ((1, 1, 3), 1), ((), None)]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape, dim", CASES)
def test_sum_mean(shape, dim, keepdim, device):
    check_op(lambda x: x.sum(dim, keepdim), lambda x: x.sum(axis=dim, keepdims=keepdim), [shape], device=device)
    check_op(lambda x: x.mean(dim, keepdim), lambda x: x.mean(axis=dim, keepdims=keepdim), [shape], device=device)
    check_op(lambda x: nerve.sum(x, dim, keepdim), lambda x: x.sum(axis=dim, keepdims=keepdim), [shape], grad=False)
    check_op(lambda x: nerve.mean(x, dim, keepdim), lambda x: x.mean(axis=dim, keepdims=keepdim), [shape],
             grad=False)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape, dim", CASES)
def test_amax_amin(shape, dim, keepdim, device):
    check_op(lambda x: x.amax(dim, keepdim), lambda x: x.max(axis=dim, keepdims=keepdim), [shape], device=device)
    check_op(lambda x: x.amin(dim, keepdim), lambda x: x.min(axis=dim, keepdims=keepdim), [shape], device=device)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape, dim", [((7,), 0), ((3, 17), 1), ((3, 17), -2), ((2, 3, 7), 1), ((1,), 0)])
def test_max_min_over_a_dim_return_values_and_indices(shape, dim, keepdim):
    check_op(lambda x: x.max(dim, keepdim).values, lambda x: x.max(axis=dim, keepdims=keepdim), [shape])
    check_op(lambda x: x.min(dim, keepdim)[0], lambda x: x.min(axis=dim, keepdims=keepdim), [shape])
    x = np.random.default_rng(1).standard_normal(shape)
    values, indices = nerve.tensor(x).max(dim, keepdim)
    assert indices.dtype == nerve.int64
    np.testing.assert_array_equal(indices.numpy(), np.argmax(x, axis=dim, keepdims=keepdim))
    np.testing.assert_array_equal(nerve.tensor(x).min(dim, keepdim).indices.numpy(),
                                  np.argmin(x, axis=dim, keepdims=keepdim))
    np.testing.assert_array_equal(nerve.tensor(x).argmax(dim, keepdim).numpy(), np.argmax(x, dim, keepdims=keepdim))
    np.testing.assert_array_equal(nerve.argmin(nerve.tensor(x), dim, keepdim).numpy(),
                                  np.argmin(x, dim, keepdims=keepdim))


def test_max_min_whole_tensor_and_argmax_flat():
    x = np.random.default_rng(2).standard_normal((3, 7))
    t = nerve.tensor(x)
    assert t.max().item() == pytest.approx(x.max())
    assert nerve.min(t).item() == pytest.approx(x.min())
    assert t.argmax().item() == x.argmax() and t.argmin().item() == x.argmin()
    assert t.argmax().ndim == 0


def test_max_ties_share_gradient_and_max_dim_picks_one():
    x = nerve.tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 0.5, 0.5])
    x.grad = None
    x.max(0).values.backward()
    assert x.grad.numpy().sum() == 1 and x.grad.numpy()[0] == 0


def test_max_min_argmax_of_empty_raise_naming_the_dim():
    with pytest.raises(RuntimeError, match=r"max: expected reduction dim 0 to have non-zero size, got shape \(0,\)"):
        nerve.zeros(0).max()
    with pytest.raises(RuntimeError, match="min: expected reduction dim 1 to have non-zero size"):
        nerve.zeros(2, 0).min(1)
    with pytest.raises(RuntimeError, match="amax: expected reduction dim 1"):
        nerve.zeros(2, 0).amax(-1)
    with pytest.raises(RuntimeError, match="argmax: expected reduction dim 0"):
        nerve.zeros(0, 3).argmax(0)
    assert nerve.zeros(0, 3).amax(1).shape == (0,)  # reducing a non-empty dim of an empty tensor is fine


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape, dim", [((7,), None), ((3, 17), 1), ((3, 7), 0), ((2, 3, 7), (0, 2))])
@pytest.mark.parametrize("correction", [1, 0])
def test_var_std(shape, dim, keepdim, correction):
    check_op(lambda x: x.var(dim, keepdim=keepdim, correction=correction),
             lambda x: x.var(axis=dim, keepdims=keepdim, ddof=correction), [shape])
    check_op(lambda x: x.std(dim, keepdim=keepdim, unbiased=bool(correction)),
             lambda x: x.std(axis=dim, keepdims=keepdim, ddof=correction), [shape])
    check_op(lambda x: nerve.std(x, dim, keepdim=keepdim, correction=correction),
             lambda x: x.std(axis=dim, keepdims=keepdim, ddof=correction), [shape], grad=False)


@pytest.mark.parametrize("shape, dim", [((7,), 0), ((3, 17), 1), ((2, 3, 7), (0, 2))])
def test_logsumexp(shape, dim):
    ref = lambda x: np.log(np.exp(x).sum(axis=dim))  # noqa: E731
    check_op(lambda x: x.logsumexp(dim), ref, [shape])
    big = nerve.tensor([1000.0, 1000.0])
    assert big.logsumexp(0).item() == pytest.approx(1000 + np.log(2))


@pytest.mark.parametrize("p", [2, 1, 3, float("inf"), "fro"])
@pytest.mark.parametrize("dim", [None, 1])
def test_norm(p, dim):
    q = 2 if p == "fro" else p
    check_op(lambda x: x.norm(p, dim), lambda x: np.linalg.norm(x, q, axis=dim) if dim is not None
             else np.linalg.norm(x.ravel(), q), [(3, 7)])
    check_op(lambda x: nerve.norm(x, p, dim), lambda x: np.linalg.norm(x, q, axis=dim) if dim is not None
             else np.linalg.norm(x.ravel(), q), [(3, 7)], grad=False)


@pytest.mark.parametrize("p", [2, 3, 1.5, "fro"])
def test_norm_gradient_at_zero_is_zero(p):
    x = nerve.zeros(2, 3, requires_grad=True, dtype=nerve.float64)
    x.norm(p).backward()
    assert x.grad.numpy().tolist() == [[0.0] * 3] * 2
    y = nerve.tensor([[0.0, 0.0], [3.0, 4.0]], requires_grad=True)
    y.norm(p, dim=1).sum().backward()
    assert np.isfinite(y.grad.numpy()).all() and y.grad.numpy()[0].tolist() == [0, 0]
    if p in (2, "fro"):
        np.testing.assert_allclose(y.grad.numpy()[1], [0.6, 0.8], rtol=1e-6)


def test_norm_rejects_bad_p():
    with pytest.raises(ValueError, match="norm: p must be a positive number"):
        nerve.ones(3).norm(-1)


def test_integer_and_bool_reductions():
    i = nerve.tensor([[1, 2, 3], [4, 5, 6]])
    assert i.sum().item() == 21 and i.sum().dtype == nerve.int64
    assert i.sum(0).tolist() == [5, 7, 9]
    assert i.mean().item() == pytest.approx(3.5) and i.mean().dtype == nerve.float32
    assert i.max().item() == 6 and i.argmax().item() == 5
    b = nerve.tensor([True, True, False])
    assert b.sum().item() == 2
    assert b.any().item() and not b.all().item()
    assert i.prod(1).tolist() == [6, 120]
    assert i.float().sum(dtype=nerve.float64).dtype == nerve.float64


def test_reductions_of_empty():
    z = nerve.zeros(0, 3, requires_grad=True)
    s = z.sum(0)
    assert s.tolist() == [0.0, 0.0, 0.0]
    s.sum().backward()
    assert z.grad.shape == (0, 3)


def test_bad_dim_names_range():
    with pytest.raises(IndexError, match="dimension out of range"):
        nerve.ones(2, 3).sum(2)
