"""Fused attention kernel (nerve.kernels.attention_forward / attention_backward) against
a naive float64 NumPy softmax(q k^T * scale + mask) v."""
import numpy as np
import pytest

from nerve import _C, kernels


def reference(q, k, v, mask=None, causal=False, scale=None):
    """out, lse and the probabilities, float64; fully masked rows give 0 / -inf."""
    q, k, v = (np.asarray(x, np.float64) for x in (q, k, v))
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    L, S = s.shape[-2:]
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    if causal:
        s = np.where(np.tril(np.ones((L, S), bool)), s, -np.inf)
    m = s.max(-1, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0)
    p = np.exp(s - m)
    l = p.sum(-1, keepdims=True)
    p = p / np.where(l > 0, l, 1)
    with np.errstate(divide="ignore"):
        lse = np.where(l[..., 0] > 0, np.log(np.where(l > 0, l, 1))[..., 0] + m[..., 0], -np.inf)
    return p @ v, lse, p


def reference_backward(g, q, k, v, mask=None, causal=False, scale=None):
    q, k, v, g = (np.asarray(x, np.float64) for x in (q, k, v, g))
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    _, _, p = reference(q, k, v, mask, causal, scale)
    dv = np.swapaxes(p, -1, -2) @ g
    dp = g @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))
    return ds @ k * scale, np.swapaxes(ds, -1, -2) @ q * scale, dv


def tol(dtype):
    return dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


def qkv(rng, B, H, L, S, D, dtype):
    return tuple(rng.standard_normal(shape).astype(dtype) for shape in ((B, H, L, D), (B, H, S, D), (B, H, S, D)))


