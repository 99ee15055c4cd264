"""Elementwise ops: forward vs NumPy (float64 and float32) and gradcheck, with
broadcasting, odd sizes and non-contiguous inputs."""
import numpy as np
import pytest

import nerve
from nerve.testing import check_op, gradcheck

BROADCAST = [
    [(7,), (7,)],
    [(3, 7), (7,)],
    [(3, 1), (1, 7)],
    [(1,), (3, 17)],
    [(2, 3, 1), (3, 7)],
    [(), (3, 3)],
]


@pytest.mark.parametrize("shapes", BROADCAST)
@pytest.mark.parametrize("name, fn, ref", [
    ("add", lambda a, b: a + b, np.add),
    ("sub", lambda a, b: a - b, np.subtract),
    ("mul", lambda a, b: a * b, np.multiply),
    ("maximum", lambda a, b: nerve.maximum(a, b), np.maximum),
    ("minimum", lambda a, b: nerve.minimum(a, b), np.minimum),
])
def test_binary_broadcast(name, fn, ref, shapes, device):
    check_op(fn, ref, shapes, device=device)


@pytest.mark.parametrize("shapes", BROADCAST)
def test_div_broadcast(shapes):
    # Denominators away from zero: uniform in [0.5, 2) with a random sign.
    check_op(lambda a, b: a / (b.abs() + 0.5), lambda a, b: a / (np.abs(b) + 0.5), shapes)


@pytest.mark.parametrize("shapes", [[(7,), (7,)], [(3, 1), (1, 7)], [(3, 3), ()]])
def test_pow_tensor_tensor(shapes):
    check_op(lambda a, b: a ** b, np.power, shapes, low=0.5, high=2.0)


@pytest.mark.parametrize("p", [2, 3, 0.5, -1.5, 0, 1])
def test_pow_scalar(p):
    check_op(lambda x: x ** p, lambda x: x ** p, [(3, 7)], low=0.5, high=2.0)


def test_rpow_and_reflected_ops():
    check_op(lambda x: 2.0 ** x, lambda x: 2.0 ** x, [(17,)])
    check_op(lambda x: 3 - x, lambda x: 3 - x, [(3, 7)])
    check_op(lambda x: 3 / (x.abs() + 1), lambda x: 3 / (np.abs(x) + 1), [(3, 7)])
    check_op(lambda x: 1.5 * x + 2, lambda x: 1.5 * x + 2, [(1,)])


@pytest.mark.parametrize("name, fn, ref, low, high", [
    ("exp", lambda x: x.exp(), np.exp, -2, 2),
    ("log", lambda x: x.log(), np.log, 0.5, 3),
    ("log1p", lambda x: x.log1p(), np.log1p, -0.5, 3),
    ("sqrt", lambda x: x.sqrt(), np.sqrt, 0.5, 3),
    ("rsqrt", lambda x: x.rsqrt(), lambda x: 1 / np.sqrt(x), 0.5, 3),
    ("abs", lambda x: x.abs(), np.abs, -2, 2),
    ("neg", lambda x: -x, np.negative, -2, 2),
    ("sin", lambda x: x.sin(), np.sin, -3, 3),
    ("cos", lambda x: x.cos(), np.cos, -3, 3),
    ("square", lambda x: x.square(), np.square, -2, 2),
    ("reciprocal", lambda x: x.reciprocal(), np.reciprocal, 0.5, 2),
    ("free exp", nerve.exp, np.exp, -2, 2),
    ("free log", nerve.log, np.log, 0.5, 3),
    ("free sqrt", nerve.sqrt, np.sqrt, 0.5, 3),
    ("free abs", nerve.abs, np.abs, -2, 2),
])
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 17), (2, 3, 7)])
def test_unary(name, fn, ref, low, high, shape, device):
    check_op(fn, ref, [shape], low=low, high=high, device=device)


@pytest.mark.parametrize("lo, hi", [(-0.5, 0.5), (None, 0.3), (-0.3, None)])
def test_clamp(lo, hi):
    check_op(lambda x: x.clamp(lo, hi), lambda x: np.clip(x, lo, hi), [(3, 17)])
    check_op(lambda x: nerve.clamp(x, min=lo, max=hi), lambda x: np.clip(x, lo, hi), [(7,)])


def test_clamp_needs_a_bound():
    with pytest.raises(ValueError, match="clamp: at least one"):
        nerve.ones(3).clamp()


