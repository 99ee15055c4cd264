"""Valid-call fuzzing of the attention family of ``nerve._C`` (see
test_native.py): attention_forward and attention_backward with is_causal
(top-left aligned), bool and additive float masks (-inf entries included) of
any broadcastable rank, as zero-stride views too, a key mask, any scale, and
dropout. The reference is a full float64 softmax; the dropout mask is
recomputed from the documented counter-based hash (cpu/attention.h), so
dropout_p > 0 is compared exactly too: the same seed must give the same
mask in forward and backward.

q, k, v and the gradient draw finite values only: a NaN or Inf among them
poisons every row it touches in an implementation-defined way (masked keys
multiply NaN by a zero probability or skip it), and -inf in the additive mask
already covers masking. A row whose keys are all masked (by any mask, or -inf
additive entries) gives out = 0 and lse = -inf and contributes no gradient.
Hostile calls are covered by test_native_recorded.py.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nerve import _C

from .test_native import FLOATS, FUZZ, Call, close_mag, isa, quiet, run_valid, sizes

M32 = 0xFFFFFFFF


def _row_key(seed, row):
    """dropout_row_key of cpu/attention.h (splitmix64) for an array of rows."""
    z = (np.uint64(seed) + row.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return (z ^ (z >> np.uint64(31))) & np.uint64(M32)


def _hash(key, col):
    """dropout_hash of cpu/attention.h (lowbias32), in uint64 masked to 32 bits."""
    x = ((col.astype(np.uint64) * np.uint64(0x9E3779B1)) & np.uint64(M32)) ^ key
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & np.uint64(M32)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & np.uint64(M32)
    return x ^ (x >> np.uint64(16))


def dropout_scale(B, H, L, S, p, seed):
    """Z (B, H, L, S): 1 / (1 - p) where the probability is kept, 0 where dropped."""
    if p == 0:
        return np.ones((B, H, L, S))
    thresh = min(int(np.ldexp(p, 32)), M32)
    with np.errstate(over="ignore"):
        keys = _row_key(seed, np.arange(B * H * L, dtype=np.uint64)).reshape(B, H, L, 1)
        keep = _hash(keys, np.arange(S, dtype=np.uint64)[None, None, None, :]) >= np.uint64(thresh)
    return keep / (1 - p)


def _mask(draw, rng, shape, dtype):
    """None, or a bool / additive mask broadcastable to shape (B, H, L, S)."""
    kind = draw(st.sampled_from([None, "bool", "float"]))
    if kind is None:
        return None
    ndim = draw(st.integers(1, 4))
    small = tuple(s if draw(st.booleans()) else 1 for s in shape[4 - ndim:])
    if kind == "bool":
        m = rng.random(small) < 0.75
    else:
        m = (rng.standard_normal(small) * 2).astype(dtype)
        m[rng.random(small) < 0.2] = -np.inf
    if draw(st.booleans()):  # a zero-stride view of the full shape
        m = np.broadcast_to(m, shape[4 - ndim:])
    return m


@quiet
def attention_ref(q, k, v, mask, key_mask, scale, causal, Z):
    """out, lse, P (softmax, 0 on fully masked rows) and the logits' magnitude."""
    q, k, v = (a.astype(np.float64) for a in (q, k, v))
    B, H, L, S = q.shape[0], q.shape[1], q.shape[2], k.shape[2]
    s = scale * np.einsum("bhld,bhsd->bhls", q, k)
    s_mag = np.abs(scale) * np.einsum("bhld,bhsd->bhls", np.abs(q), np.abs(k))
    allowed = np.ones((B, H, L, S), bool)
    if mask is not None and mask.dtype == bool:
        allowed &= mask
    elif mask is not None:
        s = s + mask.astype(np.float64)
    if causal:
        allowed &= np.arange(S)[None, :] <= np.arange(L)[:, None]
    if key_mask is not None:
        allowed &= key_mask[:, None, None, :]
    s = np.where(allowed, s, -np.inf)
    m = s.max(axis=3, keepdims=True, initial=-np.inf)
    live = np.isfinite(m)
    e = np.where(live, np.exp(s - np.where(live, m, 0)), 0)
    total = e.sum(axis=3, keepdims=True)
    P = np.where(live, e / np.where(live, total, 1), 0)
    lse = np.where(live, m + np.log(np.where(live, total, 1)), -np.inf)[..., 0]
    out = np.einsum("bhls,bhsd->bhld", P * Z, v)
    return out, lse, P, np.where(allowed, s_mag, 0).max(initial=0)


