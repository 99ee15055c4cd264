"""Conv, pooling and batch norm layers: PyTorch names, shapes, init, train/eval behaviour."""
import math

import numpy as np
import pytest

import nerve
from nerve import nn


def test_conv_layers_parameters_and_init():
    c = nn.Conv2d(6, 8, 3, padding=1, groups=2)
    assert [(n, p.shape) for n, p in c.named_parameters()] == [("weight", (8, 3, 3, 3)), ("bias", (8,))]
    bound = 1 / math.sqrt(3 * 9)
    assert np.abs(c.weight.detach().numpy()).max() <= bound and np.abs(c.bias.detach().numpy()).max() <= bound
    assert np.abs(c.weight.detach().numpy()).max() > 0.5 * bound
    assert c(nerve.randn(2, 6, 5, 5)).shape == (2, 8, 5, 5)
    t = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, bias=False)
    assert t.weight.shape == (4, 3, 3, 3) and t.bias is None
    assert t(nerve.randn(1, 4, 5, 5)).shape == (1, 6, 10, 10)
    c1 = nn.Conv1d(3, 5, 4, stride=2)
    assert c1.weight.shape == (5, 3, 4) and c1(nerve.randn(2, 3, 11)).shape == (2, 5, 4)
    assert "kernel_size=(3, 3)" in repr(c) and "groups=2" in repr(c)
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_pool_layers():
    x = nerve.randn(2, 3, 8, 8)
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 4, 4)
    out, idx = nn.MaxPool2d(3, 2, 1, return_indices=True, ceil_mode=True)(x)
    assert out.shape == idx.shape == (2, 3, 5, 5)  # ceil((8 + 2 - 3) / 2) + 1
    assert nn.AvgPool2d(3, 1, 1)(x).shape == (2, 3, 8, 8)
    assert nn.AdaptiveAvgPool2d((1, 1))(x).shape == (2, 3, 1, 1)


def test_batch_norm_train_eval_and_state_dict(rng):
    bn = nn.BatchNorm2d(3).double()
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    x = rng.standard_normal((4, 3, 5, 5)) * 2 + 1
    y = bn(nerve.tensor(x))
    np.testing.assert_allclose(y.detach().numpy().mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-10)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-10)
    assert int(bn.num_batches_tracked.item()) == 1
    bn.eval()
    y = bn(nerve.tensor(x))
    rm, rv = bn.running_mean.numpy()[:, None, None], bn.running_var.numpy()[:, None, None]
    np.testing.assert_allclose(y.detach().numpy(), (x - rm) / np.sqrt(rv + 1e-5), rtol=1e-10)
    with pytest.raises(ValueError, match="expected 4D input \\(got 3D input\\)"):
        bn(nerve.randn(2, 3, 4))


def test_batch_norm1d_cumulative_momentum_and_no_tracking(rng):
    bn = nn.BatchNorm1d(2, momentum=None).double()
    xs = [rng.standard_normal((5, 2)) for _ in range(3)]
    for x in xs:
        bn(nerve.tensor(x))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([x.mean(axis=0) for x in xs], axis=0), rtol=1e-10)
    free = nn.BatchNorm1d(2, affine=False, track_running_stats=False).double().eval()
    assert free.running_mean is None and list(free.parameters()) == []
    y = free(nerve.tensor(xs[0]))
    np.testing.assert_allclose(y.detach().numpy().mean(axis=0), 0, atol=1e-12)


def test_small_cnn_trains_one_step():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 4, 3, groups=4), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    x = nerve.randn(3, 1, 8, 8)
    loss = (model(x) ** 2).mean()
    loss.backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())
