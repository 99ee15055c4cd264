"""Casts, clone, contiguous and device moves: values, dtypes and gradients."""
import numpy as np
import pytest

import nerve
from nerve.testing import check_op, gradcheck


def test_cast_round_trip_gradient():
    check_op(lambda x: x.double().to(x.dtype) * 2, lambda x: x * 2, [(3, 7)])
    x = nerve.ones(3, requires_grad=True)
    y = x.double()
    assert y.dtype == nerve.float64 and y.requires_grad
    (y * 2).sum().backward()
    assert x.grad.dtype == nerve.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2, 2])


@pytest.mark.parametrize("method, dtype", [("float", nerve.float32), ("double", nerve.float64),
                                           ("long", nerve.int64), ("int", nerve.int32), ("bool", nerve.bool),
                                           ("half", nerve.float16)])
def test_cast_methods(method, dtype):
    x = nerve.tensor([[0.0, 1.7], [-2.2, 3.0]], requires_grad=True)
    y = getattr(x, method)()
    assert y.dtype == dtype
    np.testing.assert_array_equal(y.detach().numpy(), x.detach().numpy().astype(dtype))
    assert y.requires_grad == (dtype.kind == "f")  # integer results carry no gradient


def test_type_and_to():
    x = nerve.tensor([1.5, 2.5])
    assert x.type() == "nerve.float32"
    assert x.type(nerve.float64).dtype == nerve.float64
    assert x.type("nerve.int64").dtype == nerve.int64
    assert x.to(nerve.float64).dtype == nerve.float64
    assert x.to("cpu") is x
    assert x.to(dtype=nerve.float32) is x
    assert x.to(nerve.float32, copy=True) is not x
    assert x.to(nerve.zeros(1, dtype=nerve.float64)).dtype == nerve.float64
    assert x.cpu() is x


def test_clone_and_contiguous():
    x = nerve.arange(6.0).reshape(2, 3)
    c = x.clone()
    assert not np.shares_memory(c.numpy(), x.numpy()) and c.equal(x)
    assert x.contiguous() is x
    t = x.T.contiguous()
    assert t.is_contiguous() and not np.shares_memory(t.numpy(), x.numpy())
    np.testing.assert_array_equal(t.numpy(), x.numpy().T)
    assert gradcheck(lambda a: a.T.contiguous() * 3, [np.random.default_rng(1).standard_normal((3, 7))])
    assert gradcheck(lambda a: a.clone() * a, [np.random.default_rng(2).standard_normal((3, 7))])


def test_cuda_move_round_trip(device):
    x = nerve.randn(3, 4, requires_grad=True)
    y = x.to(device)
    assert y.device.type == device
    (y * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 4), 2, np.float32))
