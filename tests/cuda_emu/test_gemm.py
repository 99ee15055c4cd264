"""The CUDA GEMM through the GPU backend's whole path (backend.cuda.matmul ->
nerve._cuda(_emu).gemm -> launcher -> kernel), against the CPU backend and
nerve._C.gemm: matmul with transposes, batches and views, the binding's full
contract (bias, activation, alpha, beta), its argument checks (the same
messages as the CPU binding), and nerve.Tensor @ / F.linear forward and
backward. Fixture `gpu`: conftest.py."""
import numpy as np
import pytest

from nerve.backend import cpu


def tol(dtype, k):
    if np.dtype(dtype) == np.float32:
        return dict(rtol=1e-5, atol=2e-6 * max(k, 1))
    return dict(rtol=1e-12, atol=1e-13 * max(k, 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_matches_cpu(gpu, rng, dtype, ta, tb):
    for m, k, n in [(1, 1, 1), (3, 17, 33), (33, 3, 17), (17, 33, 1)]:
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        got = gpu.get(gpu.be.matmul(gpu.put(a), gpu.put(b), ta, tb))
        np.testing.assert_allclose(got, cpu.matmul(a, b, ta, tb), **tol(dtype, k))
        assert got.dtype == dtype


@pytest.mark.parametrize("shared", [None, "a", "b"])
def test_batched_matmul_and_out(gpu, rng, shared):
    a = rng.standard_normal((5, 7) if shared == "a" else (3, 5, 7)).astype(np.float32)
    b = rng.standard_normal((7, 9) if shared == "b" else (3, 7, 9)).astype(np.float32)
    out = gpu.put(np.full((3, 5, 9), np.nan, np.float32))
    r = gpu.be.matmul(gpu.put(a), gpu.put(b), out=out)
    np.testing.assert_allclose(gpu.get(r), cpu.matmul(a, b), **tol(np.float32, 7))
    np.testing.assert_allclose(gpu.get(out), cpu.matmul(a, b), **tol(np.float32, 7))


def test_views_and_empty(gpu, rng):
    x = rng.standard_normal((20, 30)).astype(np.float64)
    dx = gpu.put(x)
    # a transposed view (read in place), a row-strided view and a fully strided one (copied)
    for view in (lambda z: z.T[:17], lambda z: z[::2, :9], lambda z: z[::2, ::3]):
        a, b = view(x), x[:view(x).shape[1], :5]
        got = gpu.get(gpu.be.matmul(view(dx), dx[:view(x).shape[1], :5]))
        np.testing.assert_allclose(got, a @ b, **tol(np.float64, a.shape[1]))
    for shape_a, shape_b in [((0, 4), (4, 3)), ((3, 0), (0, 5)), ((0, 2, 3), (3, 4))]:
        a, b = np.ones(shape_a, np.float32), np.ones(shape_b, np.float32)
        got = gpu.get(gpu.be.matmul(gpu.put(a), gpu.put(b)))
        np.testing.assert_array_equal(got, cpu.matmul(a, b))
    ints = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(gpu.get(gpu.be.matmul(gpu.put(ints), gpu.put(ints.T))), ints @ ints.T)


@pytest.mark.parametrize("activation", ["none", "relu", "gelu", "gelu_tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_binding_epilogue_matches_cpu_binding(gpu, rng, activation, dtype):
    from nerve import _C
    a = rng.standard_normal((2, 19, 13)).astype(dtype)
    b = rng.standard_normal((21, 13)).astype(dtype)  # shared by the batch, read transposed
    bias = rng.standard_normal(21).astype(dtype)
    c = rng.standard_normal((2, 19, 21)).astype(dtype)
    ref = c.copy()
    _C.gemm(ref, a, b, False, True, 0.5, 0.25, bias, activation)
    out = gpu.put(c)
    gpu.be._K.gemm(out, gpu.put(a), gpu.put(b), False, True, 0.5, 0.25, gpu.put(bias), activation)
    np.testing.assert_allclose(gpu.get(out), ref, **tol(dtype, 13))


def test_gemm_binding_checks_match_the_cpu_binding(gpu):
    """Same contract (csrc/contract/gemm.h), same messages, on the device's arrays."""
    from nerve import _C
    K = gpu.be._K
    f32, f64 = np.float32, np.float64
    cases = [
        lambda m, p: m.gemm(p(np.zeros((2, 3), f32)), p(np.zeros((2, 4), f32)), p(np.zeros((5, 3), f32))),
        lambda m, p: m.gemm(p(np.zeros((2, 3), f32)), p(np.zeros((2, 4), f64)), p(np.zeros((4, 3), f64))),
        lambda m, p: m.gemm(p(np.zeros((2, 4), f32)), p(np.zeros((2, 4), f32)), p(np.zeros((4, 3), f32))),
        lambda m, p: m.gemm(p(np.zeros((2, 3), f32)), p(np.zeros((2, 4), f32)), p(np.zeros((4, 3), f32)),
                            activation="swish"),
        lambda m, p: m.gemm(p(np.zeros((2, 3), f32)), p(np.zeros((2, 4), f32)), p(np.zeros((4, 3), f32)),
                            bias=p(np.zeros(4, f32))),
        lambda m, p: m.gemm(p(np.zeros((3, 2, 3), f32)), p(np.zeros((2, 2, 4), f32)), p(np.zeros((4, 3), f32))),
        lambda m, p: m.gemm(p(np.zeros((2, 3), np.int32)), p(np.zeros((2, 4), np.int32)),
                            p(np.zeros((4, 3), np.int32))),
        lambda m, p: m.gemm(p(np.zeros((2, 2, 3), f32)), p(np.zeros((2, 2, 4), f32)), p(np.zeros((2, 4, 3), f32)),
                            prepack_b=True),
    ]
    for case in cases:
        with pytest.raises(ValueError) as cpu_error:
            case(_C, lambda a: a)
        with pytest.raises(ValueError) as gpu_error:
            case(K, gpu.put)
        assert str(gpu_error.value) == str(cpu_error.value)
    buf = gpu.put(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="gemm: argument 'out' must not share memory with 'b'"):
        K.gemm(buf[:2], buf[2:], buf)


def test_tensor_matmul_and_linear_forward_backward_on_the_gpu_path(gpu, rng):
    import nerve
    import nerve.nn.functional as F
    x = rng.standard_normal((2, 5, 17)).astype(np.float32)
    w = rng.standard_normal((33, 17)).astype(np.float32)
    bias = rng.standard_normal(33).astype(np.float32)
    m = rng.standard_normal((17, 3)).astype(np.float32)

    def run(make):
        tx, tw, tb, tm = (make(v) for v in (x, w, bias, m))
        y = F.linear(tx, tw, tb)
        z = (F.relu(y) @ tw) @ tm
        z.sum().backward()
        return [t.array for t in (y, z, tx.grad, tw.grad, tb.grad, tm.grad)]

    ref = [np.asarray(r) for r in run(lambda v: nerve.tensor(v, requires_grad=True))]
    with gpu.routed():
        got = [gpu.get(r) for r in run(lambda v: gpu.tensor(v, requires_grad=True))]
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4)


def test_allow_tf32_uses_the_tensor_cores(gpu, rng, monkeypatch):
    a = rng.standard_normal((16, 64)).astype(np.float32)
    b = rng.standard_normal((64, 16)).astype(np.float32)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    fp32 = gpu.get(gpu.be.matmul(gpu.put(a), gpu.put(b)))
    monkeypatch.setattr(gpu.be, "_allow_tf32", lambda: True)
    tf32 = gpu.get(gpu.be.matmul(gpu.put(a), gpu.put(b)))
    scale = np.abs(a) @ np.abs(b)
    assert (np.abs(fp32 - exact) <= 1e-5 * scale).all()
    assert (np.abs(tf32 - exact) <= 2.0 ** -10 * 1.2 * scale).all()
    assert np.abs(tf32 - fp32).max() > 1e-4  # really the 10-bit-mantissa inputs
