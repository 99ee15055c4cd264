"""Losses against float64 NumPy references written from PyTorch's documented
formulas, with finite-difference gradient checks, edge sizes and bad input."""
import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.nn import functional as F
from nerve.testing import gradcheck

REDUCTIONS = ["mean", "sum", "none"]


# ------------------------------------------------------------- references
def _log_softmax(x, axis=1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def _reduce(per, reduction, denom=None):
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    denom = per.size if denom is None else denom
    return per.sum() / denom if denom else np.nan


def ref_cross_entropy(x, t, weight=None, ignore_index=-100, reduction="mean", eps=0.0):
    """PyTorch: (1 - eps) nll_loss(log_softmax, t, w) + eps / C * smooth, both over the weights of kept targets."""
    x = np.asarray(x, np.float64)
    C = x.shape[1]
    lp = np.moveaxis(_log_softmax(x), 1, -1).reshape(-1, C)
    tt = np.asarray(t).reshape(-1)
    w = np.ones(C) if weight is None else np.asarray(weight, np.float64)
    valid = tt != ignore_index
    safe = np.where(valid, tt, 0)
    nll = np.where(valid, -lp[np.arange(len(tt)), safe] * w[safe], 0.0)
    smooth = np.where(valid, -(lp * w).sum(axis=1), 0.0)
    per = ((1 - eps) * nll + eps / C * smooth).reshape(np.shape(t))
    return _reduce(per, reduction, w[safe][valid].sum())


def ref_cross_entropy_probs(x, y, weight=None, reduction="mean", eps=0.0):
    x = np.asarray(x, np.float64)
    C = x.shape[1]
    w = np.ones(C) if weight is None else np.asarray(weight, np.float64)
    w = w.reshape((1, C) + (1,) * (x.ndim - 2))
    y = (1 - eps) * np.asarray(y, np.float64) + eps / C
    per = -(w * y * _log_softmax(x)).sum(axis=1)
    return _reduce(per, reduction)


def ref_nll(lp, t, weight=None, ignore_index=-100, reduction="mean"):
    C = lp.shape[1]
    rows = np.moveaxis(lp, 1, -1).reshape(-1, C)
    tt = np.asarray(t).reshape(-1)
    w = np.ones(C) if weight is None else np.asarray(weight, np.float64)
    valid = tt != ignore_index
    safe = np.where(valid, tt, 0)
    per = np.where(valid, -rows[np.arange(len(tt)), safe] * w[safe], 0.0).reshape(np.shape(t))
    return _reduce(per, reduction, w[safe][valid].sum())


def ref_smooth_l1(x, y, beta):
    d = np.abs(x - y)
    return d if beta == 0 else np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)


def ref_huber(x, y, delta):
    d = np.abs(x - y)
    return np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))


def ref_bce(x, y, w=None):
    per = -(y * np.maximum(np.log(x), -100) + (1 - y) * np.maximum(np.log(1 - x), -100))
    return per if w is None else per * w


def ref_bce_logits(x, y, w=None, pw=None):
    # log sigmoid(x) = -log(1 + e^-x), log(1 - sigmoid(x)) = -log(1 + e^x)
    pw = 1.0 if pw is None else pw
    per = pw * y * np.logaddexp(0, -x) + (1 - y) * np.logaddexp(0, x)
    return per if w is None else per * w


def ref_kl(x, y, log_target=False):
    if log_target:
        return np.exp(y) * (y - x)
    return np.where(y > 0, y * np.log(np.where(y > 0, y, 1)), 0) - y * x


def t64(a, grad=False):
    return nerve.tensor(np.asarray(a, np.float64), requires_grad=grad)


