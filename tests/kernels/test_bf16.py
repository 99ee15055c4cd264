"""bfloat16 kernels: the float32 <-> bf16 conversions and the bf16 GEMM.

Conversions are compared bit for bit with ml_dtypes' own astype (round to
nearest even, NaN -> quiet NaN, denormals kept). The GEMM is compared with
float64 NumPy on the bf16 inputs (the rounding of the inputs is the caller's:
the kernel must only add fp32 accumulation error), on every bf16 variant the
CPU has; variants it lacks skip with their reason.

Error bound: each product of two bf16 values is exact in fp32 (8 + 8 bit
significands), so the only error is fp32 accumulation: |err| <= K * 2^-24 *
sum_k |a_ik b_kj| (a recursive sum; blocked sums do better), plus the final
rounding of the output (2^-8 relative for a bf16 out, 2^-24 for fp32). The
tests assert err <= (K + 2) * 2^-24 * (|a| @ |b|) + out rounding + 1e-30.
"""
import ml_dtypes
import numpy as np
import pytest

from nerve import _C, kernels

BF16 = np.dtype(ml_dtypes.bfloat16)
ISAS = _C.isas()
BF16_ISAS = ["amx", "avx512_bf16", "avx512", "generic"]  # each bf16 path: AMX, VDPBF16PS, portable (fp32 FMA / SSE2)


def _available(isa):
    return ISAS.index(isa) <= ISAS.index(_C.best_isa())


@pytest.fixture(params=BF16_ISAS)
def bf16_isa(request):
    isa = request.param
    if not _available(isa):
        reason = f"; AMX: {_C.amx_status()}" if isa == "amx" else ""
        pytest.skip(f"this CPU lacks {isa} (best is {_C.best_isa()}{reason})")
    before = _C.isa()
    _C.set_isa(isa)
    yield isa
    _C.set_isa(before)


# ------------------------------------------------------------ conversions
def _special_floats():
    f32 = np.float32
    vals = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, -np.nan, 3.4028235e38, -3.4028235e38, 1e-45, -1e-45,
            1.1754944e-38, 1.1754942e-38, 65504.0, 1.0 / 3.0, 2.0 ** -133, 2.0 ** -126 * 1.5]
    bits = [0x3F808000, 0x3F818000, 0x3F80FFFF, 0x3F817FFF, 0x3F818001,  # ties to even both ways, near-ties
            0x7F7FFFFF, 0x7F7F8000, 0x7F7F7FFF, 0xFF7F8000,  # overflow rounds to Inf at the tie
            0x7F800001, 0xFF800001, 0x7FC00001, 0x7FBFFFFF, 0xFFFFFFFF, 0x7F810000,  # NaNs (signalling, payloads)
            0x00008000, 0x00018000, 0x0000FFFF, 0x807F8000, 0x007FFFFF]  # denormal ties and roundings
    out = np.array(vals, dtype=f32)
    return np.concatenate([out, np.array(bits, dtype=np.uint32).view(f32)])


def _check_same_bits(got, x):
    with np.errstate(invalid="ignore"):
        want = x.astype(BF16)
    gb, wb = got.view(np.uint16), want.view(np.uint16)
    bad = np.nonzero(gb != wb)[0]
    assert bad.size == 0, [(hex(x.view(np.uint32)[i]), hex(gb[i]), hex(wb[i])) for i in bad[:8]]


@pytest.mark.parametrize("isa", ["avx512_bf16", "avx512", "avx2", "generic"])
def test_bf16_from_float32_matches_ml_dtypes(isa, rng):
    if not _available(isa):
        pytest.skip(f"this CPU lacks {isa}")
    before = _C.isa()
    _C.set_isa(isa)
    try:
        special = _special_floats()
        out = np.empty(special.shape, BF16)
        _C.bf16_from_float32(out, special)
        _check_same_bits(out, special)
        # every float whose low 16 bits sit at or next to a rounding tie, all exponents
        hi = rng.integers(0, 1 << 16, 4096).astype(np.uint32) << 16
        lo = np.array([0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xFFFF], np.uint32)
        x = (hi[:, None] | lo[None, :]).reshape(-1).view(np.float32)
        out = np.empty(x.shape, BF16)
        _C.bf16_from_float32(out, x)
        _check_same_bits(out, x)
        # random bits, odd lengths (vector tails), large (threaded)
        for n in (1, 3, 17, 33, 1000, 1 << 20):
            x = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)
            out = np.empty(n, BF16)
            _C.bf16_from_float32(out, x)
            _check_same_bits(out, x)
    finally:
        _C.set_isa(before)


