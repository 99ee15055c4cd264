"""Fused optimizer step kernels (csrc/cuda/optim.cuh) against the CPU backend, through the GPU backend, and
the nerve.optim classes on the GPU path. Fixture `gpu`: conftest.py."""
import numpy as np
import pytest

from nerve.backend import cpu

from .conftest import tolerance

# (backend function, state arrays: name -> positive?, options); every option of every rule.
CASES = [
    ("sgd_step", [None], dict(lr=0.1)),
    ("sgd_step", [None], dict(lr=0.1, weight_decay=0.1, maximize=True)),
    ("sgd_step", ["momentum_buffer"], dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.1, first_step=True)),
    ("sgd_step", ["momentum_buffer"], dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.1)),
    ("sgd_step", ["momentum_buffer"], dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("sgd_step", ["momentum_buffer"], dict(lr=0.1, momentum=0.9, nesterov=True, first_step=True)),
    ("adam_step", ["exp_avg", "+exp_avg_sq", None], dict(lr=0.01, beta1=0.8, beta2=0.9, weight_decay=0.1, step=2)),
    ("adam_step", ["exp_avg", "+exp_avg_sq", "+max_exp_avg_sq"], dict(lr=0.01, step=1)),
    ("adam_step", ["exp_avg", "+exp_avg_sq", None], dict(lr=0.01, weight_decay=0.1, step=5, decoupled=True,
                                                         maximize=True)),
    ("adam_step", ["exp_avg", "+exp_avg_sq", "+max_exp_avg_sq"], dict(lr=0.01, weight_decay=0.01, step=7,
                                                                      decoupled=True)),
    ("rmsprop_step", ["+square_avg", None, None], dict(lr=0.01, alpha=0.9)),
    ("rmsprop_step", ["+square_avg", "grad_avg", None], dict(lr=0.01, alpha=0.9, weight_decay=0.1)),
    ("rmsprop_step", ["+square_avg", None, "momentum_buffer"], dict(lr=0.01, momentum=0.5, maximize=True)),
    ("rmsprop_step", ["+square_avg", "grad_avg", "momentum_buffer"], dict(lr=0.01, alpha=0.5, momentum=0.5)),
    ("adagrad_step", ["+state_sum"], dict(lr=0.1, lr_decay=0.1, weight_decay=0.1, step=3)),
    ("adagrad_step", ["+state_sum"], dict(lr=0.1, step=1, maximize=True)),
    ("adadelta_step", ["+square_avg", "+acc_delta"], dict(lr=0.5, rho=0.8, weight_decay=0.1)),
    ("adadelta_step", ["+square_avg", "+acc_delta"], dict(maximize=True)),
]


def arrays(rng, states, shape, dtype):
    param, grad = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    st = []
    for s in states:
        if s is None:
            st.append(None)
        else:
            a = rng.standard_normal(shape)
            st.append((np.abs(a) + 0.5 if s.startswith("+") else 0.1 * a).astype(dtype))
    return param, st, grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0,), (1,), (3,), (17,), (33, 3), (1031,)])
@pytest.mark.parametrize("name,states,options", CASES, ids=lambda v: str(v) if isinstance(v, str) else None)
def test_step_matches_cpu(gpu, rng, name, states, options, shape, dtype):
    param, st, grad = arrays(rng, states, shape, dtype)
    ref_p, ref_s = param.copy(), [None if s is None else s.copy() for s in st]
    dev_p, dev_s = gpu.put(param), [gpu.put(s) for s in st]
    for _ in range(3):  # three steps: the state feeds back
        getattr(cpu, name)(ref_p, *ref_s, grad, **options)
        getattr(gpu.be, name)(dev_p, *dev_s, gpu.put(grad), **options)
    # atol: a few ulp of the operands (~1): the CPU's AVX2/AVX-512 loops contract into FMAs, g++ here does not
    tol = dict(tolerance(dtype, gpu), atol=8 * np.finfo(dtype).eps)
    np.testing.assert_allclose(gpu.get(dev_p), ref_p, **tol)
    for r, d in zip(ref_s, dev_s):
        if r is not None:
            np.testing.assert_allclose(gpu.get(d), r, **tol)
    if param.size:
        assert not np.array_equal(ref_p, param)


