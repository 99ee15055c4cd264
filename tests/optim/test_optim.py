"""Optimizers against hand-written float64 NumPy versions of PyTorch's documented rules."""
import inspect

import numpy as np
import pytest

import nerve
from nerve import nn, optim

STEPS = 10


# --------------------------------------------------------------- references
def _g(p, g, wd, maximize):
    g = -g if maximize else g
    return g + wd * p


def ref_sgd(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    b = None
    for g in grads:
        g = _g(p, g, weight_decay, maximize)
        if momentum:
            b = g.copy() if b is None else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
    return p


def ref_adam(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
             decoupled=False):
    b1, b2 = betas
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    vmax = np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        g = -g if maximize else g
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat = m / (1 - b1 ** t)
        if amsgrad:
            vmax = np.maximum(vmax, v)
            vhat = vmax / (1 - b2 ** t)
        else:
            vhat = v / (1 - b2 ** t)
        p = p - lr * mhat / (np.sqrt(vhat) + eps)
    return p


def ref_adamw(p, grads, weight_decay=1e-2, **kwargs):
    return ref_adam(p, grads, weight_decay=weight_decay, decoupled=True, **kwargs)


def ref_rmsprop(p, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                maximize=False):
    v = np.zeros_like(p)
    a = np.zeros_like(p)
    b = np.zeros_like(p)
    for g in grads:
        g = _g(p, g, weight_decay, maximize)
        v = alpha * v + (1 - alpha) * g * g
        vt = v
        if centered:
            a = alpha * a + (1 - alpha) * g
            vt = v - a * a
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(vt) + eps)
            p = p - lr * b
        else:
            p = p - lr * g / (np.sqrt(vt) + eps)
    return p


def ref_adagrad(p, grads, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                maximize=False):
    s = np.full_like(p, initial_accumulator_value)
    for t, g in enumerate(grads, 1):
        g = _g(p, g, weight_decay, maximize)
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g
        p = p - clr * g / (np.sqrt(s) + eps)
    return p


def ref_adadelta(p, grads, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    v = np.zeros_like(p)
    u = np.zeros_like(p)
    for g in grads:
        g = _g(p, g, weight_decay, maximize)
        v = rho * v + (1 - rho) * g * g
        dx = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * dx * dx
        p = p - lr * dx
    return p


CASES = [
    (optim.SGD, ref_sgd, dict(lr=0.1)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.9)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    (optim.SGD, ref_sgd, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1, maximize=True)),
    (optim.Adam, ref_adam, dict(lr=0.01)),
    (optim.Adam, ref_adam, dict(lr=0.02, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True)),
    (optim.Adam, ref_adam, dict(lr=0.01, eps=1e-3, maximize=True)),
    (optim.AdamW, ref_adamw, dict(lr=0.01, weight_decay=0.1)),
    (optim.AdamW, ref_adamw, dict(lr=0.01, amsgrad=True)),  # PyTorch's default weight_decay 0.01
    (optim.AdamW, ref_adamw, dict(lr=0.01, weight_decay=0.05, maximize=True, fused=True, foreach=False,
                                  capturable=True)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.01)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.01, alpha=0.9, momentum=0.5, weight_decay=0.05)),
    (optim.RMSprop, ref_rmsprop, dict(lr=0.01, centered=True, momentum=0.9, eps=1e-4)),
    (optim.Adagrad, ref_adagrad, dict(lr=0.1)),
    (optim.Adagrad, ref_adagrad, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5)),
    (optim.Adadelta, ref_adadelta, dict()),
    (optim.Adadelta, ref_adadelta, dict(lr=0.5, rho=0.8, weight_decay=0.1, maximize=True)),
]


def _flags_free(ref):
    """The reference without PyTorch's implementation switches, which change no number."""
    def call(p0, grads, fused=None, foreach=None, capturable=False, **kwargs):
        return ref(p0, grads, **kwargs)
    call.__name__ = ref.__name__
    return call


CASES = [(cls, _flags_free(ref), kwargs) for cls, ref, kwargs in CASES]


def _run(cls, kwargs, p0, grads, dtype=np.float32, device="cpu"):
    p = nn.Parameter(nerve.tensor(p0, dtype=dtype, device=device))
    opt = cls([p], **kwargs)
    for g in grads:
        p.grad = nerve.tensor(g, dtype=dtype, device=device)
        opt.step()
    return p.detach().cpu().numpy().astype(np.float64), opt