def test_float32_from_bf16_is_exact(rng):
    bits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    x = bits.view(BF16).reshape(256, 256)
    out = np.empty(x.shape, np.float32)
    _C.float32_from_bf16(out, x)
    want = x.astype(np.float32)
    np.testing.assert_array_equal(out.view(np.uint32), want.view(np.uint32))
    assert (out.view(np.uint32) == (bits.astype(np.uint32) << 16).reshape(256, 256)).all()  # NaNs keep their bits


def test_conversion_round_trip_and_kernels():
    x = np.linspace(-3, 3, 101, dtype=np.float32).reshape(1, 101)
    b = kernels.bf16_from_float32(x)
    assert b.dtype == BF16 and b.shape == x.shape
    np.testing.assert_array_equal(kernels.float32_from_bf16(b), x.astype(BF16).astype(np.float32))
    empty = np.empty((0, 3), np.float32)
    assert kernels.bf16_from_float32(empty).shape == (0, 3)


def test_conversion_bad_input():
    x = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="bf16_from_float32: argument 'out' expected dtype bfloat16, got float32"):
        _C.bf16_from_float32(np.empty(4, np.float32), x)
    with pytest.raises(ValueError, match="bf16_from_float32: argument 'x' expected dtype float32, got float64"):
        _C.bf16_from_float32(np.empty(4, BF16), x.astype(np.float64))
    with pytest.raises(ValueError, match="float32_from_bf16: argument 'x' expected dtype bfloat16, got V2"):
        _C.float32_from_bf16(np.empty(4, np.float32), np.empty(4, "V2"))  # raw void bytes are not bfloat16
    with pytest.raises(ValueError, match=r"float32_from_bf16: argument 'out' expected shape \(4,\)"):
        _C.float32_from_bf16(np.empty(5, np.float32), np.ones(4, BF16))
    with pytest.raises(ValueError, match="float32_from_bf16: argument 'x' must be C-contiguous"):
        _C.float32_from_bf16(np.empty(4, np.float32), np.ones(8, BF16)[::2])


# ------------------------------------------------------------ GEMM
def _bf16(rng, shape):
    return rng.standard_normal(shape).astype(BF16)


def _ref(a, b, ta, tb, alpha=1.0, beta=0.0, c=None, bias=None, activation=None):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if ta:
        a64 = np.swapaxes(a64, -1, -2)
    if tb:
        b64 = np.swapaxes(b64, -1, -2)
    r = alpha * (a64 @ b64)
    mag = abs(alpha) * (np.abs(a64) @ np.abs(b64))
    if beta:
        r = r + beta * c.astype(np.float64)
        mag = mag + abs(beta) * np.abs(c.astype(np.float64))
    if bias is not None:
        r = r + bias.astype(np.float64)
        mag = mag + np.abs(bias.astype(np.float64))
    if activation == "relu":
        r = np.maximum(r, 0)
    return r, mag, a64.shape[-1]


def _check(out, want, mag, k, activation=None):
    got = out.astype(np.float64)
    tol = (k + 2) * 2.0 ** -24 * mag + 1e-30
    if out.dtype == BF16:
        tol = tol + 2.0 ** -8 * np.abs(want) + 2.0 ** -133
    if activation in ("gelu", "gelu_tanh"):
        tol = tol * 1.2 + 1e-6 * (1 + np.abs(want))
    err = np.abs(got - want)
    i = np.unravel_index(np.argmax(err - tol), err.shape)
    assert (err <= tol).all(), f"err {err[i]} > tol {tol[i]} at {i} (want {want[i]})"