def _problem(draw):
    dtype = draw(st.sampled_from(FLOATS))
    B, H = draw(st.integers(0, 2)), draw(st.integers(1, 3))
    L, S, D = draw(sizes(9)), draw(sizes(9)), draw(st.integers(1, 9) | st.sampled_from([16, 17]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    q, k, v = ((rng.standard_normal((B, H, n, D)) * 1.5).astype(dtype) for n in (L, S, S))
    if draw(st.booleans()):  # strided views: (B, L, H, D) memory, transposed, last dim contiguous
        q, k, v = (np.ascontiguousarray(a.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3) for a in (q, k, v))
    mask = _mask(draw, rng, (B, H, L, S), dtype)
    key_mask = None
    if draw(st.booleans()):
        key_mask = rng.random((B if draw(st.booleans()) else 1, S if draw(st.booleans()) else 1)) < 0.8
        if key_mask.shape[0] == 1 and B > 1 and draw(st.booleans()):
            key_mask = np.broadcast_to(key_mask, (B, key_mask.shape[1]))
    scale = draw(st.sampled_from([1 / np.sqrt(D), 1.0, 0.1, -0.5]))
    causal = draw(st.booleans())
    p = draw(st.sampled_from([0.0, 0.0, 0.0, 0.3, 0.9]))
    seed = draw(st.integers(0, 2**64 - 1))
    Z = dropout_scale(B, H, L, S, p, seed)
    km = None if key_mask is None else np.broadcast_to(key_mask, (B, S))
    out, lse, P, s_mag = attention_ref(q, k, v, mask, km, scale, causal, Z)
    return dict(dtype=dtype, q=q, k=k, v=v, mask=mask, key_mask=key_mask, scale=scale, causal=causal, p=p,
                seed=seed, Z=Z, out=out, lse=lse, P=P, s_mag=s_mag, D=D, S=S)


def _tol(P):
    """Rounding of the logits (relative to their magnitude) moves P; the sums are over S and D."""
    return 4 + P["s_mag"] + (P["S"] + P["D"]) / 8


def build_attention_forward(draw):
    P = _problem(draw)
    dtype, q, k, v = P["dtype"], P["q"], P["k"], P["v"]
    out = np.full(q.shape, np.nan, dtype)
    lse = np.full(q.shape[:3], np.nan, dtype)
    mag = np.einsum("bhls,bhsd->bhld", P["P"] * P["Z"], np.abs(v.astype(np.float64)))

    def check():
        close_mag(out, P["out"], mag, dtype, _tol(P), "out")
        masked = np.isneginf(P["lse"])
        np.testing.assert_array_equal(np.isneginf(lse), masked, err_msg="lse = -inf exactly on fully masked rows")
        close_mag(lse[~masked], P["lse"][~masked], np.abs(P["lse"][~masked]) + 1, dtype, _tol(P), "lse")
        if P["p"] > 0:  # the same seed gives the same mask, bit for bit
            again = np.full_like(out, np.nan)
            with isa(call.isa):
                _C.attention_forward(again, np.empty_like(lse), q, k, v, P["mask"], P["scale"], P["causal"], P["p"],
                                     P["seed"], P["key_mask"])
            assert again.tobytes() == out.tobytes(), "dropout is not deterministic for a given seed"

    call = Call("attention_forward", _C.attention_forward,
                {"out": out, "lse": lse, "q": q, "k": k, "v": v, "attn_mask": P["mask"]}, ["out", "lse"],
                check, contiguous=False).positional(P["scale"], P["causal"], P["p"], P["seed"], P["key_mask"])
    return call


@quiet
def attention_grad_ref(dout, q, k, v, P, Z, scale):
    dout, q, k, v = (a.astype(np.float64) for a in (dout, q, k, v))
    dv = np.einsum("bhls,bhld->bhsd", P * Z, dout)
    dv_mag = np.einsum("bhls,bhld->bhsd", P * Z, np.abs(dout))
    dpz = np.einsum("bhld,bhsd->bhls", dout, v) * Z
    dpz_mag = np.einsum("bhld,bhsd->bhls", np.abs(dout), np.abs(v)) * Z
    ds = P * (dpz - (P * dpz).sum(axis=3, keepdims=True))
    ds_mag = P * (dpz_mag + (P * dpz_mag).sum(axis=3, keepdims=True))
    dq = scale * np.einsum("bhls,bhsd->bhld", ds, k)
    dk = scale * np.einsum("bhls,bhld->bhsd", ds, q)
    dq_mag = abs(scale) * np.einsum("bhls,bhsd->bhld", ds_mag, np.abs(k))
    dk_mag = abs(scale) * np.einsum("bhls,bhld->bhsd", ds_mag, np.abs(q))
    return (dq, dk, dv), (dq_mag, dk_mag, dv_mag)


def build_attention_backward(draw):
    P = _problem(draw)
    dtype, q, k, v = P["dtype"], P["q"], P["k"], P["v"]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dout = rng.standard_normal(q.shape).astype(dtype)
    out, lse = P["out"].astype(dtype), P["lse"].astype(dtype)  # the forward's outputs, rounded as it would
    dq, dk, dv = (np.full(a.shape, np.nan, dtype) for a in (q, k, v))
    wants, mags = attention_grad_ref(dout, q, k, v, P["P"], P["Z"], P["scale"])

    def check():
        for name, got, want, mag in zip(("dq", "dk", "dv"), (dq, dk, dv), wants, mags):
            close_mag(got, want, mag, dtype, _tol(P), name)

    return Call("attention_backward", _C.attention_backward,
                {"dq": dq, "dk": dk, "dv": dv, "dout": dout, "q": q, "k": k, "v": v, "out": out, "lse": lse,
                 "attn_mask": P["mask"]}, ["dq", "dk", "dv"], check, contiguous=False).positional(
        P["scale"], P["causal"], P["p"], P["seed"], P["key_mask"])


BUILDERS = {
    "attention_forward": build_attention_forward,
    "attention_backward": build_attention_backward,
}


@pytest.mark.parametrize("kernel", sorted(BUILDERS))
@FUZZ
@given(data=st.data())
def test_valid(kernel, data):
    run_valid(BUILDERS, kernel, data)
