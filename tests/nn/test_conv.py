"""Conv layers: PyTorch names, shapes, init; a small CNN trains."""
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


def test_small_cnn_trains_one_step():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 4, 3, groups=4), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    x = nerve.randn(3, 1, 8, 8)
    loss = (model(x) ** 2).mean()
    loss.backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())
