"""nerve.bfloat16: conversions bit for bit against ml_dtypes (round to nearest even), ops that compute in
float32 and round back, float32 accumulation, autograd through casts, the bf16 GEMM against a float64
NumPy reference with a derived bound, and save/load."""
import ml_dtypes
import numpy as np
import pytest

import nerve

BF16 = np.dtype(ml_dtypes.bfloat16)
SIZES = [0, 1, 3, 7, 17, 33, 72, 73, 74, 1031]


def _bits(a):
    return np.asarray(a).view(np.uint16)


def _special_values():
    """Ties (exactly halfway between two bf16 numbers, both parities), their neighbours, subnormals, inf, nan."""
    u = np.array([0x3F808000, 0x3F818000, 0x3F807FFF, 0x3F808001, 0x7F7F8000, 0x7F7FFFFF, 0x00008000, 0x00018000,
                  0x80008000, 0x007FFFFF, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 0x00000000, 0x80000000],
                 np.uint32)
    return u.view(np.float32)


def test_dtype_is_ml_dtypes_bfloat16():
    assert nerve.bfloat16 == BF16 and nerve.bfloat16.itemsize == 2
    x = nerve.ones(2, 3, dtype=nerve.bfloat16)
    assert x.dtype == nerve.bfloat16 and x.type() == "nerve.bfloat16" and x.is_floating_point()
    assert x.element_size() == 2


@pytest.mark.parametrize("n", SIZES)
def test_float32_to_bfloat16_bitwise_as_ml_dtypes(n):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 10.0 ** rng.integers(-40, 38, n)).astype(np.float32)
    if n > 20:
        x[:16] = _special_values()
    got = nerve.tensor(x).bfloat16()
    assert got.dtype == nerve.bfloat16
    with np.errstate(invalid="ignore"):  # ml_dtypes warns on casting nan
        expected = x.astype(BF16)
    nan = np.isnan(x)
    np.testing.assert_array_equal(_bits(got.numpy())[~nan], _bits(expected)[~nan])
    assert np.isnan(got.float().numpy()[nan]).all()
    back = got.float()  # exact: bf16 is float32's upper half
    assert back.dtype == nerve.float32
    np.testing.assert_array_equal(back.numpy().view(np.uint32)[~nan], expected.astype(np.float32).view(np.uint32)[~nan])


def test_ties_round_to_even():
    x = nerve.tensor(_special_values()[:4])
    assert _bits(x.bfloat16().numpy()).tolist() == [0x3F80, 0x3F82, 0x3F80, 0x3F81]


def test_creation_and_conversion_spellings():
    a = nerve.tensor([1.0, 2.5, 3.14159], dtype=nerve.bfloat16)
    assert a.dtype == nerve.bfloat16 and a.float().tolist() == [1.0, 2.5, 3.140625]
    for t in (nerve.zeros(2, 3, dtype=nerve.bfloat16), nerve.ones(4, dtype=nerve.bfloat16),
              nerve.randn(5, dtype=nerve.bfloat16), nerve.full((2,), 1.5, dtype=nerve.bfloat16),
              nerve.randn(3).to(nerve.bfloat16), nerve.randn(3).to("bfloat16"), nerve.randn(3).to(dtype=nerve.bfloat16)):
        assert t.dtype == nerve.bfloat16
    assert nerve.zeros(3, dtype=nerve.bfloat16).float().tolist() == [0.0, 0.0, 0.0]
    assert "dtype=nerve.bfloat16" in repr(a) and "3.1406" in repr(a)
    assert repr(nerve.tensor(1.5, dtype=nerve.bfloat16)) == "tensor(1.5, dtype=nerve.bfloat16)"


def test_elementwise_computes_in_float32_and_rounds_back():
    rng = np.random.default_rng(0)
    a32, b32 = (rng.standard_normal((7, 33)).astype(np.float32).astype(BF16) for _ in range(2))
    a, b = nerve.tensor(a32), nerve.tensor(b32)
    f = lambda v: v.astype(np.float32)  # noqa: E731
    cases = [(a * b, f(a32) * f(b32)), (a + b, f(a32) + f(b32)), (a / b, f(a32) / f(b32)),
             (a.exp(), np.exp(f(a32))), (a.tanh(), np.tanh(f(a32))), (a.relu(), np.maximum(f(a32), 0)),
             (a * 3.0, f(a32) * 3), (a + nerve.tensor(1.0), f(a32) + 1)]
    for got, want in cases:
        assert got.dtype == nerve.bfloat16
        np.testing.assert_array_equal(_bits(got.numpy()), _bits(want.astype(BF16)))
    # bf16 with float32 promotes to float32 (PyTorch's rule): no rounding of the result
    mixed = a + nerve.tensor(f(b32))
    assert mixed.dtype == nerve.float32
    np.testing.assert_array_equal(mixed.numpy(), f(a32) + f(b32))