@pytest.mark.parametrize("cls,ref,kwargs", CASES, ids=lambda x: getattr(x, "__name__", None) if callable(x) else None)
@pytest.mark.parametrize("shape", [(1,), (7,), (17, 33)])
def test_matches_reference(cls, ref, kwargs, shape, rng):
    p0 = rng.standard_normal(shape)
    grads = [rng.standard_normal(shape) for _ in range(STEPS)]
    got, _ = _run(cls, kwargs, p0, grads)
    want = ref(p0, grads, **kwargs)
    assert not np.allclose(want, p0)  # the update did something
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls,ref,kwargs", CASES[1::3], ids=lambda x: getattr(x, "__name__", None) if callable(x) else None)
def test_float64_and_device(cls, ref, kwargs, rng, device):
    p0 = rng.standard_normal((3, 5))
    grads = [rng.standard_normal((3, 5)) for _ in range(STEPS)]
    got, _ = _run(cls, kwargs, p0, grads, dtype=np.float64, device=device)
    np.testing.assert_allclose(got, ref(p0, grads, **kwargs), rtol=1e-12, atol=1e-12)


def test_noncontiguous_parameter_and_gradient(rng):
    base = rng.standard_normal((6, 4)).astype(np.float32)
    p0 = base.T.astype(np.float64)  # from_numpy shares base's memory, which the steps change
    p = nn.Parameter(nerve.from_numpy(base.T))  # a transposed view: not C-contiguous
    grads = [rng.standard_normal((4, 6)).astype(np.float32).astype(np.float64) for _ in range(3)]
    opt = optim.Adam([p], lr=0.1)
    for g in grads:
        p.grad = nerve.from_numpy(np.asfortranarray(g.astype(np.float32)))  # float32 grads, as the reference's
        opt.step()
    np.testing.assert_allclose(p.detach().numpy(), ref_adam(p0, grads, lr=0.1), rtol=1e-5,
                               atol=1e-6)


def test_param_groups_and_skipped_params(rng):
    a = nn.Parameter(nerve.ones(3))
    b = nn.Parameter(nerve.ones(3))
    c = nn.Parameter(nerve.ones(3))  # never gets a gradient
    opt = optim.SGD([{"params": [a]}, {"params": [b, c], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["momentum"] == 0.9
    a.grad = nerve.ones(3)
    b.grad = nerve.ones(3)
    opt.step()
    np.testing.assert_allclose(a.detach().numpy(), 0.9)
    np.testing.assert_allclose(b.detach().numpy(), 0.5)
    np.testing.assert_allclose(c.detach().numpy(), 1.0)
    assert c not in opt.state


def test_zero_grad():
    p = nn.Parameter(nerve.ones(3))
    opt = optim.SGD([p], lr=0.1)
    p.grad = nerve.ones(3)
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and np.all(p.grad.numpy() == 0)
    opt.zero_grad()
    assert p.grad is None


def test_step_with_closure_returns_loss():
    p = nn.Parameter(nerve.tensor([2.0, -1.0]))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss) == pytest.approx(5.0)
    np.testing.assert_allclose(p.detach().numpy(), [1.0, -0.5])


@pytest.mark.parametrize("cls,ref,kwargs", CASES[1::2], ids=lambda x: getattr(x, "__name__", None) if callable(x) else None)
def test_state_dict_resume_equals_uninterrupted(cls, ref, kwargs, rng):
    p0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(STEPS)]
    want, _ = _run(cls, kwargs, p0, grads)
    half, opt = _run(cls, kwargs, p0, grads[:4])
    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"] and sd["param_groups"][0]["params"] == [0]
    p = nn.Parameter(nerve.tensor(half, dtype=np.float32))
    opt2 = cls([p], lr=123.0)  # hyper-parameters come back from the state dict
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == kwargs.get("lr", opt.defaults["lr"])
    for g in grads[4:]:
        p.grad = nerve.tensor(g, dtype=np.float32)
        opt2.step()
    np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-6, atol=1e-7)


def test_load_state_dict_mismatch():
    p = nn.Parameter(nerve.ones(3))
    opt = optim.Adam([p])
    p.grad = nerve.ones(3)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="parameter group 0 has 1 parameters in the state dict, 2"):
        optim.Adam([nn.Parameter(nerve.ones(3)), nn.Parameter(nerve.ones(3))]).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 0 has shape \(3,\), expected \(4,\)"):
        optim.Adam([nn.Parameter(nerve.ones(4))]).load_state_dict(sd)


@pytest.mark.parametrize("make,msg", [
    (lambda p: optim.SGD(p, lr=-1), "Invalid learning rate"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.9)), "Invalid beta1"),
    (lambda p: optim.RMSprop(p, alpha=2), "Invalid alpha"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), "Invalid lr_decay"),
    (lambda p: optim.Adadelta(p, rho=1.5), "Invalid rho"),
    (lambda p: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda p: optim.SGD([{"params": p}, {"params": p}], lr=0.1), "more than one parameter group"),
])
def test_bad_hyperparameters(make, msg):
    with pytest.raises(ValueError, match=msg):
        make([nn.Parameter(nerve.ones(2))])


