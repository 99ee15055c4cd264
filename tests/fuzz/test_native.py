"""Fuzzing the raw ``nerve._C`` bindings.

Each kernel has a builder that draws a random *valid* call (shapes with 0, 1
and odd sizes, both float dtypes, NaN/Inf and huge values, every ISA) together
with a float64 NumPy reference. ``test_valid`` runs it and compares.
``test_hostile`` takes a valid call and breaks one argument (wrong dtype, wrong
rank or shape, non-contiguous, read-only output, a list, or a zero-stride view
claiming more than 2^31 elements): the binding must raise a ValueError or
TypeError naming the op, and must not have written to any input.

The other kernel families have their valid-call builders in
test_native_<family>.py (conv, pool, batch_norm, layer_norm, embedding,
attention, rnn), sharing the helpers here; their hostile calls come from
test_native_recorded.py.
"""
import contextlib
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import as_strided

from nerve import _C

FUZZ = settings.get_profile("nerve-fuzz")
ORDER = ["generic", "avx2", "avx512"]
ISAS = [isa for isa in ORDER if _C.isas().index(isa) <= _C.isas().index(_C.best_isa())]  # float32 variants (amx, avx512_bf16 reuse avx512)
FLOATS = [np.float32, np.float64]
TOL = {np.float32: 1e-4, np.float64: 1e-10}


class Call:
    """A kernel call: fn(*args, **kwargs); `outs` names the written args;
    `check()` compares the outputs with the reference after a valid call."""

    def __init__(self, op, fn, args, outs, check, kwargs=None, contiguous=True):
        self.op, self.fn, self.args, self.outs, self.check = op, fn, dict(args), set(outs), check
        self.kwargs = kwargs or {}
        self.contiguous = contiguous  # False: the binding accepts some strided views
        self.extra = ()

    def positional(self, *extra):
        """Trailing positional (non-array) arguments after `args`; returns self."""
        self.extra = extra
        return self

    def run(self):
        return self.fn(*self.args.values(), *self.extra, **self.kwargs)


def sizes(max_size=9):
    return st.integers(0, max_size) | st.sampled_from([1, 17, 33])


def arrays(draw, shape, dtype, special=True, positive=False):
    """Random values in ~[-10, 10] (or (0, 10]), sometimes with NaN, +-Inf or huge entries."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = np.array(rng.standard_normal(shape) * 3, dtype)
    if positive:
        np.abs(x, out=x)
    if special and x.size and draw(st.integers(0, 3)) == 0:
        vals = draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf, 1e4, -1e4, 0.0]), min_size=1, max_size=3))
        idx = rng.integers(0, x.size, len(vals))
        x.reshape(-1)[idx] = vals
    return x


def close(got, want, dtype, scale=1.0):
    """got matches the float64 reference; where the reference is NaN or Inf
    (inputs with NaN/Inf) got must be non-finite too: never a plausible number."""
    want, got = np.asarray(want, np.float64), np.asarray(got, np.float64)
    bad = ~np.isfinite(want)
    assert not np.isfinite(got[bad]).any(), f"finite result {got[bad]} where the reference is {want[bad]}"
    np.testing.assert_allclose(got[~bad], want[~bad], rtol=TOL[dtype] * scale, atol=TOL[dtype] * scale)


def quiet(fn):
    """Runs a float64 reference with NaN/Inf warnings off (they are expected)."""
    def wrapper(*args, **kwargs):
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)
    return wrapper


def close_mag(got, want, mag, dtype, scale=1.0, what=""):
    """Like close(), but the error bound is relative to `mag`, the reference
    computed on absolute values (sum |a_i b_i| for a sum of products): a
    rounding bound that stays fair under cancellation and with huge entries."""
    want, got, mag = (np.asarray(a, np.float64) for a in (want, got, mag))
    bad = ~np.isfinite(want)
    assert not np.isfinite(got[bad]).any(), f"{what}: finite result {got[bad]} where the reference is {want[bad]}"
    err = np.abs(got[~bad] - want[~bad])
    bound = TOL[dtype] * scale * np.broadcast_to(mag, want.shape)[~bad] + 1e-30
    worst = np.argmax(err - bound) if err.size else 0
    assert not (err > bound).any() and not np.isnan(err).any(), \
        f"{what}: |got - want| {err[worst]} > {bound[worst]} (got {got[~bad][worst]}, want {want[~bad][worst]})"


def run_valid(builders, kernel, data):
    """Draws a valid call of `kernel` and an ISA, runs it, checks it."""
    call = builders[kernel](data.draw)
    call.isa = data.draw(st.sampled_from(ISAS))
    with isa(call.isa):
        call.run()
    call.check()


@contextlib.contextmanager
def isa(name):
    """Runs the block with _C's kernels for ISA `name`."""
    before = _C.isa()
    _C.set_isa(name)
    try:
        yield
    finally:
        _C.set_isa(before)