def test_reductions_accumulate_in_float32():
    x = nerve.ones(4096, dtype=nerve.bfloat16)
    s = x.sum()
    assert s.dtype == nerve.bfloat16 and s.item() == 4096.0  # a bf16 accumulator stops at 256
    assert x.mean().item() == 1.0
    rng = np.random.default_rng(1)
    v = rng.standard_normal((17, 73)).astype(np.float32).astype(BF16)
    got = nerve.tensor(v).sum(1)
    np.testing.assert_array_equal(_bits(got.numpy()), _bits(v.astype(np.float32).sum(1).astype(BF16)))


def test_autograd_through_casts():
    w = nerve.randn(3, 4, requires_grad=True)
    y = (w.bfloat16() * 2).sum()
    assert y.dtype == nerve.bfloat16
    y.backward()
    assert w.grad.dtype == nerve.float32  # the grad of a cast is cast back
    np.testing.assert_array_equal(w.grad.numpy(), np.full((3, 4), 2.0, np.float32))
    leaf = nerve.randn(5, dtype=nerve.bfloat16, requires_grad=True)
    (leaf.float() * 3).sum().backward()
    assert leaf.grad.dtype == nerve.bfloat16 and leaf.grad.float().tolist() == [3.0] * 5


def test_inplace_on_bfloat16_keeps_dtype():
    x = nerve.ones(4, dtype=nerve.bfloat16)
    x += nerve.ones(4)  # float32 result written into the bf16 tensor
    x.mul_(1.5)
    assert x.dtype == nerve.bfloat16 and x.float().tolist() == [3.0] * 4


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (3, 7, 17), (33, 72, 5), (73, 74, 72), (17, 257, 33)])
def test_bf16_matmul_against_float64(m, k, n):
    rng = np.random.default_rng(m * k * n)
    a = rng.standard_normal((m, k)).astype(np.float32).astype(BF16)
    b = rng.standard_normal((k, n)).astype(np.float32).astype(BF16)
    out = nerve.tensor(a) @ nerve.tensor(b)
    assert out.dtype == nerve.bfloat16
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ref = a64 @ b64
    # Each product of two bf16 numbers (8-bit significands) is exact in float32; the float32 sum of k terms
    # errs by at most k * 2^-24 * sum |a||b|; the final rounding to bf16 by 2^-8 |result| (half an ulp, 2^-9,
    # doubled for the float32 error that may shift a tie).
    bound = k * 2.0 ** -24 * (np.abs(a64) @ np.abs(b64)) + 2.0 ** -8 * np.abs(ref) + 1e-30
    err = np.abs(out.float().numpy().astype(np.float64) - ref)
    assert (err <= bound).all(), float((err / bound).max())


def test_bf16_matmul_gradients_are_bf16_and_batched_shapes():
    x = nerve.randn(2, 5, 7, dtype=nerve.bfloat16, requires_grad=True)
    w = nerve.randn(7, 3, dtype=nerve.bfloat16, requires_grad=True)
    y = x @ w
    assert y.dtype == nerve.bfloat16 and y.shape == (2, 5, 3)
    y.float().sum().backward()
    assert x.grad.dtype == nerve.bfloat16 and w.grad.dtype == nerve.bfloat16
    # dW = sum over the batch of x^T @ 1, in float32 then rounded
    want = x.detach().float().numpy().reshape(-1, 7).sum(0)[:, None].repeat(3, 1)
    np.testing.assert_allclose(w.grad.float().numpy(), want, rtol=2 ** -7)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors", ".pt"])
def test_save_load_keeps_bfloat16(tmp_path, suffix):
    x = nerve.randn(3, 5).bfloat16()
    nerve.save({"x": x}, tmp_path / ("m" + suffix))
    got = nerve.load(tmp_path / ("m" + suffix))["x"]
    assert got.dtype == nerve.bfloat16
    np.testing.assert_array_equal(_bits(got.numpy()), _bits(x.numpy()))


def test_npz_bfloat16_in_a_tree(tmp_path):
    p = nerve.nn.Parameter(nerve.randn(4).bfloat16())
    tree = {"p": p, "raw": np.arange(3, dtype=np.float32).astype(BF16), "f": nerve.ones(2)}
    nerve.save(tree, tmp_path / "t.npz")
    got = nerve.load(tmp_path / "t.npz")
    assert got["p"].dtype == nerve.bfloat16 and got["p"].requires_grad
    assert got["raw"].dtype == BF16 and got["raw"].astype(np.float32).tolist() == [0.0, 1.0, 2.0]
    assert got["f"].dtype == nerve.float32
