"""Autograd through the pooling ops: finite-difference gradchecks in float64."""
import numpy as np
import pytest

import nerve
from nerve.nn import functional as F
from nerve.testing import gradcheck


@pytest.mark.parametrize("k, s, p, d, ceil", [(2, None, 0, 1, False), (3, 2, 1, 1, True), ((3, 2), (1, 2), (1, 0), (2, 1), False)])
def test_max_pool2d_gradcheck(rng, k, s, p, d, ceil):
    x = rng.standard_normal((2, 3, 7, 6))
    assert gradcheck(lambda x: F.max_pool2d(x, k, s, p, d, ceil), [x])


def test_max_pool2d_return_indices_unbatched(rng):
    x = nerve.tensor(rng.standard_normal((3, 4, 4)))
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    assert out.shape == (3, 2, 2) and idx.shape == (3, 2, 2) and idx.dtype == np.int64
    np.testing.assert_array_equal(np.take_along_axis(x.numpy().reshape(3, -1), idx.numpy().reshape(3, -1), 1),
                                  out.numpy().reshape(3, -1))


@pytest.mark.parametrize("k, s, p, ceil, cip, div", [(2, None, 0, False, True, None), (3, 2, 1, True, False, None),
                                                     (3, 2, 1, True, True, 5)])
def test_avg_pool2d_gradcheck(rng, k, s, p, ceil, cip, div):
    x = rng.standard_normal((2, 2, 7, 5))
    assert gradcheck(lambda x: F.avg_pool2d(x, k, s, p, ceil, cip, div), [x])


@pytest.mark.parametrize("size", [(3, 2), 1, (None, 4)])
def test_adaptive_avg_pool2d_gradcheck(rng, size):
    x = rng.standard_normal((2, 2, 5, 7))
    assert gradcheck(lambda x: F.adaptive_avg_pool2d(x, size), [x])