def check(q, k, v, mask=None, causal=False, scale=None, rng=None, grad=True):
    out, lse = kernels.attention_forward(q, k, v, mask, scale, causal)
    r_out, r_lse, _ = reference(q, k, v, mask, causal, scale)
    np.testing.assert_allclose(out, r_out, **tol(q.dtype))
    np.testing.assert_array_equal(np.isinf(lse), np.isinf(r_lse))
    np.testing.assert_allclose(lse[np.isfinite(lse)], r_lse[np.isfinite(r_lse)], **tol(q.dtype))
    if grad:
        g = (rng or np.random.default_rng(1)).standard_normal(out.shape).astype(q.dtype)
        got = kernels.attention_backward(g, q, k, v, out, lse, mask, scale, causal)
        for name, a, b in zip("qkv", got, reference_backward(g, q, k, v, mask, causal, scale)):
            np.testing.assert_allclose(a, b, err_msg=f"d{name}", **tol(q.dtype))
    return out, lse


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_odd_sizes_causal_and_masks(isa, dtype, rng):
    for L in (1, 3, 7, 17, 33):
        for S in (1, 3, 7, 17, 33):
            for D in (1, 8, 17):
                q, k, v = qkv(rng, 2, 3, L, S, D, dtype)
                check(q, k, v, rng=rng)
                check(q, k, v, causal=True, rng=rng)
                check(q, k, v, mask=rng.random((L, S)) > 0.3, rng=rng)
                check(q, k, v, mask=rng.standard_normal((2, 1, 1, S)).astype(dtype), causal=True, rng=rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B,H,L,S,D", [(1, 1, 130, 200, 24), (2, 3, 65, 64, 33), (3, 2, 129, 70, 16), (1, 2, 64, 1, 8)])
def test_multiple_tiles(isa, dtype, B, H, L, S, D, rng):
    # 64 x 64 tiles: tails in both dims; B*H = 1 takes the split-key-tiles backward path.
    q, k, v = qkv(rng, B, H, L, S, D, dtype)
    check(q, k, v, rng=rng)
    check(q, k, v, causal=True, rng=rng)
    check(q, k, v, mask=rng.random((B, 1, L, S)) > 0.5, scale=0.3, rng=rng)


def test_finite_difference_gradients(rng):
    q, k, v = qkv(rng, 1, 2, 5, 7, 3, np.float64)
    mask = rng.standard_normal((5, 7))
    w = rng.standard_normal((1, 2, 5, 3))
    out, lse = kernels.attention_forward(q, k, v, mask, is_causal=True)
    grads = kernels.attention_backward(w, q, k, v, out, lse, mask, is_causal=True)
    eps = 1e-6
    for x, g in zip((q, k, v), grads):
        num = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + eps
            plus = (kernels.attention_forward(q, k, v, mask, is_causal=True)[0] * w).sum()
            x[i] = old - eps
            minus = (kernels.attention_forward(q, k, v, mask, is_causal=True)[0] * w).sum()
            x[i] = old
            num[i] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


def test_mask_broadcasting_and_key_padding(isa, rng):
    B, H, L, S, D = 2, 3, 9, 11, 8
    q, k, v = qkv(rng, B, H, L, S, D, np.float64)
    pad = np.zeros((B, S), bool)
    pad[0, 7:] = True  # True = padding (ignore) as nn.MultiheadAttention's key_padding_mask
    check(q, k, v, mask=~pad[:, None, None, :], rng=rng)
    for shape in [(S,), (L, S), (1, S), (H, L, S), (B, H, L, S), (B, 1, L, 1), (1, H, 1, S)]:
        check(q, k, v, mask=rng.random(shape) > 0.4, rng=rng)
        check(q, k, v, mask=rng.standard_normal(shape), rng=rng)
    # A broadcast view (zero strides) and a non-contiguous mask are read without copies.
    m = np.broadcast_to(rng.random((1, 1, L, S)) > 0.5, (B, H, L, S))
    check(q, k, v, mask=m, rng=rng)
    check(q, k, v, mask=(rng.random((S, L)) > 0.5).T, rng=rng)


def test_fully_masked_rows_give_zero_output_and_grads(isa, rng):
    q, k, v = qkv(rng, 2, 2, 6, 5, 4, np.float32)
    mask = rng.random((6, 5)) > 0.5
    mask[2] = False
    mask[4] = False
    additive = np.where(mask, 0, -np.inf).astype(np.float32)
    for m in (mask, additive):
        out, lse = check(q, k, v, mask=m, rng=rng)
        assert np.all(out[:, :, [2, 4]] == 0) and np.all(np.isneginf(lse[:, :, [2, 4]]))
        dq, dk, dv = kernels.attention_backward(np.ones_like(out), q, k, v, out, lse, m)
        assert np.all(dq[:, :, [2, 4]] == 0) and np.isfinite(dk).all() and np.isfinite(dv).all()
    # No keys at all: every row is fully masked.
    out, lse = kernels.attention_forward(q, k[:, :, :0], v[:, :, :0])
    assert np.all(out == 0) and np.all(np.isneginf(lse))


def test_zero_sizes():
    for B, H, L, S in [(0, 2, 3, 4), (2, 0, 3, 4), (2, 2, 0, 4)]:
        q, k, v = (np.ones(s, np.float32) for s in ((B, H, L, 8), (B, H, S, 8), (B, H, S, 8)))
        out, lse = kernels.attention_forward(q, k, v, np.ones((L, S), bool), is_causal=True)
        assert out.shape == (B, H, L, 8) and lse.shape == (B, H, L)
        dq, dk, dv = kernels.attention_backward(out, q, k, v, out, lse)
        assert dq.shape == q.shape and dk.shape == k.shape and np.all(dk == 0)


def test_extreme_logits_stay_finite(isa, rng):
    for dtype in (np.float32, np.float64):
        q, k, v = qkv(rng, 1, 2, 9, 13, 4, dtype)
        q *= 100
        k *= 100  # logits ~ 1e4: softmax is one-hot, nothing overflows
        out, lse = check(q, k, v, scale=1.0, rng=rng, grad=False)
        assert np.isfinite(out).all() and np.isfinite(lse).all()
        dq, dk, dv = kernels.attention_backward(np.ones_like(out), q, k, v, out, lse, None, 1.0, False)
        assert np.isfinite(dq).all() and np.isfinite(dk).all() and np.isfinite(dv).all()


def test_strided_inputs(isa, rng):
    # (B, L, H, D) projections viewed as (B, H, L, D), and a non-contiguous last dim (copied).
    x = rng.standard_normal((2, 9, 3, 8)).astype(np.float32)
    y = rng.standard_normal((2, 11, 3, 8)).astype(np.float32)
    q, k, v = x.transpose(0, 2, 1, 3), y.transpose(0, 2, 1, 3), y[..., ::-1].transpose(0, 2, 1, 3)
    check(q, k, v, causal=True, rng=rng)
    check(q, k, np.asfortranarray(v), rng=rng)


def test_bad_inputs():
    q = np.zeros((1, 2, 3, 4), np.float32)
    k = np.zeros((1, 2, 5, 4), np.float32)
    out, lse = np.empty_like(q), np.empty((1, 2, 3), np.float32)
    with pytest.raises(ValueError, match="attention_forward: arguments 'q', 'k' and 'v' must share one dtype"):
        kernels.attention_forward(q, k.astype(np.float64), k)
    with pytest.raises(ValueError, match=r"attention_forward: argument 'k' expected shape \(B=1, H=2, S=5, D=4\), got \(1, 2, 5, 3\)"):
        kernels.attention_forward(q, k[..., :3], k)
    with pytest.raises(ValueError, match=r"argument 'v' expected shape \(B=1, H=2, S=5, D=4\), got \(1, 2, 4, 4\)"):
        kernels.attention_forward(q, k, k[:, :, :4])
    with pytest.raises(ValueError, match="argument 'q' expected a 4-D array, got shape"):
        kernels.attention_forward(q[0], k[0], k[0])
    with pytest.raises(ValueError, match=r"argument 'attn_mask' of shape \(4, 5\) does not broadcast to \(B=1, H=2, L=3, S=5\)"):
        kernels.attention_forward(q, k, k, np.ones((4, 5), bool))
    with pytest.raises(ValueError, match="argument 'attn_mask' expected dtype bool or float32 \\(as q\\), got int64"):
        kernels.attention_forward(q, k, k, np.ones((3, 5), np.int64))
    with pytest.raises(ValueError, match="attention_forward: argument 'q' expected dtype float32 or float64, got int32"):
        kernels.attention_forward(q.astype(np.int32), k.astype(np.int32), k.astype(np.int32))
    with pytest.raises(ValueError, match="argument 'scale' must be finite"):
        kernels.attention_forward(q, k, k, scale=np.inf)
    with pytest.raises(ValueError, match=r"argument 'out' expected shape \(B=1, H=2, L=3, D=4\), got \(1, 2, 4, 3\)"):
        _C.attention_forward(np.empty((1, 2, 4, 3), np.float32), lse, q, k, k)
    with pytest.raises(ValueError, match="argument 'out' must be C-contiguous"):
        _C.attention_forward(np.empty((1, 2, 4, 3), np.float32).transpose(0, 1, 3, 2), lse, q, k, k)
    with pytest.raises(ValueError, match="argument 'lse' must be writable"):
        ro = np.empty((1, 2, 3), np.float32)
        ro.flags.writeable = False
        _C.attention_forward(out, ro, q, k, k)
    with pytest.raises(ValueError, match="argument 'q' must have a contiguous last dim"):
        _C.attention_forward(out, lse, np.zeros((1, 2, 3, 8), np.float32)[..., ::2], k, k)
    o, l = kernels.attention_forward(q, k, k)
    with pytest.raises(ValueError, match=r"attention_backward: argument 'lse' expected shape \(B=1, H=2, L=3\), got \(1, 2\)"):
        kernels.attention_backward(o, q, k, k, o, l[..., 0])
    with pytest.raises(ValueError, match=r"attention_backward: argument 'grad_out' expected shape"):
        kernels.attention_backward(o[:, :1], q, k, k, o, l)


def dropout_keep(seed, B, H, L, S, p):
    """NumPy replica of the kernel's counter-based dropout mask (B, H, L, S), see cpu/attention.h."""
    with np.errstate(over="ignore"):
        row = np.arange(B * H * L, dtype=np.uint64)
        z = np.uint64(seed) + row * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        key = (z ^ (z >> np.uint64(31))).astype(np.uint32)
        x = (np.arange(S, dtype=np.uint32) * np.uint32(0x9E3779B1))[None, :] ^ key[:, None]
        x ^= x >> np.uint32(16)
        x *= np.uint32(0x7FEB352D)
        x ^= x >> np.uint32(15)
        x *= np.uint32(0x846CA68B)
        x ^= x >> np.uint32(16)
    return (x >= np.uint32(min(int(p * 2 ** 32), 2 ** 32 - 1))).reshape(B, H, L, S)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_matches_replayed_mask(isa, dtype, rng):
    for B, H, L, S, D, causal in [(2, 3, 17, 33, 8, False), (1, 2, 70, 130, 17, True)]:
        q, k, v = qkv(rng, B, H, L, S, D, dtype)
        mask = rng.random((L, S)) > 0.2
        p, seed = 0.3, 2 ** 63 + 12345
        out, lse = kernels.attention_forward(q, k, v, mask, None, causal, p, seed)
        r_out, r_lse, probs = reference(q, k, v, mask, causal)
        z = dropout_keep(seed, B, H, L, S, p) / (1 - p)
        np.testing.assert_allclose(out, (probs * z) @ v.astype(np.float64), **tol(dtype))
        np.testing.assert_allclose(lse, r_lse, **tol(dtype))  # lse is before dropout
        g = rng.standard_normal(out.shape).astype(dtype)
        dq, dk, dv = kernels.attention_backward(g, q, k, v, out, lse, mask, None, causal, p, seed)
        # Reference: d/d(q,k,v) of sum(g * ((P Z) v)).
        g64, v64 = g.astype(np.float64), v.astype(np.float64)
        scale = 1 / np.sqrt(D)
        np.testing.assert_allclose(dv, np.swapaxes(probs * z, -1, -2) @ g64, **tol(dtype))
        dp = (g64 @ np.swapaxes(v64, -1, -2)) * z
        ds = probs * (dp - (dp * probs).sum(-1, keepdims=True))
        np.testing.assert_allclose(dq, ds @ k.astype(np.float64) * scale, **tol(dtype))
        np.testing.assert_allclose(dk, np.swapaxes(ds, -1, -2) @ q.astype(np.float64) * scale, **tol(dtype))
    keep = dropout_keep(7, 2, 4, 64, 256, 0.25)
    assert abs(keep.mean() - 0.75) < 0.01  # the hash drops the right fraction
    assert not np.array_equal(keep, dropout_keep(8, 2, 4, 64, 256, 0.25))


def test_dropout_finite_difference_gradients(rng):
    q, k, v = qkv(rng, 1, 2, 5, 9, 3, np.float64)
    w = rng.standard_normal((1, 2, 5, 3))
    f = lambda: kernels.attention_forward(q, k, v, None, None, True, 0.4, 99)[0]  # noqa: E731
    out, lse = kernels.attention_forward(q, k, v, None, None, True, 0.4, 99)
    grads = kernels.attention_backward(w, q, k, v, out, lse, None, None, True, 0.4, 99)
    eps = 1e-6
    for x, g in zip((q, k, v), grads):
        num = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + eps
            plus = (f() * w).sum()
            x[i] = old - eps
            minus = (f() * w).sum()
            x[i] = old
            num[i] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match=r"attention_forward: argument 'dropout_p' expected a value in \[0, 1\), got 1"):
        kernels.attention_forward(q, k, v, dropout_p=1.0)


