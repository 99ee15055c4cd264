"""GroupNorm, InstanceNorm and F.normalize against float64 NumPy references, with gradients."""
import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.nn import functional as F
from nerve.testing import check_op, gradcheck


def _np_group_norm(x, groups, weight=None, bias=None, eps=1e-5):
    n, c = x.shape[:2]
    g = x.reshape(n, groups, -1)
    y = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + eps)).reshape(x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


@pytest.mark.parametrize("shape,groups", [((2, 6, 3, 3), 3), ((3, 4, 7), 1), ((1, 4, 2, 5), 4), ((2, 6), 2)])
def test_group_norm(shape, groups):
    c = shape[1]
    check_op(lambda x, w, b: F.group_norm(x, groups, w, b), lambda x, w, b: _np_group_norm(x, groups, w, b),
             [shape, (c,), (c,)])
    layer = nn.GroupNorm(groups, c)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert layer.weight.tolist() == [1.0] * c and layer.bias.tolist() == [0.0] * c


def test_group_norm_errors():
    with pytest.raises(ValueError, match="divisible by num_groups"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match="divisible by num_groups"):
        F.group_norm(nerve.ones(2, 6, 3), 4)


def _np_instance_norm(x, eps=1e-5):
    axes = tuple(range(2, x.ndim))
    return (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)


@pytest.mark.parametrize("cls,shape", [(nn.InstanceNorm1d, (2, 3, 7)), (nn.InstanceNorm2d, (2, 3, 4, 5)),
                                       (nn.InstanceNorm3d, (1, 2, 3, 3, 2))])
def test_instance_norm(cls, shape):
    check_op(lambda x: cls(shape[1])(x), _np_instance_norm, [shape])
    affine = cls(shape[1], affine=True).double()
    x = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_allclose(affine(nerve.tensor(x)).detach().numpy(), _np_instance_norm(x), rtol=1e-10)
    assert cls(shape[1])(nerve.randn(*shape[1:])).shape == shape[1:]  # unbatched


def test_instance_norm_running_stats(rng):
    """track_running_stats: running mean/var move by momentum toward the batch mean of the instances'
    means and unbiased variances; eval mode normalizes with them."""
    layer = nn.InstanceNorm2d(3, track_running_stats=True, momentum=0.2).double()
    x = rng.standard_normal((4, 3, 5, 6)) * 2 + 1
    layer(nerve.tensor(x))
    m = 30
    mean = x.mean(axis=(2, 3)).mean(0)
    var = (x.var(axis=(2, 3)) * m / (m - 1)).mean(0)
    np.testing.assert_allclose(layer.running_mean.numpy(), 0.2 * mean, rtol=1e-12)
    np.testing.assert_allclose(layer.running_var.numpy(), 0.8 + 0.2 * var, rtol=1e-12)
    assert int(layer.num_batches_tracked.item()) == 1
    layer.eval()
    rm, rv = layer.running_mean.numpy(), layer.running_var.numpy()
    want = (x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-5)
    np.testing.assert_allclose(layer(nerve.tensor(x)).numpy(), want, rtol=1e-10)
    assert list(layer.state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]


@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, -1), (3.0, 0)])
def test_normalize(p, dim):
    def ref(x):
        n = (np.abs(x) ** p).sum(axis=dim, keepdims=True) ** (1 / p)
        return x / np.maximum(n, 1e-12)
    check_op(lambda x: F.normalize(x, p, dim), ref, [(3, 4, 2)])
    check_op(lambda x: F.normalize(x, p, dim, eps=10.0), lambda x: x / 10.0, [(3, 4, 2)])  # norms below eps


def test_normalize_zero_vector_is_finite():
    """A zero vector divides by eps: output 0, gradient 1 / eps (finite, no nan), as PyTorch's."""
    x = nerve.zeros(2, 3, dtype=nerve.float64, requires_grad=True)
    y = F.normalize(x, dim=1)
    y.sum().backward()
    assert y.tolist() == [[0.0] * 3] * 2
    np.testing.assert_allclose(x.grad.numpy(), 1e12)
    assert gradcheck(lambda t: F.normalize(t, dim=0), [np.array([[3.0, 0.5], [4.0, -1.0]])])
