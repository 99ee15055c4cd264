"""MultiheadAttention, Transformer layers, LayerNorm and Embedding modules
against float64 NumPy references (PyTorch's formulas and parameter names)."""
import numpy as np
import pytest

import nerve
import nerve.nn as nn
from nerve.testing import gradcheck


def params(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def np_layer_norm(x, w, b, eps=1e-5):
    m = x.mean(-1, keepdims=True)
    return (x - m) / np.sqrt(((x - m) ** 2).mean(-1, keepdims=True) + eps) * w + b


def np_mha(p, prefix, q, k, v, H, allowed=None):
    """Batch-first (N, L, E) reference; allowed: bool (N or 1, H or 1, L, S), True = take part."""
    E = q.shape[-1]
    w, b = p[prefix + "in_proj_weight"], p[prefix + "in_proj_bias"]
    def heads(x, i):
        y = x @ w[i * E:(i + 1) * E].T + b[i * E:(i + 1) * E]
        return y.reshape(x.shape[0], x.shape[1], H, E // H).transpose(0, 2, 1, 3)
    qh, kh, vh = heads(q, 0), heads(k, 1), heads(v, 2)
    s = qh @ kh.transpose(0, 1, 3, 2) / np.sqrt(E // H)
    if allowed is not None:
        s = np.where(allowed, s, -np.inf)
    p_ = np.exp(s - s.max(-1, keepdims=True))
    p_ /= p_.sum(-1, keepdims=True)
    o = (p_ @ vh).transpose(0, 2, 1, 3).reshape(q.shape)
    return o @ p[prefix + "out_proj.weight"].T + p[prefix + "out_proj.bias"], p_


def test_mha_matches_reference_masks_and_layouts(rng):
    E, H, N, L, S = 12, 3, 2, 5, 7
    mha = nn.MultiheadAttention(E, H, batch_first=True).double()
    assert list(mha.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    p = params(mha)
    q, k, v = rng.standard_normal((N, L, E)), rng.standard_normal((N, S, E)), rng.standard_normal((N, S, E))
    kpm = np.zeros((N, S), bool)
    kpm[1, 4:] = True  # True = ignore
    am = rng.random((L, S)) > 0.8
    am[:, 0] = False
    want, pw = np_mha(p, "", q, k, v, H, ~am[None, None] & ~kpm[:, None, None, :])
    for need in (True, False):
        out, w = mha(nerve.tensor(q), nerve.tensor(k), nerve.tensor(v), key_padding_mask=kpm, attn_mask=am,
                     need_weights=need)
        np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-10, atol=1e-12)
        if need:
            np.testing.assert_allclose(w.detach().numpy(), pw.mean(1), rtol=1e-10, atol=1e-12)
        else:
            assert w is None
    # Float masks are added; a 3-D (N*H, L, S) mask is per head.
    fm = np.where(am, -np.inf, 0.0)
    out, w = mha(nerve.tensor(q), nerve.tensor(k), nerve.tensor(v), attn_mask=np.repeat(fm[None], N * H, 0),
                 key_padding_mask=kpm, average_attn_weights=False)
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-10, atol=1e-12)
    assert w.shape == (N, H, L, S)
    # Sequence-first layout and unbatched input give the same numbers.
    seq = nn.MultiheadAttention(E, H).double()
    seq.load_state_dict(mha.state_dict())
    out_sf, _ = seq(*(nerve.tensor(x.transpose(1, 0, 2)) for x in (q, k, v)), key_padding_mask=kpm, attn_mask=am)
    np.testing.assert_allclose(out_sf.detach().numpy().transpose(1, 0, 2), want, rtol=1e-10, atol=1e-12)
    out_u, w_u = seq(nerve.tensor(q[1]), nerve.tensor(k[1]), nerve.tensor(v[1]), key_padding_mask=kpm[1],
                     attn_mask=am)
    np.testing.assert_allclose(out_u.detach().numpy(), want[1], rtol=1e-10, atol=1e-12)
    assert w_u.shape == (L, S)


def test_mha_gradcheck_and_causal(rng):
    mha = nn.MultiheadAttention(4, 2, batch_first=True).double()
    x = rng.standard_normal((2, 3, 4))
    kpm = np.array([[False, False, True], [False, False, False]])
    assert gradcheck(lambda t: mha(t, t, t, key_padding_mask=kpm, need_weights=False)[0], [x])
    assert gradcheck(lambda t: mha(t, t, t, need_weights=True)[0], [x])
    out, _ = mha(nerve.tensor(x), nerve.tensor(x), nerve.tensor(x), need_weights=False, is_causal=True)
    want, _ = np_mha(params(mha), "", x, x, x, 2, np.tril(np.ones((3, 3), bool)))
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-10, atol=1e-12)
    out.sum().backward()
    assert all(p.grad is not None for p in mha.parameters())


def test_mha_bad_arguments(rng):
    with pytest.raises(ValueError, match="embed_dim .10. must be a positive multiple of num_heads .3."):
        nn.MultiheadAttention(10, 3)
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
    x = nerve.tensor(rng.standard_normal((2, 3, 4)).astype(np.float32))
    with pytest.raises(ValueError, match=r"2-D attn_mask expected shape \(3, 3\), got \(3, 4\)"):
        mha(x, x, x, attn_mask=np.zeros((3, 4), bool))
    with pytest.raises(ValueError, match=r"key_padding_mask expected shape \(2, 3\), got \(3,\)"):
        mha(x, x, x, key_padding_mask=np.zeros(3, bool))


def np_mha_general(p, q, k, v, H, bias_kv=False, zero_attn=False, allowed=None):
    """Batch-first reference for kdim/vdim (separate q/k/v_proj_weight), add_bias_kv (bias_k, bias_v
    appended as one more key position after projection) and add_zero_attn (a zero key and value
    per head appended after that); allowed (N, 1, 1, S0) over the S0 given keys."""
    N, L, E = q.shape
    hd = E // H
    b = p["in_proj_bias"]
    kp = k @ p["k_proj_weight"].T + b[E:2 * E]
    vp = v @ p["v_proj_weight"].T + b[2 * E:]
    qp = q @ p["q_proj_weight"].T + b[:E]
    extra = 0
    if bias_kv:
        kp = np.concatenate([kp, np.broadcast_to(p["bias_k"], (N, 1, E))], 1)
        vp = np.concatenate([vp, np.broadcast_to(p["bias_v"], (N, 1, E))], 1)
        extra += 1
    def heads(x):
        return x.reshape(N, x.shape[1], H, hd).transpose(0, 2, 1, 3)
    qh, kh, vh = heads(qp), heads(kp), heads(vp)
    if zero_attn:
        kh = np.concatenate([kh, np.zeros((N, H, 1, hd))], 2)
        vh = np.concatenate([vh, np.zeros((N, H, 1, hd))], 2)
        extra += 1
    s = qh @ kh.transpose(0, 1, 3, 2) / np.sqrt(hd)
    if allowed is not None:
        keep = np.concatenate([allowed, np.ones(allowed.shape[:-1] + (extra,), bool)], -1)
        s = np.where(keep, s, -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    o = (w @ vh).transpose(0, 2, 1, 3).reshape(N, L, E)
    return o @ p["out_proj.weight"].T + p["out_proj.bias"]


@pytest.mark.parametrize("bias_kv,zero_attn", [(False, False), (True, False), (False, True), (True, True)])
def test_mha_kdim_vdim_bias_kv_zero_attn(bias_kv, zero_attn, rng):
    E, H, N, L, S = 8, 2, 3, 4, 5
    mha = nn.MultiheadAttention(E, H, kdim=5, vdim=3, add_bias_kv=bias_kv, add_zero_attn=zero_attn,
                                batch_first=True).double()
    names = ["q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias"] + (["bias_k", "bias_v"] if bias_kv
                                                                                   else [])
    assert list(mha.state_dict()) == names + ["out_proj.weight", "out_proj.bias"]  # PyTorch's names and order
    assert mha.in_proj_weight is None and mha.k_proj_weight.shape == (E, 5) and mha.v_proj_weight.shape == (E, 3)
    q, k, v = rng.standard_normal((N, L, E)), rng.standard_normal((N, S, 5)), rng.standard_normal((N, S, 3))
    kpm = np.zeros((N, S), bool)
    kpm[0, 3:] = True
    want = np_mha_general(params(mha), q, k, v, H, bias_kv, zero_attn, ~kpm[:, None, None, :])
    for need in (True, False):
        out, _ = mha(nerve.tensor(q), nerve.tensor(k), nerve.tensor(v), key_padding_mask=kpm, need_weights=need)
        np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda a, b, c: mha(a, b, c, need_weights=False)[0], [q[:1], k[:1], v[:1]])
    with pytest.raises(ValueError, match="widths 8, 5, 3"):
        mha(nerve.tensor(q), nerve.tensor(q), nerve.tensor(q))


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_reference(rng, norm_first, activation):
    from math import erf
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, activation=activation, batch_first=True,
                                       norm_first=norm_first).double()
    layer.eval()  # dropout off
    p = params(layer)
    assert list(p) == ["self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
                       "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
                       "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"]
    x = rng.standard_normal((2, 5, 8))
    kpm = np.zeros((2, 5), bool)
    kpm[0, 3:] = True
    act = (lambda h: np.maximum(h, 0)) if activation == "relu" else np.vectorize(lambda h: 0.5 * h * (1 + erf(h / 2 ** 0.5)))
    ln = lambda h, i: np_layer_norm(h, p[f"norm{i}.weight"], p[f"norm{i}.bias"])
    sa = lambda h: np_mha(p, "self_attn.", h, h, h, 2, ~kpm[:, None, None, :])[0]
    ff = lambda h: act(h @ p["linear1.weight"].T + p["linear1.bias"]) @ p["linear2.weight"].T + p["linear2.bias"]
    if norm_first:
        h = x + sa(ln(x, 1))
        want = h + ff(ln(h, 2))
    else:
        h = ln(x + sa(x), 1)
        want = ln(h + ff(h), 2)
    got = layer(nerve.tensor(x), src_key_padding_mask=kpm).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)


