"""Valid-call fuzzing of the layer norm family of ``nerve._C`` (see
test_native.py): layer_norm_forward and layer_norm_backward over the last dim
of x (N, C), with and without the affine weight/bias, any gradient output
None; float64 NumPy formulas (biased variance, as PyTorch).
Hostile calls are covered by test_native_recorded.py.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nerve import _C

from .test_native import FLOATS, FUZZ, Call, arrays, close, close_mag, run_valid, sizes


def _inputs(draw):
    dtype = draw(st.sampled_from(FLOATS))
    N, C = draw(sizes(6)), draw(sizes(40))
    x = arrays(draw, (N, C), dtype)
    w = arrays(draw, (C,), dtype, special=False) if draw(st.booleans()) else None
    b = arrays(draw, (C,), dtype, special=False) if draw(st.booleans()) else None
    eps = draw(st.sampled_from([1e-5, 1e-2]))
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        mean = x64.mean(axis=1) if C else np.zeros(N)
        rstd = 1 / np.sqrt((((x64 - mean[:, None]) ** 2).mean(axis=1) if C else np.zeros(N)) + eps)
    return dtype, N, C, x, w, b, eps, mean, rstd


def build_layer_norm_forward(draw):
    dtype, N, C, x, w, b, eps, mean, rstd = _inputs(draw)
    y, m, r = np.full((N, C), np.nan, dtype), np.full(N, np.nan, dtype), np.full(N, np.nan, dtype)
    x64 = x.astype(np.float64)
    w64 = np.ones(C) if w is None else w.astype(np.float64)
    b64 = np.zeros(C) if b is None else b.astype(np.float64)
    with np.errstate(all="ignore"):
        want = (x64 - mean[:, None]) * rstd[:, None] * w64 + b64
        mag = (np.abs(x64) + np.abs(mean[:, None])) * rstd[:, None] * np.abs(w64) + np.abs(b64)
        mean_mag = np.abs(x64).mean(axis=1) if C else np.zeros(N)

    def check():
        close_mag(y, want, mag, dtype, 10, "y")
        if C:  # the statistics of an empty row are unspecified
            close_mag(m, mean, mean_mag, dtype, 10, "mean")
            close(r, rstd, dtype, 10)

    return Call("layer_norm_forward", _C.layer_norm_forward,
                {"y": y, "mean": m, "rstd": r, "x": x, "weight": w, "bias": b}, ["y", "mean", "rstd"],
                check).positional(eps)


def build_layer_norm_backward(draw):
    dtype, N, C, x, w, _, _, mean, rstd = _inputs(draw)
    if draw(st.booleans()):  # the specials in dy rather than in x
        x = arrays(draw, (N, C), dtype, special=False)
        x64 = x.astype(np.float64)
        mean = x64.mean(axis=1) if C else np.zeros(N)
        rstd = 1 / np.sqrt((((x64 - mean[:, None]) ** 2).mean(axis=1) if C else np.zeros(N)) + 1e-5)
        dy = arrays(draw, (N, C), dtype)
    else:
        dy = arrays(draw, (N, C), dtype, special=False)
    m, r = mean.astype(dtype), rstd.astype(dtype)
    mean, rstd = m.astype(np.float64), r.astype(np.float64)  # what the kernel sees
    dx = np.full((N, C), np.nan, dtype) if draw(st.booleans()) else None
    dw = np.full(C, np.nan, dtype) if draw(st.booleans()) else None
    db = np.full(C, np.nan, dtype) if draw(st.booleans()) else None
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    w64 = np.ones(C) if w is None else w.astype(np.float64)
    with np.errstate(all="ignore"):
        xhat = (x64 - mean[:, None]) * rstd[:, None]
        g = dy64 * w64
        want_dx = rstd[:, None] * (g - g.mean(axis=1, keepdims=True) - xhat * (g * xhat).mean(axis=1, keepdims=True)) \
            if C else g
        mag_dx = rstd[:, None] * (np.abs(g) + np.abs(g).mean(axis=1, keepdims=True)
                                  + np.abs(xhat) * np.abs(g * xhat).mean(axis=1, keepdims=True)) if C else g
        want_dw, mag_dw = (dy64 * xhat).sum(axis=0), np.abs(dy64 * xhat).sum(axis=0)
        want_db, mag_db = dy64.sum(axis=0), np.abs(dy64).sum(axis=0)

    def check():
        if dx is not None:
            close_mag(dx, want_dx, mag_dx, dtype, 10, "dx")
        if dw is not None:
            close_mag(dw, want_dw, mag_dw, dtype, max(N, 1) / 4, "dweight")
        if db is not None:
            close_mag(db, want_db, mag_db, dtype, max(N, 1) / 4, "dbias")

    return Call("layer_norm_backward", _C.layer_norm_backward,
                {"dx": dx, "dweight": dw, "dbias": db, "dy": dy, "x": x, "mean": m, "rstd": r, "weight": w},
                ["dx", "dweight", "dbias"], check)


BUILDERS = {
    "layer_norm_forward": build_layer_norm_forward,
    "layer_norm_backward": build_layer_norm_backward,
}


@pytest.mark.parametrize("kernel", sorted(BUILDERS))
@FUZZ
@given(data=st.data())
def test_valid(kernel, data):
    run_valid(BUILDERS, kernel, data)