def test_lbfgs_first_iteration_and_convergence(rng):
    a = rng.standard_normal((6, 6))
    h = a @ a.T + 6 * np.eye(6)  # SPD quadratic 0.5 x'Hx - b'x
    b = rng.standard_normal(6)
    x = nn.Parameter(nerve.zeros(6, dtype=nerve.float64))
    ht, bt = nerve.tensor(h), nerve.tensor(b)

    def closure():
        opt.zero_grad()
        loss = 0.5 * (x * (ht * x).sum(1)).sum() - (bt * x).sum()
        loss.backward()
        return loss

    opt = optim.LBFGS([x], lr=1.0, max_iter=1)
    opt.step(closure)  # one iteration: x = -min(1, 1/|g|_1) * lr * g with g = -b
    np.testing.assert_allclose(x.detach().numpy(), min(1.0, 1.0 / np.abs(b).sum()) * b, rtol=1e-12)
    opt = optim.LBFGS([x], lr=1.0, max_iter=50, history_size=10, tolerance_change=1e-15, tolerance_grad=1e-12)
    for _ in range(5):
        opt.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), np.linalg.solve(h, b), rtol=1e-5, atol=1e-7)


def _rosenbrock_problem(line_search_fn, max_iter):
    xy = nn.Parameter(nerve.tensor([-1.5, 2.0], dtype=nerve.float64))
    opt = optim.LBFGS([xy], lr=1.0, max_iter=max_iter, line_search_fn=line_search_fn, tolerance_grad=1e-10,
                      tolerance_change=1e-14)
    evals = []

    def closure():
        opt.zero_grad()
        x, y = xy[0], xy[1]
        loss = (1 - x) ** 2 + 100 * (y - x * x) ** 2
        loss.backward()
        evals.append(float(loss))
        return loss

    return xy, opt, closure, evals


def test_lbfgs_strong_wolfe_rosenbrock():
    xy, opt, closure, evals = _rosenbrock_problem("strong_wolfe", max_iter=100)
    first = opt.step(closure)
    assert float(first) == pytest.approx(evals[0]) and evals[0] == pytest.approx(2.5 ** 2 + 100 * 0.25 ** 2)
    np.testing.assert_allclose(xy.detach().numpy(), [1.0, 1.0], atol=1e-6)
    assert opt.state[xy]["func_evals"] == len(evals)
    plain, plain_opt, plain_closure, plain_evals = _rosenbrock_problem(None, max_iter=100)
    plain_opt.step(plain_closure)
    np.testing.assert_allclose(plain.detach().numpy(), [1.0, 1.0], atol=1e-6)
    assert len(evals) < 0.75 * len(plain_evals)  # the line search gets there with fewer evaluations (53 vs 91)


def test_lbfgs_strong_wolfe_steps_satisfy_wolfe_conditions():
    from nerve.optim.lbfgs import _strong_wolfe
    rng = np.random.default_rng(1)
    a = rng.standard_normal((5, 5))
    h = a @ a.T + np.eye(5)
    x0 = rng.standard_normal(5)
    f = lambda x: 0.5 * x @ h @ x + np.sum(np.cos(x))  # noqa: E731
    grad = lambda x: h @ x - np.sin(x)  # noqa: E731
    g0 = grad(x0)
    d = -g0
    loss, g, t, evals = _strong_wolfe(lambda t: (f(x0 + t * d), grad(x0 + t * d)), 1.0, d, f(x0), g0, g0 @ d, 1e-12)
    assert loss == pytest.approx(f(x0 + t * d)) and np.allclose(g, grad(x0 + t * d))
    assert loss <= f(x0) + 1e-4 * t * (g0 @ d)  # sufficient decrease
    assert abs(g @ d) <= 0.9 * abs(g0 @ d)  # curvature
    assert 1 <= evals <= 25


def test_lbfgs_rejects_bad_line_search_and_groups():
    p = nn.Parameter(nerve.ones(2))
    with pytest.raises(ValueError, match="line_search_fn must be None or 'strong_wolfe'"):
        optim.LBFGS([p], line_search_fn="backtracking")
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [p]}, {"params": [nn.Parameter(nerve.ones(2))]}])


def test_l1_penalty(rng):
    w = nn.Parameter(nerve.tensor(rng.standard_normal((3, 4))))
    b = nn.Parameter(nerve.tensor(rng.standard_normal(4)))
    pen = nn.utils.l1_penalty([w, b], 0.01)
    want = 0.01 * (np.abs(w.detach().numpy()).sum() + np.abs(b.detach().numpy()).sum())
    assert float(pen) == pytest.approx(want, rel=1e-6)
    pen.backward()
    np.testing.assert_allclose(w.grad.numpy(), 0.01 * np.sign(w.detach().numpy()), rtol=1e-6)