SIZES = [(1, 1, 1), (3, 7, 17), (17, 33, 1), (15, 16, 17), (16, 15, 31), (17, 17, 33), (31, 32, 33), (32, 31, 32),
         (33, 33, 15), (64, 48, 96), (100, 70, 130), (129, 257, 65), (200, 96, 600), (67, 300, 1100)]


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("out_dtype", [np.float32, BF16], ids=["f32out", "bf16out"])
def test_gemm_shapes_and_transposes(bf16_isa, rng, ta, tb, out_dtype):
    for m, n, k in SIZES:
        a = _bf16(rng, (k, m) if ta else (m, k))
        b = _bf16(rng, (n, k) if tb else (k, n))
        out = np.full((m, n), np.nan, out_dtype)  # beta = 0 must not read out
        _C.gemm(out, a, b, ta, tb)
        want, mag, kk = _ref(a, b, ta, tb)
        _check(out, want, mag, kk)


@pytest.mark.parametrize("out_dtype", [np.float32, BF16], ids=["f32out", "bf16out"])
def test_gemm_alpha_beta_epilogue(bf16_isa, rng, out_dtype):
    for (m, n, k) in [(7, 9, 5), (33, 47, 70), (40, 130, 700)]:
        a, b = _bf16(rng, (m, k)), _bf16(rng, (k, n))
        c0 = rng.standard_normal((m, n)).astype(np.float32).astype(out_dtype)
        for bias_dtype in (np.float32, BF16):
            bias = rng.standard_normal(n).astype(bias_dtype)
            for act in ("none", "relu", "gelu", "gelu_tanh"):
                out = c0.copy()
                _C.gemm(out, a, b, alpha=0.5, beta=-1.5, bias=bias, activation=act)
                want, mag, kk = _ref(a, b, False, False, 0.5, -1.5, c0, bias)
                if act == "relu":
                    want = np.maximum(want, 0)
                elif act == "gelu":
                    from math import erf
                    want = 0.5 * want * (1 + np.vectorize(erf)(want / np.sqrt(2)))
                elif act == "gelu_tanh":
                    want = 0.5 * want * (1 + np.tanh(0.7978845608028654 * (want + 0.044715 * want ** 3)))
                _check(out, want, mag, kk, act)


def test_gemm_batched_and_views(bf16_isa, rng):
    B, m, n, k = 3, 19, 35, 45
    a, b = _bf16(rng, (B, m, k)), _bf16(rng, (B, k, n))
    out = np.empty((B, m, n), np.float32)
    _C.gemm(out, a, b)
    want, mag, kk = _ref(a, b, False, False)
    _check(out, want, mag, kk)
    # shared 2-D b, transposed views (no copy), a strided output slice
    b2 = _bf16(rng, (n, k))
    big = np.zeros((B, m, n + 5), BF16)
    _C.gemm(big[:, :, 2:n + 2], np.swapaxes(a.transpose(0, 2, 1), 1, 2), b2.T)
    want, mag, kk = _ref(a, b2, False, True)
    _check(big[:, :, 2:n + 2], want, mag, kk)
    assert (big[:, :, :2].astype(np.float32) == 0).all() and (big[:, :, n + 2:].astype(np.float32) == 0).all()
    # row-strided input views
    a_big = _bf16(rng, (m, 2 * k))
    out2 = np.empty((m, n), np.float32)
    _C.gemm(out2, a_big[:, ::1][:, 3:k + 3], b[0])
    want, mag, kk = _ref(np.ascontiguousarray(a_big[:, 3:k + 3]), b[0], False, False)
    _check(out2, want, mag, kk)
    # prepack_b is accepted (same result)
    out3 = np.empty((B, m, n), np.float32)
    _C.gemm(out3, a, b2, trans_b=True, prepack_b=True)
    want, mag, kk = _ref(a, b2, False, True)
    _check(out3, want, mag, kk)


def test_gemm_large_threads(bf16_isa, rng):
    m, n, k = 300, 260, 1500  # several K blocks and thread units
    a, b = _bf16(rng, (m, k)), _bf16(rng, (k, n))
    for out_dtype in (np.float32, BF16):
        out = np.empty((m, n), out_dtype)
        _C.gemm(out, a, b, bias=np.ones(n, np.float32), activation="relu")
        want, mag, kk = _ref(a, b, False, False, bias=np.ones(n, np.float32))
        _check(out, np.maximum(want, 0), mag, kk)


