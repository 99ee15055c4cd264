"""Linear, Identity, Flatten, Unflatten."""
import numpy as np
import pytest

import nerve
from nerve import nn


@pytest.mark.parametrize("dtype", [nerve.float64, nerve.int64, nerve.int32])
def test_linear_refuses_another_dtype_like_conv_and_lstm(dtype):
    """A float32 Linear silently promoted a float64 or int input while Conv2d and LSTM raise; PyTorch
    raises a RuntimeError. The error is also a ValueError, as nerve's argument checks are."""
    layer = nn.Linear(3, 2)
    x = nerve.ones(4, 3, dtype=dtype)
    with pytest.raises(RuntimeError, match=f"linear: argument 'input' has dtype {np.dtype(dtype)} but the weight "
                                           "float32"):
        layer(x)
    with pytest.raises(ValueError):
        layer(x)
    assert layer(x.to(nerve.float32)).dtype == np.float32
    assert layer.double()(nerve.ones(4, 3, dtype=nerve.float64)).dtype == np.float64


def test_linear_matches_numpy(rng):
    layer = nn.Linear(5, 3).double()
    x = rng.standard_normal((2, 4, 5))
    want = x @ layer.weight.detach().numpy().T + layer.bias.detach().numpy()
    np.testing.assert_allclose(layer(nerve.tensor(x)).detach().numpy(), want, rtol=1e-12)
