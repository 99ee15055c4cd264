"""Autograd through conv2d / conv1d / conv_transpose2d: finite-difference gradchecks in float64."""
import numpy as np
import pytest

import nerve
from nerve.nn import functional as F
from nerve.testing import gradcheck


@pytest.mark.parametrize("N, C, H, W, K, k, stride, padding, dilation, groups", [
    (2, 3, 5, 5, 4, 3, 1, 1, 1, 1),
    (1, 4, 6, 5, 4, 3, 2, 1, 1, 4),
    (2, 4, 5, 4, 6, 1, 1, 0, 1, 2),
    (1, 2, 7, 6, 3, 2, (2, 1), (1, 0), (2, 1), 1),
])
def test_conv2d_gradcheck(rng, N, C, H, W, K, k, stride, padding, dilation, groups):
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((K, C // groups, k, k))
    b = rng.standard_normal(K)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups), [x, w, b])


def test_conv2d_without_bias_and_unbatched(rng):
    x, w = rng.standard_normal((3, 5, 5)), rng.standard_normal((2, 3, 3, 3))
    assert gradcheck(lambda x, w: F.conv2d(x, w, padding="same"), [x, w])
    assert F.conv2d(nerve.tensor(x), nerve.tensor(w), padding="same").shape == (2, 5, 5)


def test_conv1d_gradcheck(rng):
    x, w, b = rng.standard_normal((2, 4, 9)), rng.standard_normal((6, 2, 3)), rng.standard_normal(6)
    assert gradcheck(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2, groups=2), [x, w, b])
    y = F.conv1d(nerve.tensor(x), nerve.tensor(w), nerve.tensor(b), groups=2)
    ref = np.stack([np.einsum("ncl,kc->nkl", x[:, (k // 3) * 2:(k // 3) * 2 + 2, :][..., j:j + 7], w[k:k + 1, :, j])
                    for k in range(6) for j in range(3)]).reshape(6, 3, 2, 1, 7).sum(axis=1)[:, :, 0].transpose(1, 0, 2)
    np.testing.assert_allclose(y.numpy(), ref + b[:, None], rtol=1e-10)


@pytest.mark.parametrize("stride, padding, output_padding, dilation, groups", [
    (2, 1, 1, 1, 1), (1, 0, 0, 2, 2), ((2, 3), (0, 1), (1, 2), 1, 1)])
def test_conv_transpose2d_gradcheck(rng, stride, padding, output_padding, dilation, groups):
    x = rng.standard_normal((2, 4, 3, 4))
    w = rng.standard_normal((4, 6 // groups, 3, 2))
    b = rng.standard_normal(6)
    assert gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation),
                     [x, w, b])


def test_conv2d_float32_and_only_weight_grad(rng):
    x = nerve.tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32))
    w = nerve.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    y = F.conv2d(x, w)
    assert y.dtype == np.float32
    y.sum().backward()
    assert w.grad.shape == (4, 3, 3, 3) and x.grad is None


def test_conv2d_errors_name_op(rng):
    with pytest.raises(ValueError, match="conv2d: expected a 3-D \\(unbatched\\) or 4-D \\(batched\\) input"):
        F.conv2d(nerve.zeros(2, 3), nerve.zeros(1, 1, 1, 1))
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        F.conv2d(nerve.zeros(1, 1, 4, 4), nerve.zeros(1, 1, 3, 3), stride=2, padding="same")
