"""CUDA GEMM kernels (csrc/cuda/gemm.cuh, gemm.cu) under the CPU emulation of
the CUDA execution model, against float64 NumPy: SIMT fp32/fp64, TF32 and bf16
tensor cores (fp32 accumulate), all transposes, batches with a shared 2-D
operand, padded leading dimensions, bias + ReLU/GELU epilogues, alpha/beta,
K = 0 and empty problems, sizes 1, 3, 17, 33 and tile edges. Small tile
configurations (gemm_kernels.cu) keep the emulation fast (each CUDA thread is a
real thread); the production launchers (gemm.cu's GPU tiles) run a few cases.

Tolerances: fp32 and fp64 from the accumulation (|alpha| |A| |B| + |beta C| +
|bias| times a few K eps); TF32 against a reference on inputs rounded as
cvt.rna.tf32 does (so the kernel's rounding is checked, not only bounded), and
2^-10 of the magnitude against the exact product; bf16 inputs are exact, the
output is rounded to bf16 (2^-8 relative)."""

import math

import numpy as np
import pytest

from . import gemm_lib
from .gemm_lib import bf16_bits, bf16_value, ptr, tf32_rna

SIMT32, SIMT64, TF32, BF16 = 0, 1, 2, 3
PRODUCTION, SMALL, SMALL_SYNC = 0, 1, 2
ACTS = {"none": 0, "relu": 1, "gelu": 2, "gelu_tanh": 3}
DTYPE = {SIMT32: np.float32, SIMT64: np.float64, TF32: np.float32, BF16: np.uint16}
# Small tiles (BM, BN, BK) of gemm_kernels.cu, for the edge cases.
SMALL_TILES = {SIMT32: (32, 16, 4), SIMT64: (16, 32, 8), TF32: (32, 16, 8), BF16: (32, 16, 16)}


@pytest.fixture(scope="module")
def lib():
    return gemm_lib.build()


def act_ref(x, act):
    if act == "relu":
        return np.maximum(x, 0)
    if act == "gelu":
        return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))) if x.size else x
    if act == "gelu_tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return x


def operand(rng, kind, batch, rows, cols, pad):
    """Storage (batch or 2-D) with `pad` extra columns ('align': up to a multiple of 16 bytes, so the
    tensor-core kernels take the cp.async pipeline); returns (storage, logical f64 values, ld, stride)."""
    if pad == "align":
        pad = -cols % 8
    shape = (rows, cols + pad) if batch is None else (batch, rows, cols + pad)
    x = rng.standard_normal(shape).astype(np.float32)
    if kind == BF16:
        store = bf16_bits(x)
        values = bf16_value(store).astype(np.float64)
    else:
        store = x.astype(DTYPE[kind])
        values = store.astype(np.float64)
    stride = 0 if batch is None else rows * (cols + pad)
    return store, values[..., :cols], cols + pad, stride


def run_gemm(lib, rng, kind, config, M, N, K, ta=False, tb=False, batch=1, shared=None, pad=0, alpha=1.0, beta=0.0,
             bias=False, act="none"):
    """shared: None (all 3-D), 'a' or 'b' (that operand 2-D, shared by the batch)."""
    a_store, a_val, lda, sa = operand(rng, kind, None if shared == "a" else batch, K if ta else M, M if ta else K, pad)
    b_store, b_val, ldb, sb = operand(rng, kind, None if shared == "b" else batch, N if tb else K, K if tb else N, pad)
    c_store, c_val, ldc, sc = operand(rng, kind, batch, M, N, pad)
    if beta == 0.0 and c_store.size:  # must be overwritten, never read
        c_store[...] = np.uint16(0x7FC0) if kind == BF16 else np.nan
    c_before = c_store.copy()
    if pad == "align" and kind in (TF32, BF16):  # the cp.async path needs 16-byte aligned operands
        assert a_store.ctypes.data % 16 == 0 and b_store.ctypes.data % 16 == 0
    bias_store, bias_val = (None, np.zeros(N))
    if bias:
        bias_store, bias_val, _, _ = operand(rng, kind, None, 1, N, 0)
        bias_store = bias_store.reshape(N)
        bias_val = bias_val.reshape(N)
    rc = lib.gemm_run(kind, config, batch, int(ta), int(tb), M, N, K, alpha, ptr(a_store), lda, sa, ptr(b_store), ldb,
                      sb, beta, ptr(c_store), ldc, sc, ptr(bias_store), ACTS[act])
    assert rc == 0, f"cuda error {rc}"
    a = np.broadcast_to(a_val, (batch,) + a_val.shape[-2:])
    b = np.broadcast_to(b_val, (batch,) + b_val.shape[-2:])
    opa = np.swapaxes(a, 1, 2) if ta else a
    opb = np.swapaxes(b, 1, 2) if tb else b
    cin = np.nan_to_num(c_val) if beta == 0.0 else c_val
    ref = act_ref(alpha * opa @ opb + beta * cin + bias_val, act)
    scale = abs(alpha) * np.abs(opa) @ np.abs(opb) + abs(beta) * np.abs(cin) + np.abs(bias_val) + 1e-30
    if kind == BF16:
        got = bf16_value(c_store[..., :N]).astype(np.float64)
    else:
        got = c_store[..., :N].astype(np.float64)
    # Padding columns of C are never written.
    if ldc > N:
        np.testing.assert_array_equal(c_store[..., N:].view(np.uint8), c_before[..., N:].view(np.uint8))
    if kind == SIMT64:
        tol = 1e-13 * (K + 2) * scale
    elif kind == SIMT32:
        tol = 6e-8 * (K + 2) * scale
    elif kind == TF32:
        tol = 2.0 ** -10 * 1.2 * scale + 6e-8 * (K + 2) * scale
        # Sharper: the same product on inputs rounded by cvt.rna.tf32.
        ra = tf32_rna(opa.astype(np.float32)).view(np.float32).astype(np.float64)
        rb = tf32_rna(opb.astype(np.float32)).view(np.float32).astype(np.float64)
        ref_r = act_ref(alpha * ra @ rb + beta * cin + bias_val, act)
        np.testing.assert_array_less(np.abs(got - ref_r), 1.2 * 6e-8 * (K + 4) * scale + 1e-30)
    else:
        tol = 2.0 ** -8 * np.abs(ref) * 1.01 + 6e-8 * (K + 2) * scale
    np.testing.assert_array_less(np.abs(got - ref), 1.2 * tol)
    return got


