"""embedding as a differentiable op (native gather / scatter-add)."""
import numpy as np
import pytest

import nerve
import nerve.nn.functional as F
from nerve.testing import gradcheck


def test_embedding_op(rng):
    w = rng.standard_normal((7, 3))
    idx = nerve.tensor(np.array([[1, 2, 1], [0, 6, 1]]))
    assert gradcheck(lambda w: F.embedding(idx, w), [w])
    t = nerve.tensor(w, requires_grad=True)
    out = F.embedding(idx, t, padding_idx=-6)  # row 1
    np.testing.assert_array_equal(out.detach().numpy(), w[idx.numpy()])
    out.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy()[:, 0], [1, 0, 1, 0, 0, 0, 1])
    with pytest.raises(TypeError, match="embedding: argument 'input' expected an integer tensor"):
        F.embedding(nerve.tensor([0.5]), t)
    with pytest.raises(ValueError, match="has value 7 at position 0"):
        F.embedding(nerve.tensor(np.array([7])), t)
    with pytest.raises(ValueError, match=r"padding_idx must be within \[-7, 7\), got 7"):
        F.embedding(idx, t, padding_idx=7)
