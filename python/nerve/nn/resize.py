"""Upsample, PixelShuffle / PixelUnshuffle and the padding layers (functional forms in nn.functional)."""
from nerve.nn import functional as F
from nerve.nn.module import Module


class Upsample(Module):
    """F.interpolate as a layer: size or scale_factor, mode 'nearest' (default), 'bilinear', ..."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size, self.mode, self.align_corners = size, mode, align_corners
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) else scale_factor
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self):
        what = f"scale_factor={self.scale_factor}" if self.scale_factor is not None else f"size={self.size}"
        return f"{what}, mode='{self.mode}'"


class UpsamplingNearest2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear with align_corners=True, as PyTorch's."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input):
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input):
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"


class _Pad(Module):
    _mode, _dims = "constant", 2

    def __init__(self, padding, value=0.0):
        super().__init__()
        self.padding = (int(padding),) * (2 * self._dims) if isinstance(padding, int) else tuple(padding)
        if len(self.padding) != 2 * self._dims:
            raise ValueError(f"{type(self).__name__}: padding expected an int or {2 * self._dims} ints, got "
                             f"{padding!r}")
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, self._mode, self.value if self._mode == "constant" else None)

    def extra_repr(self):
        return f"{self.padding}" + (f", value={self.value}" if self._mode == "constant" else "")


class ConstantPad1d(_Pad):
    _dims = 1


class ConstantPad2d(_Pad):
    _dims = 2


class ZeroPad2d(_Pad):
    def __init__(self, padding):
        super().__init__(padding, 0.0)


class ReflectionPad1d(_Pad):
    _mode, _dims = "reflect", 1


class ReflectionPad2d(_Pad):
    _mode, _dims = "reflect", 2


class ReplicationPad1d(_Pad):
    _mode, _dims = "replicate", 1


class ReplicationPad2d(_Pad):
    _mode, _dims = "replicate", 2


class CircularPad2d(_Pad):
    _mode, _dims = "circular", 2
