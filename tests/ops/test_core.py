"""Smoke tests of the autograd engine; every op family has its own file."""
import numpy as np
import pytest

import nerve
from nerve.testing import gradcheck


def test_matmul_and_relu_gradcheck(rng):
    a = rng.standard_normal((3, 7))
    b = rng.standard_normal((7, 5))
    assert gradcheck(lambda x, y: (x @ y).relu(), [a, b])


def test_backward_accumulates_and_frees_graph():
    x = nerve.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 4, 6])
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    z = (x * x).sum()
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), [6, 12, 18])


def test_deep_graph_has_no_recursion_limit():
    x = nerve.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 5000], rtol=1e-4)


def test_inplace_change_of_saved_tensor_raises():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y * y
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.sum().backward()


def test_backward_on_non_scalar_needs_gradient():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar outputs"):
        (x * 2).backward()


def test_matmul_shape_mismatch_names_op():
    with pytest.raises(ValueError, match="matmul"):
        nerve.ones(2, 3) @ nerve.ones(2, 3)
