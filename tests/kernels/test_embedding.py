"""Embedding kernel (nerve.kernels.embedding_forward / embedding_backward) against NumPy."""
import numpy as np
import pytest

from nerve import _C, kernels


def reference_backward(g, idx, num, padding_idx=None):
    out = np.zeros((num, g.shape[-1]))
    np.add.at(out, np.asarray(idx).reshape(-1), g.reshape(-1, g.shape[-1]))
    if padding_idx is not None:
        out[padding_idx] = 0
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gather_and_scatter_add(dtype, rng):
    for num in (1, 3, 17):
        for dim in (1, 7, 33):
            for shape in ((0,), (5,), (3, 7), (2, 3, 4)):
                w = rng.standard_normal((num, dim)).astype(dtype)
                idx = rng.integers(0, num, shape)
                out = kernels.embedding_forward(w, idx)
                assert out.shape == shape + (dim,)
                np.testing.assert_array_equal(out, w[idx])
                g = rng.standard_normal(out.shape).astype(dtype)
                for pad in (None, num - 1):
                    want = reference_backward(g.astype(np.float64), idx, num, pad)
                    got = kernels.embedding_backward(g, idx, num, pad)
                    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_many_duplicates_on_many_threads_are_exact_and_deterministic(rng):
    idx = rng.integers(0, 50, 200000)
    g = rng.standard_normal((idx.size, 16))
    a = kernels.embedding_backward(g, idx, 50)
    np.testing.assert_allclose(a, reference_backward(g, idx, 50), rtol=1e-10)
    np.testing.assert_array_equal(a, kernels.embedding_backward(g, idx, 50))


def test_int32_indices_and_views(rng):
    w = rng.standard_normal((9, 4))
    idx = rng.integers(0, 9, (6, 5)).astype(np.int32)
    np.testing.assert_array_equal(kernels.embedding_forward(w, idx.T), w[idx.T])
    np.testing.assert_array_equal(kernels.embedding_forward(w[:, ::2], idx), w[:, ::2][idx])


def test_bad_inputs():
    w = np.zeros((5, 3), np.float32)
    with pytest.raises(ValueError, match=r"embedding_forward: argument 'indices' has value 5 at position 2, expected values in \[0, 5\)"):
        kernels.embedding_forward(w, np.array([0, 1, 5]))
    with pytest.raises(ValueError, match=r"argument 'indices' has value -1 at position 0"):
        kernels.embedding_forward(w, np.array([-1]))
    with pytest.raises(ValueError, match="embedding_backward: argument 'indices' has value 7 at position 1"):
        kernels.embedding_backward(np.zeros((2, 3), np.float32), np.array([0, 7]), 5)
    with pytest.raises(ValueError, match=r"embedding_backward: argument 'padding_idx' expected -1 \(none\) or a row in \[0, 5\), got 9"):
        kernels.embedding_backward(np.zeros((2, 3), np.float32), np.array([0, 1]), 5, 9)
    with pytest.raises(ValueError, match="embedding_forward: argument 'weight' expected dtype float32 or float64, got int64"):
        kernels.embedding_forward(w.astype(np.int64), np.array([0]))
    with pytest.raises(ValueError, match="embedding_forward: argument 'indices' expected dtype int64, got float64"):
        _C.embedding_forward(np.empty((1, 3), np.float32), w, np.array([0.0]))
    with pytest.raises(ValueError, match=r"embedding_forward: argument 'out' expected shape \(n=2, dim=3\), got \(2, 4\)"):
        _C.embedding_forward(np.empty((2, 4), np.float32), w, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"embedding_backward: argument 'grad_out' expected shape \(n=2, dim=3\), got \(3, 3\)"):
        _C.embedding_backward(np.empty((5, 3), np.float32), np.zeros((3, 3), np.float32), np.array([0, 1]))
