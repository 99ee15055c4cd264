"""Fuzzing modules: forward and backward of nn layers and losses with random
shapes (including zero-size batches), dtypes and values, against float64
NumPy; invalid inputs must raise a Python exception that names the problem."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nerve
import nerve.nn as nn

FUZZ = settings.get_profile("nerve-fuzz")
TOL = {np.float32: 2e-4, np.float64: 1e-9}
ERRORS = (ValueError, TypeError, RuntimeError, IndexError)


def arr(draw, shape, dtype, scale=3.0):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return np.array(rng.standard_normal(shape) * scale, dtype)


def dims(draw, n):
    return tuple(draw(st.integers(0, 5) | st.sampled_from([1, 17])) for _ in range(n))


def run(module, x, upstream):
    """out = module(x) and d(sum(out * upstream))/dx, as float64 arrays."""
    xt = nerve.tensor(x, requires_grad=True)
    out = module(xt)
    (out * nerve.tensor(upstream.astype(x.dtype))).sum().backward()
    return out.detach().numpy(), xt.grad.numpy()


def close(got, want, dtype, scale=1.0):
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=TOL[dtype] * scale, atol=TOL[dtype] * scale)


@FUZZ
@given(data=st.data())
def test_linear(data):
    draw = data.draw
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    lead = dims(draw, draw(st.integers(1, 3)))
    fin, fout = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    bias = draw(st.booleans())
    layer = nn.Linear(fin, fout, bias=bias).to(dtype=dtype)
    W = layer.weight.detach().numpy().astype(np.float64)
    x = arr(draw, lead + (fin,), dtype)
    G = arr(draw, lead + (fout,), dtype, 1.0).astype(np.float64)
    out, gx = run(layer, x, G)
    want = x.astype(np.float64) @ W.T + (layer.bias.detach().numpy() if bias else 0)
    close(out, want, dtype, fin)
    close(gx, G @ W, dtype, fout)
    G2, x2 = G.reshape(-1, fout), x.reshape(-1, fin).astype(np.float64)
    close(layer.weight.grad.numpy(), G2.T @ x2, dtype, max(x2.shape[0], 1))
    if bias:
        close(layer.bias.grad.numpy(), G2.sum(axis=0), dtype, max(x2.shape[0], 1))
    with pytest.raises(ERRORS, match=str(fin)):  # the message gives the expected feature count
        layer(nerve.tensor(arr(draw, lead + (fin + 1,), dtype)))


def _sig(x):
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


ACTIVATIONS = {
    "ReLU": (lambda: nn.ReLU(), lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.1), lambda x: np.where(x > 0, x, 0.1 * x), lambda x: np.where(x > 0, 1, 0.1)),
    "Sigmoid": (lambda: nn.Sigmoid(), _sig, lambda x: _sig(x) * (1 - _sig(x))),
    "Tanh": (lambda: nn.Tanh(), np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "SiLU": (lambda: nn.SiLU(), lambda x: x * _sig(x), lambda x: _sig(x) * (1 + x * (1 - _sig(x)))),
    "GELU": (lambda: nn.GELU(),
             lambda x: 0.5 * x * (1 + np.vectorize(math.erf, otypes=[float])(x / math.sqrt(2))),
             lambda x: 0.5 * (1 + np.vectorize(math.erf, otypes=[float])(x / math.sqrt(2))) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@FUZZ
@given(data=st.data())
def test_activation(name, data):
    make, f, df = ACTIVATIONS[name]
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    shape = dims(data.draw, data.draw(st.integers(0, 3)))
    x = arr(data.draw, shape, dtype, data.draw(st.sampled_from([1.0, 30.0])))
    G = arr(data.draw, shape, dtype, 1.0).astype(np.float64)
    out, gx = run(make(), x, G)
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore"):
        close(out, f(x64), dtype, 10)
        close(gx, G * df(x64), dtype, 10)


@pytest.mark.parametrize("log", [False, True])
@FUZZ
@given(data=st.data())
def test_softmax_modules(log, data):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    shape = dims(data.draw, data.draw(st.integers(1, 3)))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = arr(data.draw, shape, dtype, data.draw(st.sampled_from([1.0, 1e3])))
    G = arr(data.draw, shape, dtype, 1.0).astype(np.float64)
    out, gx = run(nn.LogSoftmax(dim) if log else nn.Softmax(dim), x, G)
    x64 = x.astype(np.float64)
    lp = x64 - x64.max(axis=dim, keepdims=True) if shape[dim] else x64
    with np.errstate(divide="ignore"):  # an empty dim sums to 0
        lp = lp - np.log(np.exp(lp).sum(axis=dim, keepdims=True))
    p = np.exp(lp)
    if log:
        close(out, lp, dtype, 10)
        close(gx, G - p * G.sum(axis=dim, keepdims=True), dtype, 10)
    else:
        close(out, p, dtype, 10)
        close(gx, p * (G - (G * p).sum(axis=dim, keepdims=True)), dtype, 10)
    with pytest.raises(IndexError, match="dim"):
        (nn.LogSoftmax if log else nn.Softmax)(len(shape) + 1)(nerve.tensor(x))


@FUZZ
@given(data=st.data())
def test_cross_entropy_loss(data):
    draw = data.draw
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    N, C = draw(st.integers(0, 9)), draw(st.integers(1, 12))
    x = arr(draw, (N, C), dtype, draw(st.sampled_from([1.0, 1e3])))
    t = np.asarray(draw(st.lists(st.integers(0, C - 1) | st.just(-100), min_size=N, max_size=N)), np.int64)
    eps = draw(st.sampled_from([0.0, 0.25]))
    reduction = draw(st.sampled_from(["none", "sum", "mean"]))
    xt = nerve.tensor(x, requires_grad=True)
    loss = nn.CrossEntropyLoss(label_smoothing=eps, reduction=reduction)(xt, nerve.tensor(t))
    x64 = x.astype(np.float64)
    lp = x64 - x64.max(axis=1, keepdims=True) if N else x64
    lp = lp - np.log(np.exp(lp).sum(axis=1, keepdims=True))
    valid = t != -100
    y = np.full((N, C), eps / C)
    y[np.arange(N), np.where(valid, t, 0)] += 1 - eps
    y[~valid] = 0
    per_row = -(y * lp).sum(axis=1)
    count = valid.sum()
    want = {"none": per_row, "sum": per_row.sum(), "mean": per_row.sum() / count if count else np.nan}[reduction]
    close(loss.detach().numpy(), want, dtype, 10)
    if reduction != "mean" or count:
        loss.sum().backward()
        grad = np.exp(lp) * y.sum(axis=1, keepdims=True) - y
        close(xt.grad.numpy(), grad / (count if reduction == "mean" else 1), dtype, 10)
    # invalid: class index out of range, wrong target shape, float target of the wrong shape
    if N:
        bad = t.copy()
        bad[0] = draw(st.sampled_from([C, -1, 10**12]))
        with pytest.raises(ERRORS, match="target|class"):
            nn.CrossEntropyLoss()(nerve.tensor(x), nerve.tensor(bad))
    with pytest.raises(ERRORS):
        nn.CrossEntropyLoss()(nerve.tensor(x), nerve.tensor(np.zeros(N + 1, np.int64)))


@pytest.mark.parametrize("name", ["MSELoss", "L1Loss", "BCEWithLogitsLoss"])
@FUZZ
@given(data=st.data())
def test_pointwise_losses(name, data):
    draw = data.draw
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = dims(draw, draw(st.integers(1, 3)))
    x = arr(draw, shape, dtype, draw(st.sampled_from([1.0, 100.0])))
    y = np.random.default_rng(0).uniform(0, 1, shape).astype(dtype)
    reduction = draw(st.sampled_from(["none", "sum", "mean"]))
    xt = nerve.tensor(x, requires_grad=True)
    loss = getattr(nn, name)(reduction=reduction)(xt, nerve.tensor(y))
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    if name == "MSELoss":
        per, d = (x64 - y64) ** 2, 2 * (x64 - y64)
    elif name == "L1Loss":
        per, d = np.abs(x64 - y64), np.sign(x64 - y64)
    else:
        per, d = np.maximum(x64, 0) - x64 * y64 + np.log1p(np.exp(-np.abs(x64))), _sig(x64) - y64
    n = x.size
    if reduction == "mean" and n == 0:
        assert np.isnan(loss.item())  # PyTorch: the mean of nothing is NaN
        return
    want = {"none": per, "sum": per.sum(), "mean": per.sum() / max(n, 1)}[reduction]
    close(loss.detach().numpy(), want, dtype, 10)
    loss.sum().backward()
    close(xt.grad.numpy(), d / (n if reduction == "mean" else 1), dtype, 10)
    with pytest.raises(ERRORS + (UserWarning,)):  # PyTorch warns when the target only broadcasts
        getattr(nn, name)()(nerve.tensor(x), nerve.tensor(np.zeros(shape + (2,), dtype)))
