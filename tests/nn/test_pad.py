"""F.pad and the padding layers against np.pad (float64 reference), with gradients."""
import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.nn import functional as F
from nerve.testing import check_op

NP_MODE = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _np_pad(x, pad, mode, value=0.0):
    """PyTorch's pad tuple (last dim first) as np.pad widths; negative constant pads crop."""
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        widths[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    grow = [(max(a, 0), max(b, 0)) for a, b in widths]
    kw = {"constant_values": value} if mode == "constant" else {}
    out = np.pad(x, grow, mode=NP_MODE[mode], **kw)
    crop = tuple(slice(-min(a, 0), out.shape[d] + min(b, 0)) for d, (a, b) in enumerate(widths))
    return out[crop]


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", [((2, 3, 7), (1, 2)), ((1, 2, 5, 4), (2, 1, 3, 0)), ((3, 7, 1, 3), (0, 2, 0, 0)),
                                       ((2, 1, 3, 4, 5), (1, 1, 2, 1, 0, 2))])
def test_pad_matches_numpy(mode, shape, pad):
    if mode == "reflect" and any(p >= n for p, n in zip(pad, np.repeat(shape[::-1], 2))):
        pytest.skip("reflect needs pads smaller than the dim")
    check_op(lambda x: F.pad(x, pad, mode=mode), lambda x: _np_pad(x, pad, mode), [shape])


def test_pad_constant_value_and_cropping():
    check_op(lambda x: F.pad(x, (-1, 2, 1, -2), value=1.5), lambda x: _np_pad(x, (-1, 2, 1, -2), "constant", 1.5),
             [(2, 3, 5, 4)])
    x = nerve.ones(2, 3)
    assert F.pad(x, (0, 0)) is x
    assert F.pad(x, (1, 1, 1, 1), value=2.0).sum().item() == 6 + 2 * (20 - 6)


def test_pad_edge_gradients_accumulate():
    """An edge element copied k times by replicate gets the sum of its k gradients."""
    x = nerve.tensor([1.0, 2.0, 3.0], requires_grad=True)
    F.pad(x.reshape(1, 3), (2, 3), mode="replicate").sum().backward()
    assert x.grad.tolist() == [3.0, 1.0, 4.0]


def test_pad_errors():
    x = nerve.ones(1, 2, 3)
    with pytest.raises(ValueError, match="reflect padding must be smaller"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="mode expected one of"):
        F.pad(x, (1, 1), mode="symmetric")
    with pytest.raises(ValueError, match="padding length must be even"):
        F.pad(x, (1, 1, 1))
    with pytest.raises(ValueError, match="only for mode 'constant'"):
        F.pad(x, (-1, 1), mode="replicate")


@pytest.mark.parametrize("layer,mode,pad", [
    (nn.ZeroPad2d(2), "constant", (2, 2, 2, 2)), (nn.ConstantPad2d((1, 0, 2, 1), 0.0), "constant", (1, 0, 2, 1)),
    (nn.ReflectionPad2d(1), "reflect", (1, 1, 1, 1)), (nn.ReplicationPad2d((0, 1, 2, 3)), "replicate", (0, 1, 2, 3)),
    (nn.CircularPad2d(1), "circular", (1, 1, 1, 1)), (nn.ReflectionPad1d((2, 1)), "reflect", (2, 1)),
])
def test_padding_layers(layer, mode, pad, rng):
    x = rng.standard_normal((2, 3, 4, 5))
    np.testing.assert_allclose(layer(nerve.tensor(x)).numpy(), _np_pad(x, pad, mode))


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_on_device(mode, device):
    check_op(lambda x: F.pad(x, (2, 1, 1, 2), mode=mode), lambda x: _np_pad(x, (2, 1, 1, 2), mode), [(2, 3, 4, 5)],
             device=device)