def check(out, ref, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(np.asarray(out.detach().numpy(), np.float64), ref, rtol=rtol, atol=atol)


def class_targets(rng, shape, C, ignore_index=None):
    t = rng.integers(0, C, size=shape)
    if ignore_index is not None and t.size > 1:
        t.reshape(-1)[::3] = ignore_index
    return t


# ------------------------------------------------------ cross-entropy: indices
@pytest.mark.parametrize("N", [1, 3, 7])
@pytest.mark.parametrize("C", [1, 3, 17])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_cross_entropy_indices_match_reference(N, C, reduction, weighted, eps, rng):
    x = rng.standard_normal((N, C)) * 3
    t = class_targets(rng, N, C, ignore_index=-100 if N > 1 else None)
    w = rng.uniform(0.2, 2.0, C) if weighted else None
    out = F.cross_entropy(t64(x), nerve.tensor(t), None if w is None else t64(w), reduction=reduction,
                          label_smoothing=eps)
    check(out, ref_cross_entropy(x, t, w, -100, reduction, eps))


@pytest.mark.parametrize("eps", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_indices_gradcheck(eps, weighted, reduction, rng):
    x = rng.standard_normal((3, 4))
    t = nerve.tensor([2, -1, 0])
    w = t64(rng.uniform(0.5, 2.0, 4)) if weighted else None
    assert gradcheck(lambda x: F.cross_entropy(x, t, w, ignore_index=-1, reduction=reduction, label_smoothing=eps),
                     [x])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_spatial_dims(reduction, rng):
    x = rng.standard_normal((2, 5, 3, 4))
    t = class_targets(rng, (2, 3, 4), 5, ignore_index=7)
    w = rng.uniform(0.5, 1.5, 5)
    out = F.cross_entropy(t64(x), nerve.tensor(t), t64(w), ignore_index=7, reduction=reduction, label_smoothing=0.1)
    check(out, ref_cross_entropy(x, t, w, 7, reduction, 0.1))
    assert gradcheck(lambda x: F.cross_entropy(x, nerve.tensor(t[:1, :2, :3]), t64(w), ignore_index=7,
                                               reduction=reduction, label_smoothing=0.1), [x[:1, :, :2, :3]])


def test_cross_entropy_float32_close_to_float64(rng):
    x = rng.standard_normal((7, 17)).astype(np.float32)
    t = rng.integers(0, 17, 7)
    xt = nerve.tensor(x, requires_grad=True)
    out = F.cross_entropy(xt, nerve.tensor(t), label_smoothing=0.1)
    assert out.dtype == np.float32
    out.backward()
    check(out, ref_cross_entropy(x, t, eps=0.1), rtol=1e-5)
    p = np.exp(_log_softmax(x.astype(np.float64)))
    y = np.full((7, 17), 0.1 / 17)
    y[np.arange(7), t] += 0.9
    np.testing.assert_allclose(xt.grad.numpy(), (p - y) / 7, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_extreme_logits_stay_finite(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], dtype)
    t = np.array([1, 2, 0])
    xt = nerve.tensor(x, requires_grad=True)
    out = F.cross_entropy(xt, nerve.tensor(t), reduction="none", label_smoothing=0.1)
    out.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), ref_cross_entropy(x.astype(np.float64), t, reduction="none", eps=0.1),
                               rtol=1e-6)
    assert np.isfinite(xt.grad.numpy()).all()
    np.testing.assert_allclose(xt.grad.numpy().sum(axis=1), 0, atol=1e-6)  # softmax - target sums to 0 per row
    assert out.detach().numpy()[0] == pytest.approx(0.9 * 2e4 + 0.1 / 3 * (2e4 + 0 + 1e4), rel=1e-6)


def test_cross_entropy_everything_ignored():
    x = t64(np.ones((3, 4)), grad=True)
    t = nerve.tensor([5, 5, 5])
    assert np.isnan(F.cross_entropy(x, t, ignore_index=5).item())
    assert np.isnan(F.cross_entropy(x, t, t64(np.ones(4)), ignore_index=5, label_smoothing=0.2).item())
    out = F.cross_entropy(x, t, ignore_index=5, reduction="sum")
    assert out.item() == 0
    out.backward()
    assert (x.grad.numpy() == 0).all()
    np.testing.assert_array_equal(F.cross_entropy(x, t, ignore_index=5, reduction="none").detach().numpy(), [0, 0, 0])


