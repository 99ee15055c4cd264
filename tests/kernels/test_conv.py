"""conv2d / conv_transpose2d kernels against float64 NumPy references, with
finite-difference checks of both backward kernels, on every ISA."""
import re

import numpy as np
import pytest

import nerve
from nerve import kernels


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv_ref(x, w, b, stride, padding, dilation, groups):
    """Direct conv: for each kernel tap, a strided slice of the padded input times the tap's weights."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    N, C, H, W = x.shape
    Kc, Cg, kh, kw = w.shape
    OH, OW = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    Kg = Kc // groups
    y = np.zeros((N, Kc, OH, OW))
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * Cg:(g + 1) * Cg, i * dh:i * dh + sh * (OH - 1) + 1:sh,
                           j * dw:j * dw + sw * (OW - 1) + 1:sw]
                y[:, g * Kg:(g + 1) * Kg] += np.einsum("nchw,kc->nkhw", patch, w[g * Kg:(g + 1) * Kg, :, i, j])
    if b is not None:
        y += b.reshape(-1, 1, 1)
    return y


def conv_transpose_ref(x, w, b, stride, padding, output_padding, dilation, groups):
    """Direct scatter: every input pixel adds weight * value into a canvas, then the padding is cropped."""
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = pair(stride), pair(padding), pair(output_padding), pair(dilation)
    N, Cin, H, W = x.shape
    _, Cog, kh, kw = w.shape
    OH = (H - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    OW = (W - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    canvas = np.zeros((N, Cog * groups, OH + 2 * ph + sh, OW + 2 * pw + sw))
    Cig = Cin // groups
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                canvas[:, g * Cog:(g + 1) * Cog, i * dh:i * dh + sh * (H - 1) + 1:sh,
                       j * dw:j * dw + sw * (W - 1) + 1:sw] += np.einsum(
                           "nchw,co->nohw", x[:, g * Cig:(g + 1) * Cig], w[g * Cig:(g + 1) * Cig, :, i, j])
    y = canvas[:, :, ph:ph + OH, pw:pw + OW]
    return y + (0 if b is None else b.reshape(-1, 1, 1))


def directional_fd(f, x, v, eps=1e-6):
    return (f(x + eps * v) - f(x - eps * v)) / (2 * eps)


# (N, C, H, W, K, kh, kw, stride, padding, dilation, groups); covers the
# im2col path, plain 1x1, strided 1x1, depthwise (with multiplier), groups,
# dilation, asymmetric options, zero batch, and sizes big enough for the
# threaded paths (batch-parallel and per-image parallel im2col).
CASES = [
    (2, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1),
    (1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1),
    (3, 4, 5, 6, 6, 1, 1, 1, 0, 1, 2),
    (4, 3, 5, 5, 2, 1, 1, 2, 0, 1, 1),
    (2, 4, 9, 7, 4, 3, 3, 2, 1, 1, 4),
    (2, 3, 8, 8, 6, 3, 3, 1, 1, 1, 3),
    (2, 3, 7, 7, 3, 3, 3, 2, 2, 3, 3),
    (2, 2, 7, 9, 3, 3, 2, (2, 1), (1, 0), (2, 1), 1),
    (1, 6, 17, 5, 4, 5, 3, 3, 2, 2, 2),
    (0, 3, 5, 5, 2, 3, 3, 1, 1, 1, 1),
    (2, 1, 7, 7, 5, 3, 3, 1, 1, 1, 1),
    (1, 2, 3, 3, 3, 3, 3, 1, 0, 1, 1),
    (8, 8, 16, 16, 8, 3, 3, 1, 1, 1, 1),
    (3, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1),
    (4, 16, 16, 16, 16, 3, 3, 1, 1, 1, 16),
    (8, 16, 12, 12, 8, 1, 1, 1, 0, 1, 1),
    (2, 3, 5, 70, 3, 3, 3, 2, 1, 1, 3),
    (1, 2, 4, 40, 4, 3, 3, 1, 1, 1, 2),
    (1, 2, 9, 20, 2, 3, 3, 3, 1, 1, 2),
    (2, 3, 6, 19, 3, 3, 2, 1, (2, 0), (1, 2), 3),
    (1, 2, 3, 4, 2, 1, 1, 1, 1, 1, 2),
    # depthwise stride 1: the flat loop (rows run together on the padded
    # pitch) with odd maps, 5x5 taps, a multiplier; OW = 32 takes the row loop
    (3, 5, 14, 14, 5, 3, 3, 1, 1, 1, 5),
    (2, 3, 33, 7, 3, 5, 5, 1, 2, 1, 3),
    (2, 4, 7, 7, 8, 3, 3, 1, 1, 1, 4),
    (1, 2, 3, 32, 2, 3, 3, 1, 1, 1, 2),
]


def make(rng, case, dtype=np.float64):
    N, C, H, W, Kc, kh, kw, s, p, d, g = case
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((Kc, C // g, kh, kw)).astype(dtype)
    b = rng.standard_normal(Kc).astype(dtype)
    return x, w, b, dict(stride=s, padding=p, dilation=d, groups=g)


@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
def test_conv2d_all_passes_match_reference(rng, isa, case):
    x, w, b, opt = make(rng, case)
    y = kernels.conv2d_forward(x, w, b, **opt)
    ref = conv_ref(x, w, b, **opt)
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-10)
    dy = rng.standard_normal(y.shape)
    # The input gradient is the adjoint of x -> conv(x, w): <conv(v), dy> == <v, dx>.
    dx = kernels.conv2d_backward_input(dy, w, x.shape, **opt)
    v = rng.standard_normal(x.shape)
    assert np.isclose((conv_ref(v, w, None, **opt) * dy).sum(), (v * dx).sum(), rtol=1e-9, atol=1e-9)
    dw, db = kernels.conv2d_backward_weight(x, dy, w.shape, **opt)
    u = rng.standard_normal(w.shape)
    assert np.isclose((conv_ref(x, u, None, **opt) * dy).sum(), (u * dw).sum(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 2, 3)), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", CASES[:9], ids=[str(c) for c in CASES[:9]])
def test_conv2d_backward_finite_differences(rng, case):
    x, w, b, opt = make(rng, case)
    dy = rng.standard_normal(kernels.conv2d_forward(x, w, b, **opt).shape)
    dx = kernels.conv2d_backward_input(dy, w, x.shape, **opt)
    dw, db = kernels.conv2d_backward_weight(x, dy, w.shape, **opt)
    for arr, grad, f in [(x, dx, lambda t: kernels.conv2d_forward(t, w, b, **opt)), (w, dw, lambda t: kernels.conv2d_forward(x, t, b, **opt)),
                         (b, db, lambda t: kernels.conv2d_forward(x, w, t, **opt))]:
        v = rng.standard_normal(arr.shape)
        assert np.isclose((directional_fd(f, arr, v) * dy).sum(), (grad * v).sum(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", [CASES[0], CASES[2], CASES[5], CASES[12], CASES[16], CASES[17], CASES[18], CASES[19]])
def test_conv2d_float32(rng, isa, case):
    x, w, b, opt = make(rng, case, np.float32)
    y = kernels.conv2d_forward(x, w, b, **opt)
    assert y.dtype == np.float32
    ref = conv_ref(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), **opt)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = kernels.conv2d_backward_input(dy, w, x.shape, **opt)
    dx64 = kernels.conv2d_backward_input(dy.astype(np.float64), w.astype(np.float64), x.shape, **opt)
    np.testing.assert_allclose(dx, dx64, rtol=1e-4, atol=1e-4)
    dw, db = kernels.conv2d_backward_weight(x, dy, w.shape, **opt)
    dw64, _ = kernels.conv2d_backward_weight(x.astype(np.float64), dy.astype(np.float64), w.shape, **opt)
    np.testing.assert_allclose(dw, dw64, rtol=1e-4, atol=1e-3)


def test_conv2d_without_bias_and_non_contiguous_inputs(rng):
    x = rng.standard_normal((2, 5, 9, 3)).transpose(0, 1, 3, 2)[:, ::2]  # (2, 3, 3, 9), strided
    w = rng.standard_normal((4, 3, 2, 2)).transpose(0, 1, 3, 2)
    np.testing.assert_allclose(kernels.conv2d_forward(x, w), conv_ref(x, w, None, 1, 0, 1, 1), rtol=1e-10, atol=1e-10)


def test_conv2d_weight_gradient_zero_batch_is_zero(rng):
    x = np.zeros((0, 3, 5, 5))
    dy = np.zeros((0, 4, 5, 5))
    dw, db = kernels.conv2d_backward_weight(x, dy, (4, 3, 3, 3), padding=1)
    assert not dw.any() and not db.any() and dw.shape == (4, 3, 3, 3)


def test_conv2d_from_two_python_threads(rng):
    # The GIL is released around the kernel; per-thread workspaces must keep concurrent calls apart.
    import threading
    cases = [make(rng, c) for c in (CASES[0], CASES[4], CASES[12])]
    want = [conv_ref(x, w, b, **o) for x, w, b, o in cases]
    errors = []

    def work():
        for _ in range(5):
            for (x, w, b, o), ref in zip(cases, want):
                if not np.allclose(kernels.conv2d_forward(x, w, b, **o), ref, rtol=1e-10, atol=1e-10):
                    errors.append(o)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_conv2d_denormal_inputs_flush_to_zero(rng):
    # FTZ/DAZ inside the kernel: float32 denormals read as 0 (and the mode is restored after).
    x = np.full((1, 1, 4, 4), 1e-39, dtype=np.float32)
    w = np.ones((1, 1, 1, 1), dtype=np.float32)
    assert not kernels.conv2d_forward(x, w).any()
    assert np.float32(1e-39) * np.float32(1) != 0  # Python's own arithmetic is untouched


TRANSPOSE_CASES = [
    # (N, Cin, H, W, Cout, kh, kw, stride, padding, output_padding, dilation, groups)
    (2, 3, 4, 5, 4, 3, 3, 2, 1, 1, 1, 1),
    (1, 4, 3, 3, 6, 2, 2, 2, 0, 0, 1, 2),
    (2, 2, 5, 4, 3, 3, 2, (3, 1), (1, 0), (2, 0), (1, 2), 1),
    (2, 4, 5, 5, 4, 3, 3, 1, 1, 0, 2, 4),
    (0, 2, 3, 3, 2, 3, 3, 1, 0, 0, 1, 1),
]


@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=[str(c) for c in TRANSPOSE_CASES])
def test_conv_transpose2d_matches_scatter_reference(rng, isa, case):
    N, Cin, H, W, Cout, kh, kw, s, p, op, d, g = case
    x = rng.standard_normal((N, Cin, H, W))
    w = rng.standard_normal((Cin, Cout // g, kh, kw))
    b = rng.standard_normal(Cout)
    y = kernels.conv_transpose2d_forward(x, w, b, stride=s, padding=p, output_padding=op, dilation=d, groups=g)
    np.testing.assert_allclose(y, conv_transpose_ref(x, w, b, s, p, op, d, g), rtol=1e-10, atol=1e-10)


def test_conv_transpose2d_errors(rng):
    x, w = np.zeros((1, 2, 3, 3)), np.zeros((2, 2, 3, 3))
    with pytest.raises(ValueError, match=re.escape("conv_transpose2d: argument 'output_padding' expected values in "
                                                   "[0, stride), got (1, 1) for stride (1, 1)")):
        kernels.conv_transpose2d_forward(x, w, output_padding=1)
    with pytest.raises(ValueError, match=re.escape("conv_transpose2d: argument 'weight' expected shape (C_in=2")):
        kernels.conv_transpose2d_forward(x, np.zeros((3, 2, 3, 3)))
    with pytest.raises(ValueError, match="conv_transpose2d: argument 'bias' expected shape"):
        kernels.conv_transpose2d_forward(x, w, np.zeros(3))


@pytest.mark.parametrize("call, message", [
    (lambda x, w: kernels.conv2d_forward(x.astype(np.int64), w), "conv2d_forward: argument 'x' expected dtype float32 or float64, got int64"),
    (lambda x, w: kernels.conv2d_forward(x, w.astype(np.float32)), "conv2d_forward: argument 'weight' expected dtype float64 (like 'x'), got float32"),
    (lambda x, w: kernels.conv2d_forward(x, w[:, :2]), "conv2d_forward: argument 'weight' expected shape (K=4, C/groups=3, kh=3, kw=3), got (4, 2, 3, 3)"),
    (lambda x, w: kernels.conv2d_forward(x, w, groups=2), "conv2d_forward: argument 'x' expected a channel count C >= 1 divisible by groups=2"),
    (lambda x, w: kernels.conv2d_forward(x, w, stride=0), "conv2d_forward: argument 'stride' expected values >= 1, got (0, 0)"),
    (lambda x, w: kernels.conv2d_forward(x, w, padding=-1), "conv2d_forward: argument 'padding' expected values >= 0"),
    (lambda x, w: kernels.conv2d_forward(x, w, dilation=(1, 0)), "conv2d_forward: argument 'dilation' expected values >= 1"),
    (lambda x, w: kernels.conv2d_forward(x, w, groups=0), "conv2d_forward: argument 'groups' expected >= 1, got 0"),
    (lambda x, w: kernels.conv2d_forward(x, w, dilation=3), "conv2d_forward: input of size (5, 5) with padding (0, 0) is smaller than the dilated kernel (7, 7)"),
    (lambda x, w: kernels.conv2d_forward(x[0], w), "conv2d_forward: argument 'x' expected a 4-D array, got shape (3, 5, 5)"),
    (lambda x, w: kernels.conv2d_forward(x, w, np.zeros(3)), "conv2d_forward: argument 'bias' expected shape (K=4,), got (3,)"),
    (lambda x, w: kernels.conv2d_backward_input(np.zeros((2, 4, 2, 2)), w, x.shape),
     "conv2d_backward_input: argument 'grad_out' expected shape (N=2, K=4, OH=3, OW=3), got (2, 4, 2, 2)"),
    (lambda x, w: kernels.conv2d_backward_weight(x, np.zeros((2, 4, 3, 4)), w.shape),
     "conv2d_backward_weight: argument 'grad_out' expected shape (N=2, K=4, OH=3, OW=3), got (2, 4, 3, 4)"),
])
def test_conv2d_bad_inputs(rng, call, message):
    x, w = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    with pytest.raises(ValueError, match=re.escape(message)):
        call(x, w)


def test_conv2d_native_checks_layout_and_aliasing(rng):
    x, w = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    out = np.empty((2, 4, 3, 3))
    with pytest.raises(ValueError, match=re.escape("conv2d_forward: argument 'x' must be C-contiguous")):
        nerve._C.conv2d_forward(out, np.asfortranarray(x), w, None, (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match=re.escape("conv2d_forward: argument 'out' expected shape (N=2, K=4, OH=3, OW=3)")):
        nerve._C.conv2d_forward(np.empty((2, 4, 3, 2)), x, w, None, (1, 1), (0, 0), (1, 1), 1)
    buf = np.zeros(2 * 4 * 5 * 5)
    with pytest.raises(ValueError, match="conv2d_forward: argument 'out' must not share memory with 'x'"):
        nerve._C.conv2d_forward(buf[:72].reshape(2, 4, 3, 3), buf[:150].reshape(2, 3, 5, 5), w, None,
                                (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="conv2d_forward: argument 'out' must be writable"):
        ro = np.empty((2, 4, 3, 3))
        ro.flags.writeable = False
        nerve._C.conv2d_forward(ro, x, w, None, (1, 1), (0, 0), (1, 1), 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_depthwise_weight_gradient_ignores_discarded_lanes(rng, isa, dtype):
    # The flat stride-1 loop reads, in lanes past each output row, the next
    # row's first columns; an inf there (x[:, :, r, 0], no padding) may only
    # reach the tap that really reads column 0.
    x = rng.standard_normal((2, 3, 14, 14)).astype(dtype)
    x[:, :, 5, 0] = np.inf
    dy = rng.standard_normal((2, 3, 12, 12)).astype(dtype)
    dw, _ = kernels.conv2d_backward_weight(x, dy, (3, 1, 3, 3), groups=3)
    assert not np.isfinite(dw[..., 0]).all()
    xf = np.where(np.isfinite(x), x, 0).astype(np.float64)
    ref = np.zeros((3, 1, 3, 3))
    for i in range(3):
        for j in range(1, 3):
            ref[:, 0, i, j] = (xf[:, :, i:i + 12, j:j + 12] * dy).sum(axis=(0, 2, 3))
    np.testing.assert_allclose(dw[..., 1:], ref[..., 1:], rtol=1e-4, atol=1e-4)
