"""layer_norm as a differentiable op (fused native kernel), float64 gradchecks."""
import numpy as np
import pytest

import nerve
import nerve.nn.functional as F
from nerve.testing import gradcheck


def test_layer_norm_op(rng):
    x, w, b = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    assert gradcheck(lambda x, w, b: F.layer_norm(x, (4, 5), w, b), [x, w, b])
    assert gradcheck(lambda x: F.layer_norm(x, 5), [x])
    y = F.layer_norm(nerve.tensor(x), (5,)).numpy()
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-12)
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(4,\) does not match the trailing dims"):
        F.layer_norm(nerve.tensor(x), 4)
    with pytest.raises(ValueError, match=r"layer_norm: argument 'weight' expected shape \(5,\), got \(4,\)"):
        F.layer_norm(nerve.tensor(x), 5, nerve.tensor(np.ones(4)))