@pytest.mark.parametrize("shapes", [[(3, 7), (3, 7)], [(3, 1), (1, 7)], [(7,), (3, 1)]])
def test_where(shapes, rng):
    full = np.broadcast_shapes(*shapes)
    cond = rng.random(full) > 0.5
    check_op(lambda a, b: nerve.where(nerve.tensor(cond), a, b), lambda a, b: np.where(cond, a, b), shapes)


def test_where_with_scalars_and_promotion():
    x = nerve.tensor([1.0, -2.0, 3.0])
    np.testing.assert_array_equal(nerve.where(x > 0, x, 0.0).numpy(), [1, 0, 3])
    np.testing.assert_array_equal(nerve.where(x > 0, 1.0, 0.0).numpy(), [1, 0, 1])
    assert nerve.where(x > 0, nerve.tensor([1, 2, 3]), x).dtype == nerve.float32
    idx = nerve.where(x > 0)
    np.testing.assert_array_equal(idx[0].numpy(), [0, 2])


@pytest.mark.parametrize("op, ref", [
    ("eq", np.equal), ("ne", np.not_equal), ("lt", np.less), ("le", np.less_equal),
    ("gt", np.greater), ("ge", np.greater_equal),
])
def test_comparisons(op, ref, rng):
    a = rng.integers(0, 3, (3, 7)).astype(np.float32)
    b = rng.integers(0, 3, (7,)).astype(np.float32)
    out = getattr(nerve.tensor(a), op)(nerve.tensor(b))
    assert out.dtype == nerve.bool
    np.testing.assert_array_equal(out.numpy(), ref(a, b))
    np.testing.assert_array_equal(getattr(nerve, op)(nerve.tensor(a), 1.0).numpy(), ref(a, 1.0))
    assert not out.requires_grad


def test_comparison_operators_and_logic():
    a = nerve.tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert (a > 1).tolist() == [False, True, True]
    assert (a <= 2).tolist() == [True, True, False]
    assert (a == 2).tolist() == [False, True, False]
    assert (a != 2).tolist() == [True, False, True]
    m = (a > 1) & (a < 3)
    assert m.tolist() == [False, True, False]
    assert ((a > 2) | (a < 2)).tolist() == [True, False, True]
    assert (~m).tolist() == [True, False, True]
    assert (a == None) is False  # noqa: E711 (PyTorch returns False, not a tensor)


def test_gradient_flows_through_both_sides_of_self_op():
    assert gradcheck(lambda x: x * x + x / (x.abs() + 1) - x, [np.random.default_rng(0).standard_normal(7)])


def test_dtype_promotion_rules():
    i = nerve.tensor([1, 2, 3])
    f = nerve.tensor([0.5, 0.5, 0.5])
    assert (i + 1).dtype == nerve.int64
    assert (i + 1.5).dtype == nerve.float32
    assert (i + f).dtype == nerve.float32
    assert (i / 2).dtype == nerve.float32
    assert (f.double() + f).dtype == nerve.float64
    assert (f * 2).dtype == nerve.float32  # a Python float does not promote float32
    assert (f * np.float64(2)).dtype == nerve.float32
    scalar64 = nerve.tensor(2.0, dtype=nerve.float64)
    assert (f * scalar64).dtype == nerve.float32 and (scalar64 - f).dtype == nerve.float32  # 0-d does not promote
    assert (f.double() * nerve.tensor(2.0)).dtype == nerve.float64
    assert (nerve.tensor([1.0, 2.0], dtype=nerve.float64) + f[:2]).dtype == nerve.float64
    assert (i.int() + nerve.tensor(1)).dtype == nerve.int32
    x = nerve.ones(3, requires_grad=True)
    w = nerve.tensor(3.0, dtype=nerve.float64, requires_grad=True)
    (x * w).sum().backward()
    assert w.grad.dtype == nerve.float64 and w.grad.item() == 3 and x.grad.tolist() == [3, 3, 3]
    np.testing.assert_array_equal((i // 2).numpy(), [0, 1, 1])
    np.testing.assert_array_equal((i % 2).numpy(), [1, 0, 1])


def test_numpy_on_the_left_gives_a_tensor():
    x = nerve.ones(3)
    assert isinstance(np.float32(2) * x, nerve.Tensor)
    assert isinstance(np.ones(3) + x, nerve.Tensor)


def test_mixed_device_error_names_op():
    x = nerve.ones(2)
    assert nerve.add(x, x, alpha=2).tolist() == [3.0, 3.0]
    assert nerve.sub(x, x, alpha=2).tolist() == [-1.0, -1.0]