def test_cross_entropy_unbatched(rng):
    x = rng.standard_normal(5)
    for reduction in REDUCTIONS:
        out = F.cross_entropy(t64(x), nerve.tensor(3), reduction=reduction)
        assert out.shape == ()
        check(out, ref_cross_entropy(x[None], np.array([3]), reduction="sum"))
        y = rng.dirichlet(np.ones(5))
        check(F.cross_entropy(t64(x), t64(y), reduction=reduction), ref_cross_entropy_probs(x[None], y[None], reduction="sum"))


def test_cross_entropy_module_matches_functional_and_holds_weight(rng):
    w = t64(rng.uniform(0.5, 2, 4))
    loss = nn.CrossEntropyLoss(weight=w, ignore_index=1, reduction="sum", label_smoothing=0.05)
    x, t = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    check(loss(t64(x), nerve.tensor(t)), ref_cross_entropy(x, t, w.numpy(), 1, "sum", 0.05))
    assert list(loss.state_dict()) == ["weight"]
    assert repr(loss) == "CrossEntropyLoss()"


# -------------------------------------------------- cross-entropy: probabilities
@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (7, 17), (2, 3, 4)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probabilities(shape, reduction, rng):
    x = rng.standard_normal(shape)
    y = rng.dirichlet(np.ones(shape[1]), size=(shape[0],) + shape[2:])
    y = np.moveaxis(y, -1, 1)
    w = rng.uniform(0.5, 2.0, shape[1])
    for weight, eps in [(None, 0.0), (w, 0.25)]:
        out = F.cross_entropy(t64(x), t64(y), None if weight is None else t64(weight), reduction=reduction,
                              label_smoothing=eps)
        check(out, ref_cross_entropy_probs(x, y, weight, reduction, eps))
    small = (slice(0, 2), slice(None)) + (slice(0, 2),) * (len(shape) - 2)
    assert gradcheck(lambda x, y: F.cross_entropy(x, y, t64(w), reduction=reduction, label_smoothing=0.25),
                     [x[small], y[small]])


# ------------------------------------------------------------------ NLL loss
@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (7, 17), (2, 3, 5)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(shape, reduction, weighted, rng):
    lp = _log_softmax(rng.standard_normal(shape))
    t = class_targets(rng, (shape[0],) + shape[2:], shape[1], ignore_index=-100)
    w = rng.uniform(0.5, 2.0, shape[1]) if weighted else None
    out = F.nll_loss(t64(lp), nerve.tensor(t), None if w is None else t64(w), reduction=reduction)
    check(out, ref_nll(lp, t, w, -100, reduction))
    module = nn.NLLLoss(None if w is None else t64(w), reduction=reduction)
    check(module(t64(lp), nerve.tensor(t)), ref_nll(lp, t, w, -100, reduction))
    assert gradcheck(lambda x: F.nll_loss(x, nerve.tensor(t), None if w is None else t64(w), reduction=reduction), [lp])


def test_nll_loss_everything_ignored():
    assert np.isnan(F.nll_loss(t64(np.zeros((2, 3))), nerve.tensor([-100, -100])).item())
    assert F.nll_loss(t64(np.zeros((2, 3))), nerve.tensor([-100, -100]), reduction="sum").item() == 0


# ---------------------------------------------------------- pointwise losses
POINTWISE = [
    ("mse", lambda x, y, r: F.mse_loss(x, y, reduction=r), lambda x, y: (x - y) ** 2, nn.MSELoss),
    ("l1", lambda x, y, r: F.l1_loss(x, y, reduction=r), lambda x, y: np.abs(x - y), nn.L1Loss),
    ("smooth_l1 beta=1", lambda x, y, r: F.smooth_l1_loss(x, y, reduction=r), lambda x, y: ref_smooth_l1(x, y, 1.0),
     nn.SmoothL1Loss),
    ("smooth_l1 beta=0.3", lambda x, y, r: F.smooth_l1_loss(x, y, reduction=r, beta=0.3),
     lambda x, y: ref_smooth_l1(x, y, 0.3), lambda reduction: nn.SmoothL1Loss(reduction, beta=0.3)),
    ("smooth_l1 beta=0", lambda x, y, r: F.smooth_l1_loss(x, y, reduction=r, beta=0.0),
     lambda x, y: ref_smooth_l1(x, y, 0.0), lambda reduction: nn.SmoothL1Loss(reduction, beta=0.0)),
    ("huber delta=1", lambda x, y, r: F.huber_loss(x, y, reduction=r), lambda x, y: ref_huber(x, y, 1.0),
     nn.HuberLoss),
    ("huber delta=0.4", lambda x, y, r: F.huber_loss(x, y, reduction=r, delta=0.4), lambda x, y: ref_huber(x, y, 0.4),
     lambda reduction: nn.HuberLoss(reduction, delta=0.4)),
]