# ----------------------------------------------------------------- builders
def build_gemm(draw):
    dtype = draw(st.sampled_from(FLOATS))
    M, N, K = draw(sizes(40)), draw(sizes(40)), draw(sizes(40))
    ta, tb = draw(st.booleans()), draw(st.booleans())
    batch = draw(st.sampled_from([None, 1, 3]))
    alpha = draw(st.sampled_from([1.0, -0.5, 2.0]))
    beta = draw(st.sampled_from([0.0, 1.0, 0.5]))
    lead = () if batch is None else (batch,)
    a = arrays(draw, lead + ((K, M) if ta else (M, K)), dtype, special=False)
    b = arrays(draw, ((N, K) if tb else (K, N)) if draw(st.booleans()) else lead + ((N, K) if tb else (K, N)), dtype,
               special=False)
    if draw(st.booleans()):  # a transposed view: the binding reads it in place
        a = np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)
    out = arrays(draw, lead + (M, N), dtype, special=False)
    # beta == 0 ignores out's old contents, even NaN (BLAS semantics).
    if beta == 0 and out.size:
        out.reshape(-1)[0] = np.nan
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    want = alpha * (np.swapaxes(a64, -1, -2) if ta else a64) @ (np.swapaxes(b64, -1, -2) if tb else b64)
    want = want + (beta * out.astype(np.float64) if beta else 0)

    def check():
        close(call.args["out"], want, dtype, scale=max(K, 1))

    call = Call("gemm", _C.gemm, {"out": out, "a": a, "b": b}, ["out"], check,
                dict(trans_a=ta, trans_b=tb, alpha=alpha, beta=beta), contiguous=False)
    return call


def _gelu_ref(x, approximate):
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if approximate == "tanh":
            y = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
        else:
            y = 0.5 * x * (1 + np.vectorize(math.erf, otypes=[np.float64])(x / math.sqrt(2)))
    return np.where(np.isinf(x), np.maximum(x, 0), y)


def _gelu_grad_ref(x, approximate):
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            t = np.tanh(k * (x + 0.044715 * x**3))
            d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
        else:
            cdf = 0.5 * (1 + np.vectorize(math.erf, otypes=[np.float64])(x / math.sqrt(2)))
            d = cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return np.where(np.isinf(x), (x > 0).astype(np.float64), d)


def _elementwise_shape(draw):
    return tuple(draw(st.lists(sizes(), max_size=3)))


def build_gelu_forward(draw):
    dtype, approximate = draw(st.sampled_from(FLOATS)), draw(st.sampled_from(["none", "tanh"]))
    x = arrays(draw, _elementwise_shape(draw), dtype)
    out = np.empty_like(x)
    want = _gelu_ref(x, approximate)
    return Call("gelu_forward", _C.gelu_forward, {"out": out, "x": x, "approximate": approximate}, ["out"],
                lambda: close(out, want, dtype, 10))


def build_gelu_backward(draw):
    dtype, approximate = draw(st.sampled_from(FLOATS)), draw(st.sampled_from(["none", "tanh"]))
    shape = _elementwise_shape(draw)
    x, g = arrays(draw, shape, dtype), arrays(draw, shape, dtype, special=False)
    gx = np.empty_like(x)
    want = g.astype(np.float64) * _gelu_grad_ref(x, approximate)
    return Call("gelu_backward", _C.gelu_backward, {"grad_x": gx, "grad": g, "x": x, "approximate": approximate},
                ["grad_x"], lambda: close(gx, want, dtype, 10))


