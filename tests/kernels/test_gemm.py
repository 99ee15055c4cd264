"""nerve._C.gemm and nerve.kernels.matmul against a float64 NumPy reference."""
import math

import numpy as np
import pytest

from nerve import _C, kernels

DTYPES = [np.float32, np.float64]
TRANS = [(False, False), (False, True), (True, False), (True, True)]
# (M, K, N): every edge size in every position; the last crosses the MC/KC/NC
# blocks of every ISA (K > 336, N > 384, M > 768) so several panels are packed.
SHAPES = [(1, 1, 1), (3, 7, 17), (17, 33, 65), (65, 127, 3), (127, 255, 257), (257, 1, 33), (7, 257, 127),
          (33, 65, 255), (800, 700, 500)]


def _atol(dtype, k):
    return (1e-5 if dtype == np.float32 else 1e-12) * max(k, 1)


def _operands(rng, dtype, m, k, n, ta, tb, batch=()):
    a = rng.standard_normal(batch + ((k, m) if ta else (m, k))).astype(dtype)
    b = rng.standard_normal(batch + ((n, k) if tb else (k, n))).astype(dtype)
    return a, b


def _ref(a, b, ta, tb, alpha=1.0, beta=0.0, c=None, bias=None, activation=None):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    r = alpha * np.matmul(np.swapaxes(a64, -1, -2) if ta else a64, np.swapaxes(b64, -1, -2) if tb else b64)
    if beta:
        r = r + beta * c.astype(np.float64)
    if bias is not None:
        r = r + bias.astype(np.float64)
    if activation == "relu":
        r = np.maximum(r, 0)
    elif activation == "gelu":
        r = 0.5 * r * (1 + np.vectorize(math.erf)(r / math.sqrt(2)))
    elif activation == "gelu_tanh":
        r = 0.5 * r * (1 + np.tanh(math.sqrt(2 / math.pi) * (r + 0.044715 * r**3)))
    return r


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", TRANS)
def test_shapes_and_transposes(isa, rng, dtype, ta, tb):
    for m, k, n in SHAPES:
        if isa == "generic" and m * n * k > 1e7 and (ta, tb) != (False, False):
            continue  # the portable kernel is slow; one combo covers its blocking
        a, b = _operands(rng, dtype, m, k, n, ta, tb)
        out = np.full((m, n), np.nan, dtype)
        _C.gemm(out, a, b, ta, tb)
        np.testing.assert_allclose(out, _ref(a, b, ta, tb), rtol=0, atol=_atol(dtype, k), err_msg=f"{(m, k, n)}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_alpha_beta(isa, rng, dtype):
    m, k, n = 37, 400, 45  # two K blocks: beta applies once
    for ta, tb in TRANS:
        a, b = _operands(rng, dtype, m, k, n, ta, tb)
        c = rng.standard_normal((m, n)).astype(dtype)
        want = _ref(a, b, ta, tb, -1.5, 0.25, c)
        _C.gemm(c, a, b, ta, tb, -1.5, 0.25)
        np.testing.assert_allclose(c, want, rtol=0, atol=_atol(dtype, k))
    # beta = 0 ignores NaN/inf in out; alpha = 0 gives beta * out
    c = np.full((m, n), np.nan, dtype)
    _C.gemm(c, a, b, True, True, 2.0, 0.0)
    np.testing.assert_allclose(c, _ref(a, b, True, True, 2.0), rtol=0, atol=_atol(dtype, k))
    c0 = rng.standard_normal((m, n)).astype(dtype)
    c = c0.copy()
    _C.gemm(c, a, b, True, True, 0.0, 3.0)
    np.testing.assert_allclose(c, 3 * c0, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_and_transposed_views(rng, dtype):
    m, k, n = 19, 45, 70
    big_a = rng.standard_normal((60, 90)).astype(dtype)
    big_b = rng.standard_normal((80, 100)).astype(dtype)
    big_c = rng.standard_normal((40, 120)).astype(dtype)
    a = big_a[3:3 + m, 5:5 + k]            # row stride 90
    b = big_b[2:2 + k, 7:7 + n]            # row stride 100
    at = big_a[1:1 + k, 2:2 + m].T         # column-contiguous view of a (M, K) matrix
    bt = big_b[4:4 + n, 1:1 + k].T         # column-contiguous view of a (K, N) matrix
    for x, y in [(a, b), (at, b), (a, bt), (at, bt)]:
        c0 = big_c.copy()
        out = c0[5:5 + m, 9:9 + n]         # row stride 120
        _C.gemm(out, x, y, False, False, 1.0, 0.5)
        want = _ref(x, y, False, False, 1.0, 0.5, big_c[5:5 + m, 9:9 + n])
        np.testing.assert_allclose(out, want, rtol=0, atol=_atol(dtype, k))
        untouched = np.ones(c0.shape, bool)
        untouched[5:5 + m, 9:9 + n] = False
        np.testing.assert_array_equal(c0[untouched], big_c[untouched])
    # trans_a on a transposed view reads the stored matrix as is
    x = big_a[:k, :m]
    out = np.empty((m, n), dtype)
    _C.gemm(out, x.T, b, False, False)
    np.testing.assert_allclose(out, _ref(x, b, True, False), rtol=0, atol=_atol(dtype, k))
    _C.gemm(out, np.ascontiguousarray(x.T).T, b, True, False)
    np.testing.assert_allclose(out, _ref(x.T, b, False, False), rtol=0, atol=_atol(dtype, k))


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched(isa, rng, dtype):
    bsz, m, k, n = 4, 13, 21, 35
    for ta, tb in TRANS:
        a, b = _operands(rng, dtype, m, k, n, ta, tb, (bsz,))
        out = np.empty((bsz, m, n), dtype)
        _C.gemm(out, a, b, ta, tb)
        np.testing.assert_allclose(out, _ref(a, b, ta, tb), rtol=0, atol=_atol(dtype, k))
        # one 2-D operand shared by the whole batch
        out2 = np.empty((bsz, m, n), dtype)
        _C.gemm(out2, a, b[0], ta, tb)
        np.testing.assert_allclose(out2, _ref(a, b[:1], ta, tb), rtol=0, atol=_atol(dtype, k))
        _C.gemm(out2, a[1], b, ta, tb)
        np.testing.assert_allclose(out2, _ref(a[1:2], b, ta, tb), rtol=0, atol=_atol(dtype, k))
    # batch slices of a bigger array (batch stride != M*K)
    big = rng.standard_normal((bsz, m + 3, k + 2)).astype(dtype)
    x = big[:, 1:1 + m, :k]
    out = np.empty((bsz, m, n), dtype)
    _C.gemm(out, x, b[:, :k, :n] if not tb else b.swapaxes(1, 2), False, False)
    np.testing.assert_allclose(out, _ref(x, b.swapaxes(1, 2) if tb else b, False, False), rtol=0,
                               atol=_atol(dtype, k))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", TRANS)
def test_prepacked_b(isa, rng, dtype, ta, tb):
    """prepack_b=True: op(b) packed once (cpu::pack_b), every matrix of a batch of a
    multiplied by it (cpu::gemm_packed), with alpha, beta, bias and an activation."""
    for m, k, n in SHAPES:
        if isa == "generic" and m * n * k > 1e7 and (ta, tb) != (False, False):
            continue
        a, b = _operands(rng, dtype, m, k, n, ta, tb)
        a3 = np.stack([a, -2 * a, a[::-1]])  # three products on one packed b
        out = np.full((3, m, n), np.nan, dtype)
        _C.gemm(out, a3, b, ta, tb, prepack_b=True)
        np.testing.assert_allclose(out, _ref(a3, b[None], ta, tb), rtol=0, atol=2 * _atol(dtype, k),
                                   err_msg=f"{(m, k, n)}")
        bias = rng.standard_normal(n).astype(dtype)
        c = rng.standard_normal((m, n)).astype(dtype)
        want = _ref(a, b, ta, tb, -0.5, 0.75, c, bias, "relu")
        _C.gemm(c, a, b, ta, tb, -0.5, 0.75, bias=bias, activation="relu", prepack_b=True)
        np.testing.assert_allclose(c, want, rtol=0, atol=_atol(dtype, k), err_msg=f"{(m, k, n)} epilogue")


@pytest.mark.parametrize("dtype", DTYPES)
def test_prepacked_b_views_and_threads(rng, dtype):
    """Strided and transposed views of b, and products split over 2 threads (by
    columns of the packed b when M is small, as in an RNN step)."""
    big_b = rng.standard_normal((80, 100)).astype(dtype)
    a = rng.standard_normal((19, 45)).astype(dtype)
    for b in [big_b[2:47, 7:77], big_b[4:74, 1:46].T]:  # (K=45, N=70), row stride 100 / column-contiguous
        out = np.empty((19, 70), dtype)
        _C.gemm(out, a, b, prepack_b=True)
        np.testing.assert_allclose(out, _ref(a, b, False, False), rtol=0, atol=_atol(dtype, 45))
    before = _C.get_num_threads()
    try:
        _C.set_num_threads(2)
        for m, k, n in [(24, 400, 1000), (300, 64, 250), (7, 700, 1003)]:
            a, b = _operands(rng, dtype, m, k, n, False, True)
            out = np.empty((m, n), dtype)
            _C.gemm(out, a, b, False, True, prepack_b=True)
            np.testing.assert_allclose(out, _ref(a, b, False, True), rtol=0, atol=_atol(dtype, k))
    finally:
        _C.set_num_threads(before)


def test_prepacked_b_zero_sizes():
    for m, k, n in [(0, 4, 5), (4, 0, 5), (4, 5, 0)]:
        out = np.full((m, n), np.nan, np.float32)
        _C.gemm(out, np.ones((m, k), np.float32), np.ones((k, n), np.float32), prepack_b=True)
        np.testing.assert_array_equal(out, np.zeros((m, n)))


def test_batched_threads(rng):
    """The batch-parallel path and the split-matrix path agree with one thread."""
    before = _C.get_num_threads()
    try:
        for bsz, m, k, n in [(6, 64, 96, 80), (3, 150, 200, 170), (1, 300, 64, 250)]:
            a, b = _operands(rng, np.float32, m, k, n, False, True, (bsz,))
            outs = []
            for threads in (1, 2):
                _C.set_num_threads(threads)
                out = np.empty((bsz, m, n), np.float32)
                _C.gemm(out, a, b, False, True, bias=np.ones(n, np.float32), activation="relu")
                outs.append(out)
            want = _ref(a, b, False, True, bias=np.ones(n), activation="relu")
            for out in outs:
                np.testing.assert_allclose(out, want, rtol=0, atol=_atol(np.float32, k))
    finally:
        _C.set_num_threads(before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["none", "relu", "gelu", "gelu_tanh"])
def test_epilogue(isa, rng, dtype, activation):
    for m, k, n in [(5, 3, 7), (29, 700, 53), (24, 16, 64)]:  # edge tiles, several K blocks, whole tiles
        a, b = _operands(rng, dtype, m, k, n, False, False)
        a *= 0.1  # keep values in the range where the activations bend
        bias = rng.standard_normal(n).astype(dtype)
        c = rng.standard_normal((m, n)).astype(dtype)
        want = _ref(a, b, False, False, 0.5, 2.0, c, bias, activation)
        _C.gemm(c, a, b, False, False, 0.5, 2.0, bias=bias, activation=activation)
        tol = _atol(dtype, k) + (2e-6 if dtype == np.float32 else 0)
        np.testing.assert_allclose(c, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=tol)
    # K = 0: out = act(beta * out + bias)
    c = rng.standard_normal((4, 6)).astype(dtype)
    bias = rng.standard_normal(6).astype(dtype)
    want = _ref(np.zeros((4, 0)), np.zeros((0, 6)), False, False, 1.0, 0.5, c, bias, activation)
    _C.gemm(c, np.zeros((4, 0), dtype), np.zeros((0, 6), dtype), beta=0.5, bias=bias, activation=activation)
    np.testing.assert_allclose(c, want, rtol=1e-5, atol=1e-6)


def test_zero_sizes():
    for m, k, n in [(0, 4, 5), (4, 0, 5), (4, 5, 0), (0, 0, 0)]:
        a, b = np.ones((m, k), np.float32), np.ones((k, n), np.float32)
        out = np.full((m, n), np.nan, np.float32)
        _C.gemm(out, a, b)
        np.testing.assert_array_equal(out, np.zeros((m, n)))
    out = np.empty((0, 3, 4))
    _C.gemm(out, np.ones((0, 3, 2)), np.ones((0, 2, 4)))
    assert kernels.matmul(np.ones((0, 3, 2)), np.ones((2, 4))).shape == (0, 3, 4)


def test_kernels_matmul(rng):
    a = rng.standard_normal((6, 9)).astype(np.float32)
    b = rng.standard_normal((5, 9)).astype(np.float32)
    bias = rng.standard_normal(5)
    got = kernels.matmul(a, b, trans_b=True, bias=bias.astype(np.float32), activation="relu")
    assert got.dtype == np.float32 and got.shape == (6, 5)
    np.testing.assert_allclose(got, _ref(a, b, False, True, bias=bias, activation="relu"), atol=1e-5)
    out = np.empty((9, 9), np.float64)
    assert kernels.matmul(a.T.astype(np.float64), a.astype(np.float64), out=out) is out
    np.testing.assert_allclose(out, a.T.astype(np.float64) @ a, atol=1e-5)
    got = kernels.matmul(rng.standard_normal((3, 6, 9)), b.T.astype(np.float64))
    assert got.shape == (3, 6, 5)


def test_peak_gflops():
    assert _C.peak_gflops("float64", 1) > 0
    with pytest.raises(ValueError, match="peak_gflops: argument 'dtype'"):
        _C.peak_gflops("int8", 1)


def test_bad_input():
    f32 = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"gemm: argument 'b' expected a 2-D matrix with prepack_b=True, got shape \(2, 4, 5\)"):
        _C.gemm(np.empty((2, 3, 5), np.float32), np.ones((2, 3, 4), np.float32), np.ones((2, 4, 5), np.float32),
                prepack_b=True)
    with pytest.raises(ValueError, match=r"gemm: argument 'b' expected shape \(K=4, N\).*got \(5, 2\)"):
        _C.gemm(np.empty((3, 2), np.float32), f32, np.ones((5, 2), np.float32))
    with pytest.raises(ValueError, match=r"gemm: argument 'out' expected shape \(3, 2\), got \(2, 3\)"):
        _C.gemm(np.empty((2, 3), np.float32), f32, np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="gemm: arguments 'a', 'b' and 'out' must share one dtype"):
        _C.gemm(np.empty((3, 2), np.float32), f32, np.ones((4, 2), np.float64))
    with pytest.raises(ValueError, match="gemm: argument 'a' expected dtype float32 or float64, got int32"):
        _C.gemm(np.empty((3, 2), np.int32), f32.astype(np.int32), np.ones((4, 2), np.int32))
    with pytest.raises(ValueError, match="gemm: argument 'a' expected a 2-D or 3-D array, got shape \\(4,\\)"):
        _C.gemm(np.empty((3, 2), np.float32), np.ones(4, np.float32), np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="gemm: argument 'b' expected a 2-D or 3-D array"):
        _C.gemm(np.empty((3, 2), np.float32), f32, np.ones((1, 1, 4, 2), np.float32))
    with pytest.raises(ValueError, match="gemm: argument 'b' has batch 3, expected 2"):
        _C.gemm(np.empty((3, 3, 2), np.float32), np.ones((2, 3, 4), np.float32), np.ones((3, 4, 2), np.float32))
    with pytest.raises(ValueError, match=r"gemm: argument 'bias' expected shape \(N=2,\), got \(3,\)"):
        _C.gemm(np.empty((3, 2), np.float32), f32, np.ones((4, 2), np.float32), bias=np.ones(3, np.float32))
    with pytest.raises(ValueError, match="gemm: argument 'bias' expected dtype float32, got float64"):
        _C.gemm(np.empty((3, 2), np.float32), f32, np.ones((4, 2), np.float32), bias=np.ones(2))
    with pytest.raises(ValueError, match="gemm: argument 'bias' must be C-contiguous"):
        _C.gemm(np.empty((3, 2), np.float32), f32, np.ones((4, 2), np.float32), bias=np.ones(4, np.float32)[::2])
    with pytest.raises(ValueError, match="gemm: argument 'activation' expected one of .*got 'tanh'"):
        _C.gemm(np.empty((3, 2), np.float32), f32, np.ones((4, 2), np.float32), activation="tanh")
    ro = np.empty((3, 2), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="gemm: argument 'out' must be writable"):
        _C.gemm(ro, f32, np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="gemm: argument 'a' must have unit stride"):
        _C.gemm(np.empty((3, 2), np.float32), np.ones((6, 8), np.float32)[::2, ::2], np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="kernels.matmul|matmul: arguments 'a' and 'b' expected 2-D or 3-D"):
        kernels.matmul(np.ones(3), np.ones(3))
