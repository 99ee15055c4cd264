"""Activations and (log-)softmax: forward vs NumPy and gradcheck."""
import math

import numpy as np
import pytest

import nerve
from nerve.testing import check_op

_erf = np.vectorize(math.erf)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def _log_softmax(x, dim):
    s = x - x.max(axis=dim, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=dim, keepdims=True))


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


SHAPES = [(1,), (7,), (3, 17), (2, 3, 7)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name, fn, ref", [
    ("relu", lambda x: x.relu(), lambda x: np.maximum(x, 0)),
    ("free relu", nerve.relu, lambda x: np.maximum(x, 0)),
    ("leaky_relu", lambda x: x.leaky_relu(), lambda x: np.where(x > 0, x, 0.01 * x)),
    ("leaky_relu 0.2", lambda x: x.leaky_relu(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    ("sigmoid", lambda x: x.sigmoid(), _sigmoid),
    ("tanh", lambda x: x.tanh(), np.tanh),
    ("gelu", lambda x: x.gelu(), lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2)))),
    ("gelu tanh", lambda x: x.gelu("tanh"), _gelu_tanh),
    ("silu", lambda x: x.silu(), lambda x: x * _sigmoid(x)),
    ("softplus", lambda x: x.softplus(), lambda x: np.log1p(np.exp(x))),
    ("softplus beta", lambda x: x.softplus(beta=2.0, threshold=1.0),
     lambda x: np.where(2 * x > 1, x, np.log1p(np.exp(2 * x)) / 2)),
])
def test_activation(name, fn, ref, shape, device):
    check_op(fn, ref, [shape], low=-3, high=3, device=device)


@pytest.mark.parametrize("shape, dim", [((7,), 0), ((3, 17), 1), ((3, 17), 0), ((2, 3, 7), -1), ((2, 3, 7), 1),
                                        ((1, 1), -1)])
def test_softmax_and_log_softmax(shape, dim, device):
    check_op(lambda x: x.softmax(dim), lambda x: _softmax(x, dim), [shape], low=-3, high=3, device=device)
    check_op(lambda x: x.log_softmax(dim), lambda x: _log_softmax(x, dim), [shape], low=-3, high=3, device=device)
    check_op(lambda x: nerve.softmax(x, dim), lambda x: _softmax(x, dim), [shape], grad=False)
    check_op(lambda x: nerve.log_softmax(x, dim), lambda x: _log_softmax(x, dim), [shape], grad=False)


def test_softmax_is_stable_for_large_inputs():
    x = nerve.tensor([[1000.0, 1000.0, -1000.0], [-1e4, 0.0, 1e4]])
    s = x.softmax(-1).numpy()
    assert np.isfinite(s).all()
    np.testing.assert_allclose(s, [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], atol=1e-7)
    ls = x.log_softmax(-1).numpy()
    np.testing.assert_allclose(ls[0, :2], [-np.log(2)] * 2, rtol=1e-6)
    assert np.isfinite(ls).all()


def test_sigmoid_tanh_saturate_without_nan():
    x = nerve.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], requires_grad=True)
    y = x.sigmoid() + x.tanh() + x.silu() * 0 + x.softplus() * 0
    y.sum().backward()
    assert np.isfinite(y.detach().numpy()).all()
    assert np.isfinite(x.grad.numpy()).all()
    np.testing.assert_allclose(x.sigmoid().detach().numpy(), [0, 0, 0.5, 1, 1], atol=1e-7)


def test_integer_input_becomes_float():
    x = nerve.tensor([-1, 0, 2])
    assert x.sigmoid().dtype == nerve.float32
    assert x.relu().dtype == nerve.int64
    np.testing.assert_array_equal(x.relu().numpy(), [0, 0, 2])


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="gelu: approximate must be"):
        nerve.ones(2).gelu("fast")
