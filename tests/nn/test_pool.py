"""Pooling layers: PyTorch names and shapes."""
import nerve
from nerve import nn


def test_pool_layers():
    x = nerve.randn(2, 3, 8, 8)
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 4, 4)
    out, idx = nn.MaxPool2d(3, 2, 1, return_indices=True, ceil_mode=True)(x)
    assert out.shape == idx.shape == (2, 3, 5, 5)  # ceil((8 + 2 - 3) / 2) + 1
    assert nn.AvgPool2d(3, 1, 1)(x).shape == (2, 3, 8, 8)
    assert nn.AdaptiveAvgPool2d((1, 1))(x).shape == (2, 3, 1, 1)