def build_sigmoid(draw):
    dtype = draw(st.sampled_from(FLOATS))
    x = arrays(draw, _elementwise_shape(draw), dtype)
    out = np.empty_like(x)
    with np.errstate(over="ignore"):
        want = 1 / (1 + np.exp(-x.astype(np.float64)))
    return Call("sigmoid_forward", _C.sigmoid_forward, {"out": out, "x": x}, ["out"], lambda: close(out, want, dtype))


def _ce_reference(x, t, w, ignore_index, eps):
    x = x.astype(np.float64)
    N, C = x.shape
    with np.errstate(all="ignore"):
        m = np.max(x, axis=1, keepdims=True) if C else np.zeros((N, 1))
        m = np.where(np.isfinite(m), m, np.nan)  # a row with +inf (or all -inf) has no answer: NaN, as PyTorch
        lse = (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]
        logp = x - lse[:, None]
        wc = np.ones(C) if w is None else w.astype(np.float64)
        valid = t != ignore_index
        safe = np.where(valid, t, 0)
        y = np.full((N, C), eps / max(C, 1)) * wc
        y[np.arange(N), safe] += (1 - eps) * wc[safe]
        loss = np.where(valid, -np.where(y != 0, y * logp, 0).sum(axis=1), 0.0)  # 0 * log 0 = 0
        grad = np.where(valid[:, None], np.exp(logp) * y.sum(axis=1, keepdims=True) - y, 0.0)
    return loss, lse, grad


def _ce_inputs(draw):
    dtype = draw(st.sampled_from(FLOATS))
    N, C = draw(sizes(20)), draw(sizes(40)) or 1
    x = arrays(draw, (N, C), dtype)
    ignore_index = draw(st.sampled_from([-100, 0, 2]))
    t = np.asarray(draw(st.lists(st.integers(0, C - 1) | st.just(ignore_index), min_size=N, max_size=N)),
                   np.int64).reshape(N)
    w = arrays(draw, (C,), dtype, special=False, positive=True) if draw(st.booleans()) else None
    eps = draw(st.sampled_from([0.0, 0.1, 1.0]))
    return dtype, x, t, w, ignore_index, eps


def build_cross_entropy_forward(draw):
    dtype, x, t, w, ignore_index, eps = _ce_inputs(draw)
    N = x.shape[0]
    loss, lse = np.empty(N, dtype), np.empty(N, np.float64)
    want_loss, want_lse, _ = _ce_reference(x, t, w, ignore_index, eps)

    def check():
        close(loss, want_loss, dtype, 10)
        rows = np.isfinite(want_lse)  # the kernel's lse of a row with NaN/Inf is unspecified
        close(lse[rows], want_lse[rows], dtype, 10)

    return Call("cross_entropy_forward", _C.cross_entropy_forward,
                {"loss": loss, "lse": lse, "logits": x, "target": t, "weight": w, "ignore_index": ignore_index,
                 "label_smoothing": eps}, ["loss", "lse"], check)


def build_cross_entropy_backward(draw):
    dtype, x, t, w, ignore_index, eps = _ce_inputs(draw)
    N = x.shape[0]
    _, lse, want = _ce_reference(x, t, w, ignore_index, eps)
    g = arrays(draw, (N,), dtype, special=False)
    gx = np.empty_like(x)
    want = want * g[:, None].astype(np.float64)
    return Call("cross_entropy_backward", _C.cross_entropy_backward,
                {"grad_logits": gx, "grad_loss": g, "logits": x, "lse": lse, "target": t, "weight": w,
                 "ignore_index": ignore_index, "label_smoothing": eps}, ["grad_logits"],
                lambda: close(gx, want, dtype, 10))


