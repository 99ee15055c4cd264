"""F.interpolate / nn.Upsample against a direct float64 NumPy reference (PyTorch's coordinate
rules written out per output pixel), with gradients; PixelShuffle / PixelUnshuffle."""
import math

import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.nn import functional as F
from nerve.testing import check_op


def _src_nearest(j, n, m, scale, exact):
    s = n / m if scale is None else 1 / scale
    return min(int(math.floor((j + 0.5 if exact else j) * s)), n - 1)


def _src_linear(j, n, m, scale, align_corners):
    """(i0, i1, t): output j reads (1 - t) x[i0] + t x[i1]."""
    if align_corners:
        x = j * (n - 1) / (m - 1) if m > 1 else 0.0
    else:
        s = n / m if scale is None else 1 / scale
        x = max((j + 0.5) * s - 0.5, 0.0)
    i0 = min(int(math.floor(x)), n - 1)
    return i0, min(i0 + 1, n - 1), x - i0


def _np_interpolate(x, size, mode, align_corners=False, scales=None):
    """Loop over the spatial axes, one output position at a time."""
    scales = scales or (None,) * len(size)
    for k, (m, scale) in enumerate(zip(size, scales)):
        axis = 2 + k
        n = x.shape[axis]
        xs = np.moveaxis(x, axis, 0)
        out = np.empty((m,) + xs.shape[1:], dtype=x.dtype)
        for j in range(m):
            if mode.startswith("nearest"):
                out[j] = xs[_src_nearest(j, n, m, scale, mode == "nearest-exact")]
            else:
                i0, i1, t = _src_linear(j, n, m, scale, align_corners)
                out[j] = (1 - t) * xs[i0] + t * xs[i1]
        x = np.moveaxis(out, 0, axis)
    return x


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear"])
@pytest.mark.parametrize("size", [(7, 9), (3, 2), (1, 1), (5, 4)])
@pytest.mark.parametrize("align_corners", [False, True])
def test_interpolate_to_size(mode, size, align_corners):
    if mode != "bilinear" and align_corners:
        pytest.skip("align_corners is for the linear modes")
    ac = align_corners if mode == "bilinear" else None
    check_op(lambda x: F.interpolate(x, size=size, mode=mode, align_corners=ac),
             lambda x: _np_interpolate(x, size, mode, align_corners), [(2, 3, 5, 4)])


@pytest.mark.parametrize("mode,shape,factor", [("nearest", (1, 2, 3, 5), 2), ("bilinear", (2, 1, 4, 3), (1.5, 2.5)),
                                               ("linear", (2, 3, 5), 2.5), ("trilinear", (1, 2, 2, 3, 4), 2),
                                               ("nearest", (1, 1, 6, 7), 0.5)])
def test_interpolate_by_scale_factor(mode, shape, factor):
    """Output floor(n * factor); coordinates use 1 / factor (PyTorch's rule without recompute_scale_factor)."""
    spatial = len(shape) - 2
    factors = factor if isinstance(factor, tuple) else (factor,) * spatial
    size = tuple(int(math.floor(n * f)) for n, f in zip(shape[2:], factors))
    check_op(lambda x: F.interpolate(x, scale_factor=factor, mode=mode),
             lambda x: _np_interpolate(x, size, mode, False, factors), [shape])
    check_op(lambda x: F.interpolate(x, scale_factor=factor, mode=mode, recompute_scale_factor=True),
             lambda x: _np_interpolate(x, size, mode, False), [shape])


def test_interpolate_area_is_adaptive_average(rng):
    """'area': output i averages input positions floor(i n / m) .. ceil((i + 1) n / m) - 1."""
    def ref(x, size):
        out = x
        for k, m in enumerate(size):
            axis, n = 2 + k, out.shape[2 + k]
            parts = [np.take(out, range(i * n // m, -(-(i + 1) * n // m)), axis=axis).mean(axis=axis, keepdims=True)
                     for i in range(m)]
            out = np.concatenate(parts, axis=axis)
        return out
    check_op(lambda x: F.interpolate(x, size=(3, 2), mode="area"), lambda x: ref(x, (3, 2)), [(2, 3, 7, 5)])


def test_upsample_layers(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    np.testing.assert_allclose(nn.Upsample(scale_factor=2)(nerve.tensor(x)).numpy(), x.repeat(2, 2).repeat(2, 3))
    bilinear = nn.UpsamplingBilinear2d(size=(7, 6))(nerve.tensor(x)).numpy()
    np.testing.assert_allclose(bilinear, _np_interpolate(x, (7, 6), "bilinear", True))
    assert bilinear[..., 0, 0].tolist() == x[..., 0, 0].tolist()  # align_corners keeps the corners
    assert "scale_factor=2.0, mode='nearest'" in repr(nn.Upsample(scale_factor=2))


def test_interpolate_errors():
    x = nerve.ones(1, 1, 4, 4)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(x)
    with pytest.raises(NotImplementedError, match="mode 'bicubic' is not supported"):
        F.interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match="'linear' expects a 3-D input"):
        F.interpolate(x, scale_factor=2, mode="linear")


def _np_pixel_shuffle(x, r):
    n, c, h, w = x.shape
    out = np.empty((n, c // (r * r), h * r, w * r), dtype=x.dtype)
    for k in range(c // (r * r)):
        for i in range(r):
            for j in range(r):
                out[:, k, i::r, j::r] = x[:, k * r * r + i * r + j]
    return out


def test_pixel_shuffle_and_unshuffle():
    check_op(lambda x: F.pixel_shuffle(x, 2), lambda x: _np_pixel_shuffle(x, 2), [(2, 8, 3, 5)])
    check_op(lambda x: nn.PixelShuffle(3)(x), lambda x: _np_pixel_shuffle(x, 3), [(1, 9, 2, 2)])
    x = nerve.randn(2, 3, 4, 6)
    assert nn.PixelUnshuffle(2)(x).shape == (2, 12, 2, 3)
    np.testing.assert_array_equal(F.pixel_shuffle(F.pixel_unshuffle(x, 2), 2).numpy(), x.numpy())
    with pytest.raises(ValueError, match="divisible by upscale_factor"):
        F.pixel_shuffle(nerve.ones(1, 3, 2, 2), 2)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_interpolate_on_device(mode, device):
    check_op(lambda x: F.interpolate(x, size=(7, 3), mode=mode), lambda x: _np_interpolate(x, (7, 3), mode),
             [(2, 3, 5, 4)], device=device)
