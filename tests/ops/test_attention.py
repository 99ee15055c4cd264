"""scaled_dot_product_attention as a differentiable op (nerve.nn.functional),
checked by float64 finite differences and a NumPy reference."""
import numpy as np
import pytest

import nerve
import nerve.nn.functional as F
from nerve.testing import gradcheck



def reference(q, k, v, mask=None, causal=False):
    """float64 softmax(q k^T / sqrt(D) + mask) v; rows with every key masked give 0."""
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    m = s.max(-1, keepdims=True)
    p = np.exp(s - np.where(np.isfinite(m), m, 0))
    l = p.sum(-1, keepdims=True)
    return (p / np.where(l > 0, l, 1)) @ v, None


def test_sdpa_gradcheck_ranks_and_masks(rng):
    for shape_q, shape_k, mask in [((2, 3, 5, 4), (2, 3, 6, 4), rng.random((5, 6)) > 0.3),
                                   ((3, 5, 4), (3, 7, 4), rng.standard_normal((3, 5, 7))),
                                   ((5, 4), (6, 4), None),
                                   ((2, 1, 2, 3, 4), (2, 1, 2, 6, 4), rng.random((2, 1, 1, 1, 6)) > 0.2)]:
        q, k, v = rng.standard_normal(shape_q), rng.standard_normal(shape_k), rng.standard_normal(shape_k)
        assert gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, mask), [q, k, v])
        assert gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, mask, is_causal=True, scale=0.7),
                         [q, k, v])
        out = F.scaled_dot_product_attention(nerve.tensor(q), nerve.tensor(k), nerve.tensor(v), mask)
        np.testing.assert_allclose(out.numpy(), reference(q, k, v, mask)[0], rtol=1e-12, atol=1e-12)


def test_sdpa_float32_tensor_mask_and_fully_masked_rows(rng):
    q, k, v = (nerve.tensor(rng.standard_normal((2, 2, 4, 8)).astype(np.float32), requires_grad=True)
               for _ in range(3))
    mask = np.ones((4, 4), bool)
    mask[1] = False
    out = F.scaled_dot_product_attention(q, k, v, nerve.tensor(mask))
    assert out.dtype == nerve.float32 and np.all(out.detach().numpy()[:, :, 1] == 0)
    out.sum().backward()
    assert np.all(q.grad.numpy()[:, :, 1] == 0) and np.isfinite(k.grad.numpy()).all()


def test_sdpa_dropout_and_value_dim_paths(rng):
    q, k = rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((2, 3, 6, 4))
    v = rng.standard_normal((2, 3, 6, 3))  # Ev != D: composed path
    mask = rng.random((5, 6)) > 0.3
    mask[2] = False
    out = F.scaled_dot_product_attention(nerve.tensor(q), nerve.tensor(k), nerve.tensor(v), mask, is_causal=True)
    np.testing.assert_allclose(out.numpy(), reference(q, k, v, mask, True)[0], rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, mask), [q, k, v])

    def dropped(a, b, c):
        nerve.manual_seed(3)  # the same dropout mask for every evaluation
        return F.scaled_dot_product_attention(a, b, c, mask, dropout_p=0.4)

    assert gradcheck(dropped, [q, k, rng.standard_normal((2, 3, 6, 4))])
    nerve.manual_seed(0)
    o = F.scaled_dot_product_attention(nerve.tensor(q), nerve.tensor(k), nerve.tensor(k), None, dropout_p=0.5)
    assert o.shape == (2, 3, 5, 4) and np.isfinite(o.numpy()).all()
    assert not np.allclose(o.numpy(), reference(q, k, k)[0])


def test_sdpa_bad_inputs(rng):
    q = nerve.tensor(rng.standard_normal((2, 5, 4)))
    k = nerve.tensor(rng.standard_normal((2, 6, 4)))
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention: expected query \(..., L, D\)"):
        F.scaled_dot_product_attention(q, k[:, :, :3], k)
    with pytest.raises(ValueError, match=r"attn_mask of shape \(4, 6\) does not broadcast to \(2, 5, 6\)"):
        F.scaled_dot_product_attention(q, k, k, np.ones((4, 6), bool))
    with pytest.raises(ValueError, match="dropout_p must be in"):
        F.scaled_dot_product_attention(q, k, k, dropout_p=1.0)
    with pytest.raises(ValueError, match="must have one rank >= 2"):
        F.scaled_dot_product_attention(q[0, 0], k[0, 0], k[0, 0])
