"""CUDA activation kernels (csrc/cuda/activation.cuh) against the CPU backend, through the GPU backend:
backend.cuda -> nerve._cuda(_emu) -> launcher -> kernel. Fixture `gpu`: conftest.py."""
import numpy as np
import pytest

from nerve.backend import cpu

from .conftest import tolerance

SIZES = [0, 1, 3, 17, 33, 257, 1031]
SPECIAL = [0.0, -0.0, 1e-30, -1e-30, 3.0, -3.0, 19.9, 20.1, -20.1, 30.0, -30.0, 1e4, -1e4, np.inf, -np.inf, np.nan]


def inputs(rng, n, dtype):
    x = rng.standard_normal(n) * 4
    x[: min(n, len(SPECIAL))] = SPECIAL[: min(n, len(SPECIAL))]
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_cpu(gpu, rng, n, dtype, approximate):
    x, g = inputs(rng, n, dtype), rng.standard_normal(n).astype(dtype)
    tol = tolerance(dtype, gpu)
    out = gpu.get(gpu.be.gelu_forward(gpu.put(x), approximate))
    np.testing.assert_allclose(out, cpu.gelu_forward(x, approximate), **tol)
    grad = gpu.get(gpu.be.gelu_backward(gpu.put(g), gpu.put(x), approximate))
    np.testing.assert_allclose(grad, cpu.gelu_backward(g, x, approximate), **tol)
    assert out.dtype == dtype and grad.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
def test_sigmoid_matches_cpu(gpu, rng, n, dtype):
    x = inputs(rng, n, dtype)
    np.testing.assert_allclose(gpu.get(gpu.be.sigmoid(gpu.put(x))), cpu.sigmoid(x), **tolerance(dtype, gpu))


def test_non_contiguous_and_nd_inputs(gpu, rng):
    x = rng.standard_normal((5, 7, 6)).astype(np.float32)
    view = x[:, ::2, 1::2].transpose(2, 0, 1)  # strided, permuted
    for fn in ("sigmoid", "gelu_forward"):
        out = gpu.get(getattr(gpu.be, fn)(gpu.put(x)[:, ::2, 1::2].transpose(2, 0, 1)))
        np.testing.assert_allclose(out, getattr(cpu, fn)(view), **tolerance(np.float32, gpu))
    g = rng.standard_normal(view.shape).astype(np.float32)
    np.testing.assert_allclose(gpu.get(gpu.be.gelu_backward(gpu.put(g), gpu.put(x)[:, ::2, 1::2].transpose(2, 0, 1))),
                               cpu.gelu_backward(g, view), **tolerance(np.float32, gpu))


def test_in_place_and_integer_input(gpu, rng):
    x = rng.standard_normal(100)
    dx = gpu.put(x)
    gpu.be._K.gelu_forward(dx, dx, "tanh")  # out is x: each element is read before it is written
    np.testing.assert_allclose(gpu.get(dx), cpu.gelu_forward(x, "tanh"), **tolerance(np.float64, gpu))
    ints = np.arange(-3, 4)
    np.testing.assert_allclose(gpu.get(gpu.be.sigmoid(gpu.put(ints))), cpu.sigmoid(ints), **tolerance(np.float32, gpu))


def test_binding_checks_match_the_cpu_binding(gpu):
    """Same contract (csrc/contract/activation.h), same messages, on the device's arrays."""
    from nerve import _C
    K = gpu.be._K
    x = np.zeros(4, np.float32)
    cases = [
        (lambda m, p: m.gelu_forward(p(np.zeros(4, np.float64)), p(x))),
        (lambda m, p: m.gelu_forward(p(np.zeros(5, np.float32)), p(x))),
        (lambda m, p: m.gelu_forward(p(x), p(x), "fast")),
        (lambda m, p: m.gelu_backward(p(x), p(np.zeros(3, np.float32)), p(x))),
        (lambda m, p: m.sigmoid_forward(p(np.zeros(4, np.int64)), p(np.zeros(4, np.int64)))),
    ]
    for case in cases:
        with pytest.raises(ValueError) as cpu_error:
            case(_C, lambda a: a)
        with pytest.raises(ValueError) as gpu_error:
            case(K, gpu.put)
        assert str(gpu_error.value) == str(cpu_error.value)
    # partial overlap: rejected by both
    buf = gpu.put(np.zeros(8, np.float32))
    with pytest.raises(ValueError, match="gelu_forward: argument 'out' must not share memory with 'x'"):
        K.gelu_forward(buf[1:5], buf[0:4])
    if gpu.emulated:  # numpy arrays have no __cuda_array_interface__: nerve._cuda rejects them by name
        assert K.emulated


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_op_forward_and_backward_on_the_gpu_path(gpu, rng, approximate):
    import nerve
    import nerve.nn.functional as F
    x = rng.standard_normal((3, 17)).astype(np.float32)
    ref = nerve.tensor(x, requires_grad=True)
    F.gelu(ref, approximate).sum().backward()
    with gpu.routed():
        t = gpu.tensor(x, requires_grad=True)
        y = F.gelu(t, approximate)
        y.sum().backward()
        got, got_grad = gpu.get(y.array), gpu.get(t.grad.array)
    np.testing.assert_allclose(got, F.gelu(nerve.tensor(x), approximate).numpy(), **tolerance(np.float32, gpu))
    np.testing.assert_allclose(got_grad, ref.grad.numpy(), **tolerance(np.float32, gpu))
