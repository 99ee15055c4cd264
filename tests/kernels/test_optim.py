"""Native optimizer steps (nerve._C.*_step) against NumPy float64, every ISA, and their argument checks."""
import numpy as np
import pytest

from nerve import _C

SIZES = [0, 1, 3, 7, 17, 33, 1000]


def _arrays(rng, n, dtype, k):
    return [rng.standard_normal(n).astype(dtype) for _ in range(k)]


def _check(got, want, dtype):
    tol = dict(rtol=2e-6, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("nesterov,first", [(False, False), (True, False), (False, True)])
def test_sgd_step(isa, rng, n, dtype, nesterov, first):
    p, b, g = _arrays(rng, n, dtype, 3)
    P, B, G = (x.astype(np.float64) for x in (p, b, g))
    lr, mu, damp, wd = 0.1, 0.9, 0.0 if nesterov else 0.25, 0.01
    _C.sgd_step(p, b, g, lr=lr, momentum=mu, dampening=damp, weight_decay=wd, nesterov=nesterov, first_step=first)
    G = G + wd * P
    B = G if first else mu * B + (1 - damp) * G
    _check(b, B, dtype)
    _check(p, P - lr * (G + mu * B if nesterov else B), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
def test_sgd_step_plain_maximize(isa, rng, n, dtype):
    p, g = _arrays(rng, n, dtype, 2)
    want = p.astype(np.float64) - 0.5 * (-g.astype(np.float64))
    _C.sgd_step(p, None, g, lr=0.5, maximize=True)
    _check(p, want, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("amsgrad,decoupled", [(False, False), (True, False), (False, True), (True, True)])
def test_adam_step(isa, rng, n, dtype, amsgrad, decoupled):
    p, m, g = _arrays(rng, n, dtype, 3)
    v, vmax = (np.abs(x) for x in _arrays(rng, n, dtype, 2))
    P, M, V, VM, G = (x.astype(np.float64) for x in (p, m, v, vmax, g))
    lr, b1, b2, eps, wd, t = 0.01, 0.8, 0.95, 1e-6, 0.1, 3
    _C.adam_step(p, m, v, vmax if amsgrad else None, g, lr=lr, beta1=b1, beta2=b2, eps=eps, weight_decay=wd, step=t,
                 decoupled=decoupled)
    if decoupled:
        P = P * (1 - lr * wd)
    else:
        G = G + wd * P
    M = b1 * M + (1 - b1) * G
    V = b2 * V + (1 - b2) * G * G
    VM = np.maximum(VM, V)
    denom = np.sqrt((VM if amsgrad else V) / (1 - b2 ** t)) + eps
    _check(m, M, dtype)
    _check(v, V, dtype)
    if amsgrad:
        _check(vmax, VM, dtype)
    _check(p, P - lr * M / (1 - b1 ** t) / denom, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("centered,momentum", [(False, 0.0), (True, 0.0), (False, 0.9), (True, 0.5)])
def test_rmsprop_step(isa, rng, n, dtype, centered, momentum):
    p, a, b, g = _arrays(rng, n, dtype, 4)
    a *= 0.1  # keep v - a^2 > 0
    v = np.abs(_arrays(rng, n, dtype, 1)[0]) + 1
    P, V, A, B, G = (x.astype(np.float64) for x in (p, v, a, b, g))
    lr, alpha, eps, wd = 0.01, 0.9, 1e-8, 0.05
    _C.rmsprop_step(p, v, a if centered else None, b if momentum else None, g, lr=lr, alpha=alpha, eps=eps,
                    weight_decay=wd, momentum=momentum)
    G = G + wd * P
    V = alpha * V + (1 - alpha) * G * G
    A = alpha * A + (1 - alpha) * G
    step = G / (np.sqrt(V - A * A if centered else V) + eps)
    if momentum:
        B = momentum * B + step
        step = B
        _check(b, B, dtype)
    _check(v, V, dtype)
    _check(p, P - lr * step, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
def test_adagrad_step(isa, rng, n, dtype):
    p, g = _arrays(rng, n, dtype, 2)
    s = np.abs(_arrays(rng, n, dtype, 1)[0])
    P, S, G = (x.astype(np.float64) for x in (p, s, g))
    _C.adagrad_step(p, s, g, lr=0.1, lr_decay=0.5, eps=1e-10, weight_decay=0.1, step=4)
    G = G + 0.1 * P
    S = S + G * G
    _check(s, S, dtype)
    _check(p, P - 0.1 / (1 + 3 * 0.5) * G / (np.sqrt(S) + 1e-10), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
def test_adadelta_step(isa, rng, n, dtype):
    p, g = _arrays(rng, n, dtype, 2)
    v, u = (np.abs(x) for x in _arrays(rng, n, dtype, 2))
    P, V, U, G = (x.astype(np.float64) for x in (p, v, u, g))
    lr, rho, eps, wd = 0.7, 0.85, 1e-6, 0.02
    _C.adadelta_step(p, v, u, g, lr=lr, rho=rho, eps=eps, weight_decay=wd, maximize=True)
    G = -G + wd * P
    V = rho * V + (1 - rho) * G * G
    dx = np.sqrt(U + eps) / np.sqrt(V + eps) * G
    U = rho * U + (1 - rho) * dx * dx
    _check(v, V, dtype)
    _check(u, U, dtype)
    _check(p, P - lr * dx, dtype)


def test_denormal_state_is_flushed(isa):
    # A decaying momentum buffer in the denormal range must not produce denormals (FTZ/DAZ).
    tiny = np.float32(1e-39)
    p, b, g = np.zeros(64, np.float32), np.full(64, tiny, np.float32), np.zeros(64, np.float32)
    _C.sgd_step(p, b, g, lr=0.1, momentum=0.5)
    assert np.all(b == 0)


def _bad(fn, match):
    with pytest.raises(ValueError, match=match):
        fn()


def test_bad_inputs():
    f32 = lambda *s: np.zeros(s or (4,), np.float32)  # noqa: E731
    p = f32()
    _bad(lambda: _C.sgd_step(p, None, f32(3), lr=0.1), r"sgd_step: argument 'grad_param' expected shape \(4,\) \(param's\), got \(3,\)")
    _bad(lambda: _C.sgd_step(p, None, np.zeros(4), lr=0.1), "sgd_step: argument 'grad_param' expected dtype float32, got float64")
    _bad(lambda: _C.sgd_step(np.zeros(4, np.int32), None, np.zeros(4, np.int32), lr=0.1),
         "sgd_step: argument 'param' expected dtype float32 or float64, got int32")
    _bad(lambda: _C.sgd_step(f32(4, 2)[:, 0], None, f32(4), lr=0.1), "sgd_step: argument 'param' must be C-contiguous")
    ro = f32()
    ro.flags.writeable = False
    _bad(lambda: _C.sgd_step(ro, None, f32(), lr=0.1), "sgd_step: argument 'param' must be writable")
    _bad(lambda: _C.sgd_step(p, None, [0.0] * 4, lr=0.1), "sgd_step: argument 'grad_param' expected a numpy array, got <class 'list'>")
    _bad(lambda: _C.sgd_step(p, None, f32(), lr=-1.0), "sgd_step: argument 'lr' expected a finite value >= 0, got -1")
    _bad(lambda: _C.sgd_step(p, None, f32(), lr=float("nan")), "sgd_step: argument 'lr' expected a finite value >= 0")
    _bad(lambda: _C.sgd_step(p, None, p, lr=0.1), "sgd_step: arguments 'param' and 'grad_param' overlap in memory")
    both = f32(8)
    _bad(lambda: _C.adam_step(both[:4], both[4:], f32(), None, both[2:6], lr=0.1, step=1),
         "adam_step: arguments 'param' and 'grad_param' overlap")
    _bad(lambda: _C.sgd_step(p, None, f32(), lr=0.1, momentum=0.9), "'momentum_buffer' must be an array when momentum != 0")
    _bad(lambda: _C.sgd_step(p, f32(), f32(), lr=0.1), "'momentum_buffer' must be None when momentum == 0")
    _bad(lambda: _C.sgd_step(p, f32(), f32(), lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
         "nesterov momentum requires momentum > 0 and dampening = 0")
    _bad(lambda: _C.sgd_step(p, f32(), f32(), lr=0.1, momentum=0.9, dampening=2.0),
         r"argument 'dampening' expected a value in \[0, 1\], got 2")
    _bad(lambda: _C.adam_step(p, f32(), f32(), None, f32(), lr=0.1, beta1=1.0, step=1),
         r"adam_step: argument 'beta1' expected a value in \[0, 1\), got 1")
    _bad(lambda: _C.adam_step(p, f32(), f32(), None, f32(), lr=0.1, step=0), "adam_step: argument 'step' expected >= 1, got 0")
    _bad(lambda: _C.adam_step(p, f32(), f32(), f32(5), f32(), lr=0.1, step=1, decoupled=True),
         r"adamw_step: argument 'max_exp_avg_sq' expected shape \(4,\)")
    _bad(lambda: _C.adam_step(p, None, f32(), None, f32(), lr=0.1, step=1), "'exp_avg' must be an array when running Adam")
    _bad(lambda: _C.rmsprop_step(p, f32(), None, None, f32(), lr=0.1, alpha=1.5), r"rmsprop_step: argument 'alpha' expected a value in \[0, 1\]")
    _bad(lambda: _C.rmsprop_step(p, f32(), None, f32(), f32(), lr=0.1), "'momentum_buffer' must be None when momentum == 0")
    _bad(lambda: _C.adagrad_step(p, f32(), f32(), lr=0.1, lr_decay=-1.0, step=1), "adagrad_step: argument 'lr_decay'")
    _bad(lambda: _C.adadelta_step(p, f32(), f32(), f32(), rho=-0.5), r"adadelta_step: argument 'rho' expected a value in \[0, 1\]")
    _bad(lambda: _C.adadelta_step(p, f32(), f32(), f32(), eps=-1.0), "adadelta_step: argument 'eps'")


@pytest.fixture
def xp_backend():
    """backend/cuda.py on the CPU emulation of CUDA (backend.cuda_emu: numpy arrays, nerve._cuda_emu's fused
    step kernels), so the GPU path's formulas are checked without a GPU."""
    from nerve.backend import cuda_emu
    return cuda_emu


STEP_CASES = [
    ("sgd_step", 1, dict(lr=0.1)),
    ("sgd_step", 1, dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.1, first_step=True)),
    ("sgd_step", 1, dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("adam_step", 3, dict(lr=0.01, beta1=0.8, beta2=0.9, weight_decay=0.1, step=2)),
    ("adam_step", 3, dict(lr=0.01, weight_decay=0.1, step=5, decoupled=True, maximize=True)),
    ("rmsprop_step", 3, dict(lr=0.01, alpha=0.9, weight_decay=0.1, momentum=0.5)),
    ("adagrad_step", 1, dict(lr=0.1, lr_decay=0.1, weight_decay=0.1, step=3)),
    ("adadelta_step", 2, dict(lr=0.5, rho=0.8, weight_decay=0.1)),
]


@pytest.mark.parametrize("name,n_states,options", STEP_CASES)
@pytest.mark.parametrize("optional", [False, True])
def test_xp_fallback_matches_native(xp_backend, rng, name, n_states, options, optional):
    from nerve.backend import cpu
    arrays = [rng.standard_normal(17) for _ in range(n_states + 2)]
    arrays[2:n_states + 1] = [np.abs(a) + 0.5 for a in arrays[2:n_states + 1]]  # second moments > 0
    if name in ("adagrad_step", "adadelta_step"):
        arrays[1] = np.abs(arrays[1]) + 0.5  # state_sum, square_avg
    if name == "sgd_step" and not options.get("momentum"):
        arrays[1] = None  # no momentum buffer without momentum
    if name == "adam_step" and not optional:
        arrays[3] = None  # amsgrad off
    if name == "rmsprop_step":
        arrays[1] = np.abs(arrays[1]) + 1.0  # square_avg
        arrays[2] = 0.1 * arrays[2] if optional else None  # centered
    a = [None if x is None else x.copy() for x in arrays]
    b = [None if x is None else x.copy() for x in arrays]
    getattr(cpu, name)(*a, **options)
    getattr(xp_backend, name)(*b, **options)
    for x, y in zip(a, b):
        if x is not None:
            np.testing.assert_allclose(y, x, rtol=1e-12, atol=1e-14)
    assert not np.array_equal(a[0], arrays[0])