def build_sgd_step(draw):
    dtype = draw(st.sampled_from(FLOATS))
    shape = _elementwise_shape(draw)
    p, g = arrays(draw, shape, dtype, special=False), arrays(draw, shape, dtype)
    lr, mu = draw(st.sampled_from([0.0, 0.1, 1.0])), draw(st.sampled_from([0.0, 0.9]))
    wd, nesterov = draw(st.sampled_from([0.0, 0.01])), draw(st.booleans()) and mu > 0
    first = draw(st.booleans())
    buf = arrays(draw, shape, dtype, special=False) if mu else None
    with np.errstate(invalid="ignore"):  # lr = 0 times an Inf gradient
        p64, g64 = p.astype(np.float64), g.astype(np.float64) + wd * p.astype(np.float64)
        m = (g64 if first else mu * buf.astype(np.float64) + g64) if mu else None
        want = p64 - lr * ((g64 + mu * m if nesterov else m) if mu else g64)

    def check():
        close(p, want, dtype, 10)
        if mu:
            close(buf, m, dtype, 10)

    return Call("sgd_step", _C.sgd_step, {"param": p, "momentum_buffer": buf, "grad": g}, ["param", "momentum_buffer"],
                check, dict(lr=lr, momentum=mu, weight_decay=wd, nesterov=nesterov, first_step=first))


def build_adam_step(draw):
    dtype = draw(st.sampled_from(FLOATS))
    shape = _elementwise_shape(draw)
    p, g = arrays(draw, shape, dtype, special=False), arrays(draw, shape, dtype)
    m, v = arrays(draw, shape, dtype, special=False), arrays(draw, shape, dtype, special=False, positive=True)
    vmax = arrays(draw, shape, dtype, special=False, positive=True) if draw(st.booleans()) else None
    lr, wd, step = 0.01, draw(st.sampled_from([0.0, 0.1])), draw(st.integers(1, 10**6))
    decoupled = draw(st.booleans())
    b1, b2, eps = 0.9, 0.999, 1e-8
    P, G, Mo, V = (a.astype(np.float64) for a in (p, g, m, v))
    if decoupled:
        P = P * (1 - lr * wd)
    else:
        G = G + wd * p.astype(np.float64)
    with np.errstate(invalid="ignore"):
        Mn, Vn = b1 * Mo + (1 - b1) * G, b2 * V + (1 - b2) * G * G
        Vm = np.maximum(vmax.astype(np.float64), Vn) if vmax is not None else Vn
        want = P - lr / (1 - b1**step) * Mn / (np.sqrt(Vm) / math.sqrt(1 - b2**step) + eps)

    def check():
        close(m, Mn, dtype)
        close(v, Vn, dtype)
        close(p, want, dtype, 100)

    return Call("adamw_step" if decoupled else "adam_step", _C.adam_step,
                {"param": p, "exp_avg": m, "exp_avg_sq": v, "max_exp_avg_sq": vmax, "grad": g},
                ["param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"], check,
                dict(lr=lr, beta1=b1, beta2=b2, eps=eps, weight_decay=wd, step=step, decoupled=decoupled))


BUILDERS = {
    "gemm": build_gemm,
    "gelu_forward": build_gelu_forward,
    "gelu_backward": build_gelu_backward,
    "sigmoid_forward": build_sigmoid,
    "cross_entropy_forward": build_cross_entropy_forward,
    "cross_entropy_backward": build_cross_entropy_backward,
    "sgd_step": build_sgd_step,
    "adam_step": build_adam_step,
}


@pytest.mark.parametrize("kernel", sorted(BUILDERS))
@FUZZ
@given(data=st.data())
def test_valid(kernel, data):
    run_valid(BUILDERS, kernel, data)


# ----------------------------------------------------------------- mutations
# Each returns a replacement for one argument that makes the call invalid, or
# None where it does not apply.
def _other_dtype(x, draw):
    choices = [np.int32, np.float16] + [d for d in FLOATS if d != x.dtype]
    with np.errstate(all="ignore"):  # NaN to int
        return x.astype(draw(st.sampled_from([c for c in choices if c != x.dtype])))


def _more_dims(x, draw):
    return x[None, None]


def _longer(x, draw):
    if x.ndim == 0:
        return None
    return np.zeros((x.shape[0] + 1,) + x.shape[1:], x.dtype)