def test_gemm_zero_sizes(bf16_isa):
    for m, n, k in [(0, 3, 4), (3, 0, 4), (0, 0, 0)]:
        out = np.empty((m, n), np.float32)
        _C.gemm(out, np.ones((m, k), BF16), np.ones((k, n), BF16))
    out = np.full((3, 4), 7.0, np.float32)
    _C.gemm(out, np.ones((3, 0), BF16), np.ones((0, 4), BF16), beta=0.0, bias=np.ones(4, np.float32))
    np.testing.assert_array_equal(out, 1.0)
    out = np.full((3, 4), 7.0, BF16)
    _C.gemm(out, np.ones((3, 0), BF16), np.ones((0, 4), BF16), beta=2.0)
    np.testing.assert_array_equal(out.astype(np.float32), 14.0)
    out = np.empty((0, 3, 4), np.float32)
    _C.gemm(out, np.ones((0, 3, 5), BF16), np.ones((0, 5, 4), BF16))


def test_gemm_bf16_bad_input():
    a, b = np.ones((3, 4), BF16), np.ones((4, 5), BF16)
    with pytest.raises(ValueError, match="gemm: arguments 'a' and 'b' must share one dtype, got bfloat16, float32"):
        _C.gemm(np.empty((3, 5), np.float32), a, b.astype(np.float32))
    with pytest.raises(ValueError, match="gemm: arguments 'a' and 'b' must share one dtype, got float32, bfloat16"):
        _C.gemm(np.empty((3, 5), np.float32), a.astype(np.float32), b)
    with pytest.raises(ValueError, match="gemm: argument 'out' expected dtype float32 or bfloat16 .*got float64"):
        _C.gemm(np.empty((3, 5), np.float64), a, b)
    with pytest.raises(ValueError, match="gemm: argument 'bias' expected dtype float32 or bfloat16 .*got float64"):
        _C.gemm(np.empty((3, 5), np.float32), a, b, bias=np.ones(5))
    with pytest.raises(ValueError, match=r"gemm: argument 'bias' expected shape \(N=5,\)"):
        _C.gemm(np.empty((3, 5), np.float32), a, b, bias=np.ones(4, np.float32))
    with pytest.raises(ValueError, match="gemm: argument 'b' expected shape"):
        _C.gemm(np.empty((3, 5), np.float32), a, np.ones((5, 5), BF16))
    with pytest.raises(ValueError, match="gemm: argument 'out' must not share memory with 'a'"):
        x = np.ones((4, 4), BF16)
        _C.gemm(x, x, np.ones((4, 4), BF16))
    with pytest.raises(ValueError, match="gemm: arguments 'a', 'b' and 'out' must share one dtype"):
        _C.gemm(np.empty((3, 5), BF16), a.astype(np.float32), b.astype(np.float32))


def test_kernels_matmul_bf16(rng):
    a, b = _bf16(rng, (2, 5, 7)), _bf16(rng, (7, 3))
    out = kernels.matmul(a, b)
    assert out.dtype == BF16 and out.shape == (2, 5, 3)
    out32 = kernels.matmul(a, b, out_dtype=np.float32)
    want, mag, kk = _ref(a, b, False, False)
    _check(out32, want, mag, kk)
    _check(out, want, mag, kk)


def test_fp32_families_fall_back_under_bf16_isas(rng):
    """amx / avx512_bf16 have no float32 code of their own: the fp32 kernels run avx512's (bitwise)."""
    best = _C.best_isa()
    if ISAS.index(best) <= ISAS.index("avx512"):
        pytest.skip(f"this CPU lacks avx512_bf16 (best is {best})")
    logits = rng.standard_normal((8, 33)).astype(np.float32)
    target = rng.integers(0, 33, 8).astype(np.int64)
    a, b = rng.standard_normal((40, 70)).astype(np.float32), rng.standard_normal((70, 50)).astype(np.float32)
    before = _C.isa()
    results = {}
    try:
        for isa in ISAS[ISAS.index("avx512"):ISAS.index(best) + 1]:
            _C.set_isa(isa)
            loss = kernels.cross_entropy_forward(logits, target)
            results[isa] = (np.asarray(loss[0]).copy(), kernels.matmul(a, b))
    finally:
        _C.set_isa(before)
    ref = results["avx512"]
    for isa, (loss, mm) in results.items():
        np.testing.assert_array_equal(loss, ref[0], err_msg=isa)
        np.testing.assert_array_equal(mm, ref[1], err_msg=isa)