def test_encoder_decoder_stacks_and_transformer(rng):
    model = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=16,
                           dropout=0.0, batch_first=True)
    names = list(model.state_dict())
    for name in ["encoder.layers.1.self_attn.in_proj_weight", "encoder.norm.weight",
                 "decoder.layers.0.multihead_attn.out_proj.bias", "decoder.layers.1.norm3.bias", "decoder.norm.bias"]:
        assert name in names
    # Deep copies: the two encoder layers have their own parameters.
    assert model.encoder.layers[0].linear1.weight is not model.encoder.layers[1].linear1.weight
    src = nerve.tensor(rng.standard_normal((2, 7, 8)).astype(np.float32))
    tgt = nerve.tensor(rng.standard_normal((2, 5, 8)).astype(np.float32))
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    np.testing.assert_array_equal(mask.numpy(), np.triu(np.full((5, 5), -np.inf), 1))
    out = model(src, tgt, tgt_mask=mask, src_key_padding_mask=np.eye(2, 7, 4, dtype=bool))
    assert out.shape == (2, 5, 8) and out.dtype == nerve.float32
    out.sum().backward()
    assert all(p.grad is not None and np.isfinite(p.grad.numpy()).all() for p in model.parameters())
    # A causal tgt mask: the first output position does not depend on later targets.
    tgt2 = tgt.detach().numpy().copy()
    tgt2[:, 3:] += 1
    out2 = model(src, nerve.tensor(tgt2), tgt_mask=mask, src_key_padding_mask=np.eye(2, 7, 4, dtype=bool))
    np.testing.assert_allclose(out2.detach().numpy()[:, :3], out.detach().numpy()[:, :3], rtol=1e-5, atol=1e-5)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        model(src, tgt[:1])
    with pytest.raises(ValueError, match="activation should be 'relu', 'gelu' or a callable"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")


def test_layer_norm_and_embedding_modules(rng):
    ln = nn.LayerNorm((3, 4)).double()
    assert list(ln.state_dict()) == ["weight", "bias"] and np.all(ln.weight.detach().numpy() == 1)
    x = rng.standard_normal((2, 3, 4))
    y = ln(nerve.tensor(x)).detach().numpy()
    np.testing.assert_allclose(y, np_layer_norm(x.reshape(2, 12), 1, 0).reshape(2, 3, 4), rtol=1e-10, atol=1e-12)
    assert nn.LayerNorm(4, elementwise_affine=False).weight is None
    emb = nn.Embedding(10, 3, padding_idx=-1)
    assert emb.padding_idx == 9 and np.all(emb.weight.detach().numpy()[9] == 0)
    idx = nerve.tensor(np.array([[9, 2], [2, 0]]))
    out = emb(idx)
    np.testing.assert_array_equal(out.detach().numpy(), emb.weight.detach().numpy()[idx.numpy()])
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[:, 0], [1, 0, 2, 0, 0, 0, 0, 0, 0, 0])
    pre = nn.Embedding.from_pretrained(nerve.tensor(np.arange(6.0).reshape(3, 2)))
    assert not pre.weight.requires_grad and pre(nerve.tensor(np.array([2]))).numpy().tolist() == [[4.0, 5.0]]