KINDS = [SIMT32, SIMT64, TF32, BF16]
KIND_IDS = ["simt32", "simt64", "tf32", "bf16"]


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("pad", [0, "align"])
def test_odd_sizes_all_transposes(lib, rng, kind, ta, tb, pad):
    for M, N, K in [(1, 1, 1), (3, 3, 3), (17, 33, 3), (33, 17, 33)]:
        run_gemm(lib, rng, kind, SMALL, M, N, K, ta, tb, pad=pad)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_tile_edges(lib, rng, kind):
    bm, bn, bk = SMALL_TILES[kind]
    for M, N, K in [(bm, bn, bk), (bm + 1, bn - 1, bk + 1), (bm - 1, bn + 1, 2 * bk - 1), (2 * bm, 2 * bn, 2 * bk)]:
        run_gemm(lib, rng, kind, SMALL, M, N, K, ta=M % 2 == 1, tb=N % 2 == 0)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("shared", [None, "a", "b"])
def test_batched_with_shared_operand(lib, rng, kind, shared):
    run_gemm(lib, rng, kind, SMALL, 17, 9, 13, ta=shared == "b", tb=shared == "a", batch=3, shared=shared)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("act", ["relu", "gelu", "gelu_tanh"])
def test_epilogue_bias_activation_alpha_beta(lib, rng, kind, act):
    run_gemm(lib, rng, kind, SMALL, 19, 21, 11, tb=True, alpha=0.75, beta=0.5, bias=True, act=act)
    run_gemm(lib, rng, kind, SMALL, 5, 7, 3, ta=True, alpha=-1.5, bias=True, act=act)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_k_zero_and_empty(lib, rng, kind):
    got = run_gemm(lib, rng, kind, SMALL, 5, 6, 0, beta=0.5, bias=True, act="relu")
    assert np.isfinite(got).all()
    for M, N, batch in [(0, 5, 1), (5, 0, 1), (4, 4, 0)]:
        run_gemm(lib, rng, kind, SMALL, M, N, 3, batch=batch)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_padded_leading_dimensions(lib, rng, kind):
    # pad 3: rows not 16-byte aligned, so the tensor-core kernels take the plain-load pipeline.
    for pad in (3, 8, "align"):
        run_gemm(lib, rng, kind, SMALL, 18, 20, 19, ta=True, pad=pad, beta=1.0)


@pytest.mark.parametrize("kind", [TF32, BF16], ids=["tf32", "bf16"])
def test_plain_load_pipeline(lib, rng, kind):
    for ta, tb in [(False, False), (True, True)]:
        run_gemm(lib, rng, kind, SMALL_SYNC, 33, 17, 35, ta, tb, bias=True, act="gelu")


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_production_configuration(lib, rng, kind):
    run_gemm(lib, rng, kind, PRODUCTION, 33, 17, 40, ta=True, bias=True, act="gelu_tanh", beta=0.5)
    run_gemm(lib, rng, kind, PRODUCTION, 33, 17, 40, tb=True, bias=True, act="relu", pad="align")
    run_gemm(lib, rng, kind, PRODUCTION, 3, 130, 9, tb=True, batch=2, shared="b", pad="align")


def test_tf32_differs_from_fp32(lib, rng):
    """allow_tf32 really changes the arithmetic (the launcher picks the tensor cores)."""
    r1 = np.random.default_rng(5)
    r2 = np.random.default_rng(5)
    simt = run_gemm(lib, r1, SIMT32, PRODUCTION, 16, 16, 64)
    tf32 = run_gemm(lib, r2, TF32, PRODUCTION, 16, 16, 64)
    assert np.abs(simt - tf32).max() > 1e-5