# PyTorch 2.x's constructor signatures, written out from its documentation: (name, kind, default);
# kind "p" positional-or-keyword, "k" keyword-only. Code passes these by name (fused=True, foreach=False).
_P, _K = "p", "k"
SIGNATURES = {
    "SGD": [("lr", _P, 1e-3), ("momentum", _P, 0), ("dampening", _P, 0), ("weight_decay", _P, 0),
            ("nesterov", _P, False), ("maximize", _K, False), ("foreach", _K, None), ("differentiable", _K, False),
            ("fused", _K, None)],
    "Adam": [("lr", _P, 1e-3), ("betas", _P, (0.9, 0.999)), ("eps", _P, 1e-8), ("weight_decay", _P, 0),
             ("amsgrad", _P, False), ("foreach", _K, None), ("maximize", _K, False), ("capturable", _K, False),
             ("differentiable", _K, False), ("fused", _K, None), ("decoupled_weight_decay", _K, False)],
    "AdamW": [("lr", _P, 1e-3), ("betas", _P, (0.9, 0.999)), ("eps", _P, 1e-8), ("weight_decay", _P, 1e-2),
              ("amsgrad", _P, False), ("maximize", _K, False), ("foreach", _K, None), ("capturable", _K, False),
              ("differentiable", _K, False), ("fused", _K, None)],
    "RMSprop": [("lr", _P, 1e-2), ("alpha", _P, 0.99), ("eps", _P, 1e-8), ("weight_decay", _P, 0),
                ("momentum", _P, 0), ("centered", _P, False), ("capturable", _P, False), ("foreach", _P, None),
                ("maximize", _P, False), ("differentiable", _P, False)],
    "Adagrad": [("lr", _P, 1e-2), ("lr_decay", _P, 0), ("weight_decay", _P, 0), ("initial_accumulator_value", _P, 0),
                ("eps", _P, 1e-10), ("foreach", _P, None), ("maximize", _K, False), ("differentiable", _K, False),
                ("fused", _K, None)],
    "Adadelta": [("lr", _P, 1.0), ("rho", _P, 0.9), ("eps", _P, 1e-6), ("weight_decay", _P, 0),
                 ("foreach", _P, None), ("capturable", _K, False), ("maximize", _K, False),
                 ("differentiable", _K, False)],
    "LBFGS": [("lr", _P, 1), ("max_iter", _P, 20), ("max_eval", _P, None), ("tolerance_grad", _P, 1e-7),
              ("tolerance_change", _P, 1e-9), ("history_size", _P, 100), ("line_search_fn", _P, None)],
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_signature_matches_pytorch(name):
    kinds = {inspect.Parameter.POSITIONAL_OR_KEYWORD: _P, inspect.Parameter.KEYWORD_ONLY: _K}
    params = list(inspect.signature(getattr(optim, name)).parameters.values())
    assert params[0].name == "params"
    assert [(p.name, kinds[p.kind], p.default) for p in params[1:]] == SIGNATURES[name]


def test_differentiable_is_refused_and_flags_are_kept_in_groups():
    p = nn.Parameter(nerve.ones(2))
    with pytest.raises(NotImplementedError, match="differentiable"):
        optim.AdamW([p], differentiable=True)
    group = optim.AdamW([p], fused=True, foreach=False).param_groups[0]
    assert group["fused"] is True and group["foreach"] is False and group["decoupled_weight_decay"] is True


def test_adam_decoupled_weight_decay_is_adamw(rng):
    p0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(STEPS)]
    got, _ = _run(optim.Adam, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True), p0, grads)
    np.testing.assert_allclose(got, ref_adamw(p0, grads, lr=0.01, weight_decay=0.1), rtol=1e-5, atol=1e-6)


def test_param_groups_by_name():
    """optimizer(model.named_parameters()) and groups of (name, param) pairs, as PyTorch 2.x takes them;
    names are kept as 'param_names' and the usual recipe (no decay on biases) works."""
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.SGD(model.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    named = list(model.named_parameters())
    decay = [(n, p) for n, p in named if not n.endswith("bias")]
    no_decay = [(n, p) for n, p in named if n.endswith("bias")]
    opt = optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=0.01)
    assert [g["param_names"] for g in opt.param_groups] == [["0.weight", "2.weight"], ["0.bias", "2.bias"]]
    assert opt.param_groups[1]["params"][0] is model[0].bias
    with pytest.raises(ValueError, match="with/without names"):
        optim.SGD([named[0], model[0].bias], lr=0.1)
