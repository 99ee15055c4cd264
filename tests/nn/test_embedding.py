"""F.one_hot and embedding's options (max_norm, scale_grad_by_freq) against NumPy."""
import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.nn import functional as F


def test_one_hot():
    idx = np.array([[0, 3], [2, 2]])
    got = F.one_hot(nerve.tensor(idx), 5)
    assert got.dtype == np.int64 and got.shape == (2, 2, 5)
    np.testing.assert_array_equal(got.numpy(), np.eye(5, dtype=np.int64)[idx])
    assert F.one_hot(nerve.tensor([1, 0])).tolist() == [[0, 1], [1, 0]]  # num_classes from the max
    with pytest.raises(ValueError, match="class values must be in"):
        F.one_hot(nerve.tensor([0, 5]), 3)
    with pytest.raises(ValueError, match="integer"):
        F.one_hot(nerve.tensor([0.0, 1.0]))


def test_embedding_max_norm_renormalizes_looked_up_rows(rng):
    w0 = rng.standard_normal((6, 4)) * 3
    layer = nn.Embedding(6, 4, max_norm=1.5, _weight=nerve.tensor(w0))
    idx = np.array([[0, 2], [2, 5]])
    out = layer(nerve.tensor(idx)).detach().numpy()
    norms = np.linalg.norm(w0, axis=1)
    want = w0.copy()
    for r in (0, 2, 5):
        if norms[r] > 1.5:
            want[r] *= 1.5 / (norms[r] + 1e-7)
    np.testing.assert_allclose(layer.weight.detach().numpy(), want, rtol=1e-12)  # in place, looked-up rows only
    np.testing.assert_allclose(out, want[idx], rtol=1e-12)
    assert "max_norm=1.5" in repr(layer)


def test_embedding_scale_grad_by_freq(rng):
    w = nerve.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    idx = np.array([1, 1, 1, 4, 0, 4])
    g = rng.standard_normal((6, 3))
    out = F.embedding(nerve.tensor(idx), w, scale_grad_by_freq=True)
    np.testing.assert_array_equal(out.detach().numpy(), w.detach().numpy()[idx])  # values unchanged
    (out * nerve.tensor(g)).sum().backward()
    want = np.zeros((5, 3))
    counts = np.bincount(idx, minlength=5)
    np.add.at(want, idx, g / counts[idx][:, None])
    np.testing.assert_allclose(w.grad.numpy(), want, rtol=1e-12)


def test_embedding_sparse_is_refused():
    with pytest.raises(NotImplementedError, match="sparse"):
        nn.Embedding(3, 2, sparse=True)