@pytest.mark.parametrize("name,fn,ref,module", POINTWISE, ids=[p[0] for p in POINTWISE])
@pytest.mark.parametrize("shape", [(1,), (3, 7), (2, 3, 17)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pointwise_losses(name, fn, ref, module, shape, reduction, rng):
    x, y = rng.standard_normal(shape), rng.standard_normal(shape)
    check(fn(t64(x), t64(y), reduction), _reduce(ref(x, y), reduction))
    check(module(reduction=reduction)(t64(x), t64(y)), _reduce(ref(x, y), reduction))
    assert gradcheck(lambda x, y: fn(x, y, reduction), [x[:3], y[:3]])


@pytest.mark.parametrize("name,fn,ref,module", POINTWISE, ids=[p[0] for p in POINTWISE])
def test_pointwise_losses_float32(name, fn, ref, module, rng):
    x, y = rng.standard_normal((7, 3)).astype(np.float32), rng.standard_normal((7, 3)).astype(np.float32)
    out = fn(nerve.tensor(x), nerve.tensor(y), "mean")
    assert out.dtype == np.float32
    check(out, ref(x.astype(np.float64), y.astype(np.float64)).mean(), rtol=1e-5)


def test_pointwise_broadcast_warns_like_pytorch(rng):
    x, y = rng.standard_normal((3, 4)), rng.standard_normal(4)
    with pytest.warns(UserWarning, match=r"mse_loss: using a target size \(4,\) that is different"):
        out = F.mse_loss(t64(x), t64(y))
    check(out, ((x - y) ** 2).mean())
    with pytest.warns(UserWarning):
        assert gradcheck(lambda x, y: F.huber_loss(x, y, reduction="sum", delta=0.5), [x, y])
    with pytest.raises(ValueError, match=r"l1_loss: the size of target \(3,\) does not broadcast"):
        F.l1_loss(t64(x), t64(np.zeros(3)))


# ---------------------------------------------------------------------- BCE
@pytest.mark.parametrize("shape", [(1,), (3, 7), (2, 3, 5)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(shape, reduction, rng):
    x = rng.uniform(0.05, 0.95, shape)
    y = rng.uniform(0, 1, shape)
    w = rng.uniform(0.5, 2.0, shape[-1:])
    check(F.binary_cross_entropy(t64(x), t64(y), reduction=reduction), _reduce(ref_bce(x, y), reduction))
    check(nn.BCELoss(t64(w), reduction=reduction)(t64(x), t64(y)), _reduce(ref_bce(x, y, w), reduction))
    assert gradcheck(lambda x, y: F.binary_cross_entropy(x, y, t64(w), reduction=reduction), [x, y])


def test_binary_cross_entropy_clamps_log_at_minus_100():
    x = t64([0.0, 1.0, 0.0, 1.0], grad=True)
    y = t64([1.0, 0.0, 0.0, 1.0])
    out = F.binary_cross_entropy(x, y, reduction="none")
    np.testing.assert_array_equal(out.detach().numpy(), [100, 100, 0, 0])
    out.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()  # PyTorch: (x - y) / max(x (1 - x), 1e-12)
    np.testing.assert_allclose(x.grad.numpy(), [-1e12, 1e12, 0, 0])


@pytest.mark.parametrize("shape", [(1,), (3, 7), (2, 3, 5)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits(shape, reduction, rng):
    x = rng.standard_normal(shape) * 3
    y = rng.uniform(0, 1, shape)
    w = rng.uniform(0.5, 2.0, shape[-1:])
    pw = rng.uniform(0.5, 3.0, shape[-1:])
    check(F.binary_cross_entropy_with_logits(t64(x), t64(y), reduction=reduction),
          _reduce(ref_bce_logits(x, y), reduction))
    module = nn.BCEWithLogitsLoss(t64(w), reduction=reduction, pos_weight=t64(pw))
    check(module(t64(x), t64(y)), _reduce(ref_bce_logits(x, y, w, pw), reduction))
    assert list(module.state_dict()) == ["weight", "pos_weight"]
    assert gradcheck(lambda x, y: F.binary_cross_entropy_with_logits(x, y, t64(w), reduction, t64(pw)), [x, y])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_with_logits_extreme(dtype):
    x = nerve.tensor(np.array([1e4, -1e4, 1e4, -1e4, 0.0], dtype), requires_grad=True)
    y = nerve.tensor(np.array([1, 0, 0, 1, 0.5], dtype))
    out = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(out.detach().numpy(), [0, 0, 1e4, 1e4, np.log(2)], rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 0, 1, -1, 0], atol=1e-7)


# ----------------------------------------------------------------------- KL
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (2, 3, 5)])
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(shape, reduction, log_target, rng):
    x = _log_softmax(rng.standard_normal(shape))
    y = rng.dirichlet(np.ones(shape[1]), size=(shape[0],) + shape[2:])
    y = np.moveaxis(y, -1, 1)
    if log_target:
        y = np.log(y)
    elif y.size > 2:
        y.reshape(-1)[1] = 0.0  # zero targets contribute 0 (xlogy)
    per = ref_kl(x, y, log_target)
    ref = per.sum() / shape[0] if reduction == "batchmean" else _reduce(per, reduction)
    check(F.kl_div(t64(x), t64(y), reduction=reduction, log_target=log_target), ref)
    check(nn.KLDivLoss(reduction, log_target)(t64(x), t64(y)), ref)
    if log_target or y.size <= 2:
        assert gradcheck(lambda x, y: F.kl_div(x, y, reduction, log_target), [x, y])
    else:
        assert gradcheck(lambda x: F.kl_div(x, t64(y), reduction, log_target), [x])


# --------------------------------------------------------------- zero batch
ZERO = [
    ("cross_entropy", lambda r: F.cross_entropy(t64(np.zeros((0, 3)), True), nerve.tensor(np.zeros(0, np.int64)),
                                                reduction=r)),
    ("cross_entropy weighted", lambda r: F.cross_entropy(t64(np.zeros((0, 3)), True),
                                                         nerve.tensor(np.zeros(0, np.int64)), t64(np.ones(3)),
                                                         reduction=r, label_smoothing=0.1)),
    ("cross_entropy probs", lambda r: F.cross_entropy(t64(np.zeros((0, 3)), True), t64(np.zeros((0, 3))),
                                                      reduction=r)),
    ("nll_loss", lambda r: F.nll_loss(t64(np.zeros((0, 3)), True), nerve.tensor(np.zeros(0, np.int64)), reduction=r)),
    ("mse_loss", lambda r: F.mse_loss(t64(np.zeros((0, 3)), True), t64(np.zeros((0, 3))), reduction=r)),
    ("l1_loss", lambda r: F.l1_loss(t64(np.zeros((0, 3)), True), t64(np.zeros((0, 3))), reduction=r)),
    ("smooth_l1_loss", lambda r: F.smooth_l1_loss(t64(np.zeros((0, 3)), True), t64(np.zeros((0, 3))), reduction=r)),
    ("huber_loss", lambda r: F.huber_loss(t64(np.zeros((0, 3)), True), t64(np.zeros((0, 3))), reduction=r)),
    ("bce", lambda r: F.binary_cross_entropy(t64(np.zeros((0, 3)), True), t64(np.zeros((0, 3))), reduction=r)),
    ("bce_logits", lambda r: F.binary_cross_entropy_with_logits(t64(np.zeros((0, 3)), True), t64(np.zeros((0, 3))),
                                                                reduction=r)),
    ("kl_div", lambda r: F.kl_div(t64(np.zeros((0, 3)), True), t64(np.zeros((0, 3))), reduction=r)),
    ("kl_div batchmean", lambda r: F.kl_div(t64(np.zeros((0, 3)), True), t64(np.zeros((0, 3))),
                                            reduction="batchmean" if r == "mean" else r)),
]


@pytest.mark.parametrize("name,fn", ZERO, ids=[z[0] for z in ZERO])
def test_zero_size_batch(name, fn):
    """PyTorch: mean over nothing is nan, sum is 0, none is empty; backward works."""
    assert np.isnan(fn("mean").item())
    out = fn("sum")
    assert out.item() == 0
    out.backward()
    assert fn("none").shape[0] == 0


# ---------------------------------------------------------------- bad input
def test_bad_inputs_raise_clear_errors():
    x = t64(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"cross_entropy: target class index 4 is out of range \[0, 4\)"):
        F.cross_entropy(x, nerve.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match=r"cross_entropy: target class index -3 is out of range"):
        F.cross_entropy(x, nerve.tensor([0, -3, 1]))
    with pytest.raises(ValueError, match=r"nll_loss: target class index 9 is out of range \[0, 4\)"):
        F.nll_loss(x, nerve.tensor([9, 0, 1]))
    with pytest.raises(ValueError, match=r"cross_entropy: expected target of shape \(3,\) for input of shape "
                                         r"\(3, 4\), got \(4,\)"):
        F.cross_entropy(x, nerve.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"cross_entropy: class-probability target expected the input's shape"):
        F.cross_entropy(x, t64(np.zeros(3)))
    with pytest.raises(ValueError, match=r"cross_entropy: class-index target expected an integer dtype, got bool"):
        F.cross_entropy(x, nerve.tensor([True, False, True]))
    with pytest.raises(ValueError, match=r"nll_loss: class-index target expected an integer dtype, got float64"):
        F.nll_loss(x, t64([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"cross_entropy: argument 'weight' expected shape \(4,\)"):
        F.cross_entropy(x, nerve.tensor([0, 1, 2]), weight=t64(np.ones(3)))
    with pytest.raises(ValueError, match=r"cross_entropy: argument 'label_smoothing' expected a value in \[0, 1\]"):
        F.cross_entropy(x, nerve.tensor([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"cross_entropy: argument 'input' expected a floating point tensor"):
        F.cross_entropy(nerve.tensor(np.zeros((3, 4), np.int64)), nerve.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"mse_loss: argument 'reduction' expected one of 'mean', 'sum', 'none', "
                                         r"got 'avg'"):
        F.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match=r"kl_div: argument 'reduction' expected one of .*'batchmean'"):
        F.kl_div(x, x, reduction="max")
    with pytest.raises(ValueError, match=r"binary_cross_entropy: all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(t64([0.5, 1.5]), t64([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: using a target size \(3,\) that is different"):
        F.binary_cross_entropy(t64([0.5, 0.5]), t64([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: argument 'pos_weight' of shape \(3,\) "
                                         r"does not broadcast"):
        F.binary_cross_entropy_with_logits(x, x, pos_weight=t64(np.ones(3)))
    with pytest.raises(ValueError, match=r"smooth_l1_loss: argument 'beta' expected a value >= 0"):
        F.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(ValueError, match=r"huber_loss: argument 'delta' expected a value > 0"):
        F.huber_loss(x, x, delta=0.0)


def test_non_contiguous_inputs(rng):
    base = rng.standard_normal((5, 7))
    x = nerve.tensor(base).T  # (7, 5), transposed view
    assert not x.is_contiguous()
    t = rng.integers(0, 5, 7)
    check(F.cross_entropy(x, nerve.tensor(t), label_smoothing=0.1), ref_cross_entropy(base.T, t, eps=0.1))
    check(F.nll_loss(x, nerve.tensor(t), reduction="sum"), ref_nll(base.T, t, reduction="sum"))
    y = rng.standard_normal((5, 7))
    check(F.huber_loss(x, nerve.tensor(y).T, delta=0.5), ref_huber(base.T, y.T, 0.5).mean())
    check(F.binary_cross_entropy_with_logits(x[:, ::2], nerve.tensor(y).T[:, ::2], reduction="sum"),
          ref_bce_logits(base.T[:, ::2], y.T[:, ::2]).sum())
    assert gradcheck(lambda x: F.cross_entropy(x.T, nerve.tensor(t)), [base])