def test_non_contiguous_parameter_and_gradient(gpu, rng):
    base = rng.standard_normal((6, 8))
    grad = rng.standard_normal((8, 6)).T  # transposed: not contiguous
    ref = base.copy()
    m_ref, v_ref = np.zeros((6, 4)), np.zeros((6, 4))
    cpu.adam_step(ref[:, ::2], m_ref, v_ref, None, grad[:, ::2], lr=0.1, step=1)
    dev = gpu.put(base)
    m, v = gpu.put(np.zeros((6, 4))), gpu.put(np.zeros((6, 4)))
    gpu.be.adam_step(dev[:, ::2], m, v, None, gpu.put(grad)[:, ::2], lr=0.1, step=1)
    np.testing.assert_allclose(gpu.get(dev), ref, **tolerance(np.float64, gpu))
    np.testing.assert_allclose(gpu.get(v), v_ref, **tolerance(np.float64, gpu))


def test_binding_checks_match_the_cpu_binding(gpu):
    from nerve import _C
    K = gpu.be._K
    f32 = lambda n=4: np.zeros(n, np.float32)  # noqa: E731
    cases = [
        lambda m, p: m.sgd_step(p(f32()), None, p(f32(5)), lr=0.1),
        lambda m, p: m.sgd_step(p(f32()), None, p(np.zeros(4)), lr=0.1),
        lambda m, p: m.sgd_step(p(f32()), None, p(f32()), lr=-1.0),
        lambda m, p: m.sgd_step(p(f32()), None, p(f32()), lr=0.1, momentum=0.9),
        lambda m, p: m.sgd_step(p(f32()), p(f32()), p(f32()), lr=0.1, momentum=0.9, nesterov=True, dampening=0.1),
        lambda m, p: m.adam_step(p(f32()), p(f32()), p(f32()), p(f32(5)), p(f32()), lr=0.1, step=1, decoupled=True),
        lambda m, p: m.adam_step(p(f32()), None, p(f32()), None, p(f32()), lr=0.1, step=1),
        lambda m, p: m.adam_step(p(f32()), p(f32()), p(f32()), None, p(f32()), lr=0.1, step=0),
        lambda m, p: m.rmsprop_step(p(f32()), p(f32()), None, None, p(f32()), lr=0.1, alpha=1.5),
        lambda m, p: m.rmsprop_step(p(f32()), p(f32()), None, p(f32()), p(f32()), lr=0.1),
        lambda m, p: m.adagrad_step(p(f32()), p(f32()), p(f32()), lr=0.1, lr_decay=-1.0, step=1),
        lambda m, p: m.adadelta_step(p(f32()), p(f32()), p(f32()), p(f32()), rho=-0.5),
        lambda m, p: m.adadelta_step(p(np.zeros(4, np.int32)), p(f32()), p(f32()), p(f32())),
    ]
    for c in cases:
        with pytest.raises(ValueError) as cpu_error:
            c(_C, lambda a: a)
        with pytest.raises(ValueError) as gpu_error:
            c(K, gpu.put)
        assert str(gpu_error.value) == str(cpu_error.value)
    p = gpu.put(np.zeros(8, np.float32))
    with pytest.raises(ValueError, match="sgd_step: arguments 'param' and 'grad_param' overlap in memory"):
        K.sgd_step(p[:4], None, p[2:6], lr=0.1)


@pytest.mark.parametrize("opt", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"])
def test_optimizer_classes_on_the_gpu_path(gpu, rng, opt):
    """nerve.optim.<opt> steps a parameter on the GPU backend as on the CPU (state created by the optimizer)."""
    import nerve
    import nerve.optim as optim
    options = {"SGD": dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
               "Adam": dict(lr=0.01, amsgrad=True), "AdamW": dict(lr=0.01), "RMSprop": dict(lr=0.01, centered=True,
                                                                                             momentum=0.5),
               "Adagrad": dict(lr=0.1, lr_decay=0.01), "Adadelta": dict(lr=1.0)}[opt]
    w0 = rng.standard_normal((5, 3)).astype(np.float32)
    grads = [rng.standard_normal((5, 3)).astype(np.float32) for _ in range(3)]

    def train(make):
        p = make(w0)
        o = getattr(optim, opt)([p], **options)
        for g in grads:
            p.grad = make(g)
            o.step()
        return p

    ref = train(lambda a: nerve.nn.Parameter(nerve.tensor(a)))
    with gpu.routed():
        got = gpu.get(train(lambda a: nerve.nn.Parameter(gpu.tensor(a))).array)
    np.testing.assert_allclose(got, ref.detach().numpy(), **tolerance(np.float32, gpu))