def test_key_mask_on_top_of_attn_mask(isa, rng):
    B, H, L, S, D = 3, 2, 9, 70, 8
    q, k, v = qkv(rng, B, H, L, S, D, np.float64)
    keep = rng.random((B, S)) > 0.3
    keep[1] = False  # every key of batch 1 dropped: its rows are fully masked
    for attn in (None, rng.random((L, S)) > 0.2, rng.standard_normal((1, H, L, S))):
        merged = keep[:, None, None, :] if attn is None else (
            attn & keep[:, None, None, :] if attn.dtype == bool else np.where(keep[:, None, None, :], attn, -np.inf))
        for causal in (False, True):
            out, lse = kernels.attention_forward(q, k, v, attn, is_causal=causal, key_mask=keep)
            r_out, r_lse, _ = reference(q, k, v, merged, causal)
            np.testing.assert_allclose(out, r_out, **tol(np.float64))
            np.testing.assert_array_equal(np.isinf(lse), np.isinf(r_lse))
            g = rng.standard_normal(out.shape)
            got = kernels.attention_backward(g, q, k, v, out, lse, attn, is_causal=causal, key_mask=keep)
            for a, b in zip(got, reference_backward(g, q, k, v, merged, causal)):
                np.testing.assert_allclose(a, b, **tol(np.float64))
    # (1, S) broadcasts over the batch; a transposed view is read through its strides.
    check_keep = (rng.random((S, 1)) > 0.5).T
    out, _ = kernels.attention_forward(q, k, v, key_mask=check_keep)
    np.testing.assert_allclose(out, reference(q, k, v, np.broadcast_to(check_keep[:, None, None, :], (1, 1, 1, S)))[0],
                               **tol(np.float64))
    with pytest.raises(ValueError, match=r"argument 'key_mask' of shape \(3, 69\) does not broadcast to \(B=3, S=70\)"):
        kernels.attention_forward(q, k, v, key_mask=keep[:, 1:])
    with pytest.raises(ValueError, match="argument 'key_mask' expected dtype bool, got float64"):
        kernels.attention_forward(q, k, v, key_mask=keep.astype(float))
