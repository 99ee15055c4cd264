"""Valid-call fuzzing of the batch norm family of ``nerve._C`` (see
test_native.py): batch_norm_forward in training (batch statistics, running
stats updated with the unbiased variance, as PyTorch) and eval (running
stats), batch_norm_backward in both modes, weight/bias None, any gradient
output None. x is (N, C, L) as the binding takes it; float64 NumPy formulas.
Hostile calls are covered by test_native_recorded.py.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nerve import _C

from .test_native import FLOATS, FUZZ, Call, arrays, close, close_mag, run_valid


def _sizes(draw, training):
    N, C, L = draw(st.sampled_from([0, 1, 2, 3, 5])), draw(st.integers(1, 4)), draw(st.sampled_from([1, 2, 5, 17]))
    if training and N * L == 1:  # one value per channel: the binding refuses it (as PyTorch)
        N = 2
    return N, C, L


def build_batch_norm_forward(draw):
    dtype, training = draw(st.sampled_from(FLOATS)), draw(st.booleans())
    N, C, L = _sizes(draw, training)
    M = N * L
    x = arrays(draw, (N, C, L), dtype)
    w = arrays(draw, (C,), dtype, special=False) if draw(st.booleans()) else None
    b = arrays(draw, (C,), dtype, special=False) if draw(st.booleans()) else None
    running = not training or draw(st.booleans())
    rm = arrays(draw, (C,), dtype, special=False) if running else None
    rv = arrays(draw, (C,), dtype, special=False, positive=True) + dtype(0.1) if running else None
    momentum, eps = draw(st.sampled_from([0.1, 0.0, 1.0])), draw(st.sampled_from([1e-5, 1e-3]))
    out, save_mean, save_invstd = np.full((N, C, L), np.nan, dtype), np.full(C, np.nan, dtype), np.full(C, np.nan, dtype)
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if training:
            mean = x64.mean(axis=(0, 2)) if M else np.zeros(C)
            var = ((x64 - mean[:, None]) ** 2).mean(axis=(0, 2)) if M else np.zeros(C)
            if running:
                unbiased = var * M / (M - 1) if M > 1 else var
                want_rm = (1 - momentum) * rm.astype(np.float64) + momentum * mean
                want_rv = (1 - momentum) * rv.astype(np.float64) + momentum * unbiased
        else:
            mean, var = rm.astype(np.float64), rv.astype(np.float64)
            want_rm, want_rv = mean, var
        invstd = 1 / np.sqrt(var + eps)
        w64 = np.ones(C) if w is None else w.astype(np.float64)
        b64 = np.zeros(C) if b is None else b.astype(np.float64)
        want = (x64 - mean[:, None]) * (invstd * w64)[:, None] + b64[:, None]
        mag = (np.abs(x64) + np.abs(mean[:, None])) * (invstd * np.abs(w64))[:, None] + np.abs(b64)[:, None]
        mean_mag = np.abs(x64).mean(axis=(0, 2)) if M and training else np.abs(mean)
    rm0, rv0 = (None if a is None else a.copy() for a in (rm, rv))

    def check():
        close_mag(out, want, mag, dtype, 10, "out")
        if training and M == 0:
            return  # no statistics of an empty batch to compare
        close_mag(save_mean, mean, mean_mag, dtype, 10, "save_mean")
        close(save_invstd, invstd, dtype, 10)
        if running and training:
            close_mag(rm, want_rm, np.abs(rm0) + mean_mag, dtype, 10, "running_mean")
            close(rv, want_rv, dtype, 100)
        elif running:  # eval reads the running stats and leaves them alone
            np.testing.assert_array_equal(rm, rm0)
            np.testing.assert_array_equal(rv, rv0)

    return Call("batch_norm_forward", _C.batch_norm_forward,
                {"out": out, "save_mean": save_mean, "save_invstd": save_invstd, "x": x, "weight": w, "bias": b,
                 "running_mean": rm, "running_var": rv}, ["out", "save_mean", "save_invstd"] +
                (["running_mean", "running_var"] if training else []), check).positional(training, momentum, eps)


def build_batch_norm_backward(draw):
    dtype, training = draw(st.sampled_from(FLOATS)), draw(st.booleans())
    N, C, L = _sizes(draw, training)
    M = N * L
    special_x = draw(st.booleans())  # NaN/Inf in x (eval: grad_input must not depend on x)
    x, dy = arrays(draw, (N, C, L), dtype, special=special_x), arrays(draw, (N, C, L), dtype, special=not special_x)
    w = arrays(draw, (C,), dtype, special=False) if draw(st.booleans()) else None
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    with np.errstate(all="ignore"):
        if training and M:  # the statistics of x, as the forward saves them
            mean = x64.mean(axis=(0, 2))
            invstd = 1 / np.sqrt(((x64 - mean[:, None]) ** 2).mean(axis=(0, 2)) + 1e-5)
        else:
            mean = arrays(draw, (C,), dtype, special=False).astype(np.float64)
            invstd = arrays(draw, (C,), dtype, special=False, positive=True).astype(np.float64) + 0.1
    save_mean, save_invstd = mean.astype(dtype), invstd.astype(dtype)
    mean, invstd = save_mean.astype(np.float64), save_invstd.astype(np.float64)  # what the kernel sees
    gx = np.full((N, C, L), np.nan, dtype) if draw(st.booleans()) else None
    gw = np.full(C, np.nan, dtype) if draw(st.booleans()) else None
    gb = np.full(C, np.nan, dtype) if draw(st.booleans()) else None
    w64 = np.ones(C) if w is None else w.astype(np.float64)
    with np.errstate(all="ignore"):
        xhat = (x64 - mean[:, None]) * invstd[:, None]
        want_gb, want_gw = dy64.sum(axis=(0, 2)), (dy64 * xhat).sum(axis=(0, 2))
        mag_gb, mag_gw = np.abs(dy64).sum(axis=(0, 2)), np.abs(dy64 * xhat).sum(axis=(0, 2))
        a = (w64 * invstd)[:, None]
        if training:
            want_gx = a * (dy64 - want_gb[:, None] / M - xhat * want_gw[:, None] / M)
            mag_gx = np.abs(a) * (np.abs(dy64) + mag_gb[:, None] / M + np.abs(xhat) * mag_gw[:, None] / M)
        else:
            want_gx, mag_gx = a * dy64, np.abs(a * dy64)

    def check():
        if gx is not None:
            close_mag(gx, want_gx, mag_gx, dtype, 10, "grad_input")
        if gw is not None:
            close_mag(gw, want_gw, mag_gw, dtype, max(M, 1) / 4, "grad_weight")
        if gb is not None:
            close_mag(gb, want_gb, mag_gb, dtype, max(M, 1) / 4, "grad_bias")

    return Call("batch_norm_backward", _C.batch_norm_backward,
                {"grad_input": gx, "grad_weight": gw, "grad_bias": gb, "grad_output": dy, "x": x, "weight": w,
                 "save_mean": save_mean, "save_invstd": save_invstd}, ["grad_input", "grad_weight", "grad_bias"],
                check).positional(training)


BUILDERS = {
    "batch_norm_forward": build_batch_norm_forward,
    "batch_norm_backward": build_batch_norm_backward,
}


@pytest.mark.parametrize("kernel", sorted(BUILDERS))
@FUZZ
@given(data=st.data())
def test_valid(kernel, data):
    run_valid(BUILDERS, kernel, data)


@pytest.mark.parametrize("dtype", FLOATS)
def test_eval_backward_ignores_nonfinite_x(dtype):
    x = np.array([[[np.nan, np.inf, 1.0]]], dtype)
    dy = np.ones((1, 1, 3), dtype)
    gx = np.full_like(x, -1)
    _C.batch_norm_backward(gx, None, None, dy, x, None, np.zeros(1, dtype), np.full(1, 2, dtype), False)
    np.testing.assert_array_equal(gx, np.full((1, 1, 3), 2, dtype))