def _strided(x, draw):
    if max(x.shape, default=0) < 2 or x.size == 0:  # an empty array is contiguous in any layout
        return None
    big = np.zeros(tuple(2 * s for s in x.shape), x.dtype)
    view = big[tuple(slice(None, None, 2) for _ in x.shape)]
    view[...] = x
    return view


def _flipped(x, draw):  # rows reversed: no unit stride the GEMM can use
    if x.ndim < 2 or x.shape[-2] < 2 or x.shape[-1] < 2 or x.size == 0:
        return None
    return np.ascontiguousarray(x[..., ::-1, :])[..., ::-1, :]


def _huge(x, draw):  # a zero-stride view claiming 2^31 + 5 rows: never allocated
    if x.ndim == 0:
        return None
    shape = (2**31 + 5,) + x.shape[1:]
    return as_strided(np.zeros(1, x.dtype), shape=shape, strides=(0,) * len(shape))


def _listed(x, draw):
    return x.tolist()


def _read_only(x, draw):
    y = x.copy()
    y.flags.writeable = False
    return y


MUTATIONS = {"dtype": _other_dtype, "ndim": _more_dims, "shape": _longer, "strided": _strided, "flipped": _flipped,
             "huge": _huge, "list": _listed, "read_only": _read_only}


@pytest.mark.parametrize("kernel", sorted(BUILDERS))
@FUZZ
@given(data=st.data())
def test_hostile(kernel, data):
    call = BUILDERS[kernel](data.draw)
    names = [n for n, v in call.args.items() if isinstance(v, np.ndarray)]
    name = data.draw(st.sampled_from(names))
    kind = data.draw(st.sampled_from(sorted(MUTATIONS)))
    if kind == "read_only" and name not in call.outs:
        return  # reading from a read-only input is fine
    if kind == "strided" and not call.contiguous:
        kind = "flipped"
    bad = MUTATIONS[kind](call.args[name], data.draw)
    if bad is None:
        return
    call.args[name] = bad
    inputs = {n: v.copy() for n, v in call.args.items()
              if isinstance(v, np.ndarray) and n not in call.outs and v.size < 2**31}
    with pytest.raises((ValueError, TypeError)) as info:
        call.run()
    assert call.op in str(info.value) or "incompatible function arguments" in str(info.value)
    for n, v in inputs.items():
        np.testing.assert_array_equal(call.args[n], v, err_msg=f"{call.op} wrote to input {n!r}")


# ------------------------------------------------------------------ aliasing
@pytest.mark.parametrize("kernel", sorted(BUILDERS))
@FUZZ
@given(data=st.data())
def test_output_aliasing_an_input(kernel, data):
    """An output that is (a view of) an input either raises or -- for
    elementwise kernels used exactly in place -- gives the reference answer."""
    call = BUILDERS[kernel](data.draw)
    out = data.draw(st.sampled_from(sorted(n for n in call.outs if isinstance(call.args[n], np.ndarray))))
    o = call.args[out]
    same = [n for n, v in call.args.items()
            if isinstance(v, np.ndarray) and n != out and v.shape == o.shape and v.dtype == o.dtype and v.size]
    if not same:
        return
    src = data.draw(st.sampled_from(sorted(same)))
    exact = data.draw(st.booleans()) or o.size < 2  # a partial overlap needs 2 elements
    if exact:
        call.args[out] = call.args[src]
    else:  # a partial overlap: out starts one element into src's buffer
        buf = np.concatenate([call.args[src].reshape(-1), call.args[src].reshape(-1)])
        call.args[src] = buf[: o.size].reshape(o.shape)
        call.args[out] = buf[1: o.size + 1].reshape(o.shape)
    try:
        call.run()
    except ValueError as e:
        assert call.op in str(e)  # usually "must not share memory"; a layout check may come first
        return
    assert exact, f"{call.op} accepted {out!r} partly overlapping {src!r}"
    # Only elementwise kernels may accept exact aliasing; their answer must be right.
    assert kernel in ("gelu_forward", "gelu_backward", "sigmoid_forward"), f"{call.op} accepted {out!r} is {src!r}"
    o[...] = call.args[out]  # the result landed in src; the reference check reads o
    call.check()
