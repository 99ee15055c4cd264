"""The emulated tensor-core wrappers (csrc/cuda/emu/tensor_core.h behind
csrc/cuda/tensor_core.cuh), one warp at a time, against NumPy models of the PTX
ISA's documented fragment layouts. The layouts are written here again from the
PTX manual ("Matrix Fragments for mma.m16n8k4 / m16n8k8 / m16n8k16", "ldmatrix"),
independently of the C++ code, so a mistake in either shows up."""

import numpy as np
import pytest

from . import gemm_lib
from .gemm_lib import bf16_bits, bf16_value, ptr, tf32_rna, tf32_trunc

LANES = np.arange(32)
G, T = LANES >> 2, LANES % 4  # groupID, threadID_in_group


@pytest.fixture(scope="module")
def lib():
    return gemm_lib.build()


# ------------------------------------------------------------- PTX layouts
def c_layout():
    """(row, col) of c_i, i = 0..3, per lane: row = g (+8 for c2, c3), col = 2t + (i & 1)."""
    return [(G + 8 * (i >= 2), 2 * T + (i & 1)) for i in range(4)]


def a_tf32_k8():  # a0 (g, t) a1 (g+8, t) a2 (g, t+4) a3 (g+8, t+4)
    return [(G, T), (G + 8, T), (G, T + 4), (G + 8, T + 4)]


def b_tf32_k8():  # b0 (t, g) b1 (t+4, g)
    return [(T, G), (T + 4, G)]


def a_tf32_k4():  # a0 (g, t) a1 (g+8, t)
    return [(G, T), (G + 8, T)]


def b_tf32_k4():  # b0 (t, g)
    return [(T, G)]


def a_bf16_k16():
    """a_i, i = 0..7 (register i // 2, half i % 2): row g for i in {0,1,4,5}, else g+8;
    col 2t + (i & 1), +8 for i >= 4."""
    return [(G + 8 * (i in (2, 3, 6, 7)), 2 * T + (i & 1) + 8 * (i >= 4)) for i in range(8)]


def b_bf16_k16():
    """b_i, i = 0..3: row 2t + (i & 1), +8 for i >= 2; col g."""
    return [(2 * T + (i & 1) + 8 * (i >= 2), G) for i in range(4)]


def pack_regs(mat, layout):
    """(32, len(layout)) uint32 registers of a float32 matrix (tf32: the bits)."""
    return np.stack([mat[r, c].view(np.uint32) for r, c in layout], axis=1)


def pack_bf16_regs(bits, layout):
    """Two bf16 per register, element 2j in the low half."""
    halves = np.stack([bits[r, c] for r, c in layout], axis=1).astype(np.uint32)
    return halves[:, 0::2] | (halves[:, 1::2] << 16)


def unpack_c(d):
    out = np.zeros((16, 8), np.float32)
    for i, (r, c) in enumerate(c_layout()):
        out[r, c] = d[:, i]
    return out


def run_mma(lib, kind, a_regs, b_regs, c):
    a = np.zeros((32, 4), np.uint32)
    a[:, :a_regs.shape[1]] = a_regs
    b = np.zeros((32, 2), np.uint32)
    b[:, :b_regs.shape[1]] = b_regs
    c_regs = np.stack([c[r, col] for r, col in c_layout()], axis=1).astype(np.float32)
    d = np.zeros((32, 4), np.float32)
    assert lib.tc_mma(kind, ptr(a), ptr(b), ptr(c_regs), ptr(d)) == 0
    return unpack_c(d)


# -------------------------------------------------------------------- tests
def test_to_tf32_rounds_to_nearest_ties_away(lib, rng):
    x = rng.standard_normal(200).astype(np.float32) * 10.0 ** rng.integers(-30, 30, 200)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3.4e38], np.float32)
    # Exact ties: low 13 bits 0x1000 round away from zero, 0x0fff down.
    ties = (np.array([0x3F801000, 0xBF801000, 0x3F800FFF, 0x3F803000, 0x7F7FF000], np.uint32)).view(np.float32)
    x = np.concatenate([x.astype(np.float32), specials, ties]).astype(np.float32)
    out = np.zeros(len(x), np.uint32)
    assert lib.tc_to_tf32(ptr(x), ptr(out), len(x)) == 0
    np.testing.assert_array_equal(out, tf32_rna(x))
    assert out[-5] == 0x3F802000 and out[-4] == 0xBF802000 and out[-3] == 0x3F800000
    assert out[-1] == 0x7F800000  # the largest ties round up to infinity


@pytest.mark.parametrize("kind,k", [(0, 4), (1, 8)])
def test_mma_tf32_layout_and_truncation(lib, rng, kind, k):
    # Operands with all 23 mantissa bits set: the tensor core must ignore the low 13.
    A = rng.standard_normal((16, k)).astype(np.float32)
    B = rng.standard_normal((k, 8)).astype(np.float32)
    C = rng.standard_normal((16, 8)).astype(np.float32)
    la, lb = (a_tf32_k4(), b_tf32_k4()) if k == 4 else (a_tf32_k8(), b_tf32_k8())
    D = run_mma(lib, kind, pack_regs(A, la), pack_regs(B, lb), C)
    ref = (C.astype(np.float64) + tf32_trunc(A).astype(np.float64) @ tf32_trunc(B).astype(np.float64))
    np.testing.assert_allclose(D, ref.astype(np.float32), rtol=2e-7, atol=1e-6)
    full = C.astype(np.float64) + A.astype(np.float64) @ B.astype(np.float64)
    assert np.abs(D - full).max() > 1e-5  # the truncation is visible


def test_mma_tf32_each_position(lib):
    """One-hot operands: D[r, c] = A[r, k] * B[k, c] shows every register's (row, col)."""
    for k in range(8):
        A = np.zeros((16, 8), np.float32)
        A[:, k] = np.arange(1, 17)
        B = np.zeros((8, 8), np.float32)
        B[k, :] = np.arange(1, 9) * 100
        D = run_mma(lib, 1, pack_regs(A, a_tf32_k8()), pack_regs(B, b_tf32_k8()), np.zeros((16, 8), np.float32))
        np.testing.assert_array_equal(D, np.outer(np.arange(1, 17), np.arange(1, 9) * 100))


def test_mma_bf16_layout(lib, rng):
    A = bf16_bits(rng.standard_normal((16, 16)))
    B = bf16_bits(rng.standard_normal((16, 8)))
    C = rng.standard_normal((16, 8)).astype(np.float32)
    D = run_mma(lib, 2, pack_bf16_regs(A, a_bf16_k16()), pack_bf16_regs(B, b_bf16_k16()), C)
    ref = C.astype(np.float64) + bf16_value(A).astype(np.float64) @ bf16_value(B).astype(np.float64)
    np.testing.assert_allclose(D, ref.astype(np.float32), rtol=2e-7, atol=1e-6)
    # Swapping the two halves of one register changes the result: halves are placed, not summed.
    a = pack_bf16_regs(A, a_bf16_k16())
    a[5, 0] = (a[5, 0] >> 16) | ((a[5, 0] & 0xFFFF) << 16)
    D2 = run_mma(lib, 2, a, pack_bf16_regs(B, b_bf16_k16()), C)
    assert not np.array_equal(D, D2) or A[1, 2] == A[1, 3]


@pytest.mark.parametrize("num", [1, 2, 4])
@pytest.mark.parametrize("trans", [False, True])
def test_ldmatrix(lib, rng, num, trans):
    src = rng.integers(0, 1 << 16, (32, 8), dtype=np.uint16)  # 32 rows of 8 b16 in shared memory
    rows = rng.permutation(32).astype(np.int32)  # lane l gives the address of row rows[l]
    out = np.zeros((32, num), np.uint32)
    assert lib.tc_ldmatrix(num, int(trans), ptr(src), ptr(rows), ptr(out)) == 0
    for i in range(num):
        mat = src[rows[8 * i: 8 * i + 8]].astype(np.uint32)  # matrix i: row r from lane 8i + r
        if trans:  # lane l: column l/4, rows 2(l%4) and 2(l%4)+1 of the stored matrix
            lo, hi = mat[2 * T, G], mat[2 * T + 1, G]
        else:  # lane l: row l/4, columns 2(l%4) and 2(l%4)+1
            lo, hi = mat[G, 2 * T], mat[G, 2 * T + 1]
        np.testing.assert_array_equal(out[:, i], lo | (hi << 16), err_msg=f"matrix {i}")


def test_ldmatrix_ignores_unused_lane_addresses(lib, rng):
    src = rng.integers(0, 1 << 16, (32, 8), dtype=np.uint16)
    rows = rng.permutation(32).astype(np.int32)
    out1 = np.zeros((32, 2), np.uint32)
    assert lib.tc_ldmatrix(2, 0, ptr(src), ptr(rows), ptr(out1)) == 0
    rows[16:] = rows[16:][::-1]  # lanes 16-31 are not read by .x2
    out2 = np.zeros((32, 2), np.uint32)
    assert lib.tc_ldmatrix(2, 0, ptr(src), ptr(rows), ptr(out2)) == 0
    np.testing.assert_array_equal(out1, out2)


POISON = np.uint32(0xFFFFFFFF)


def cp_async(lib, mode, src):
    out = np.zeros(256, np.float32)
    assert lib.tc_cp_async(mode, ptr(src), ptr(out)) == 0
    return out


def test_cp_async_copies_at_wait(lib, rng):
    src = rng.standard_normal(256).astype(np.float32)
    np.testing.assert_array_equal(cp_async(lib, 0, src), src)


def test_cp_async_without_wait_reads_poison(lib, rng):
    src = rng.standard_normal(256).astype(np.float32)
    out = cp_async(lib, 1, src)
    assert (out.view(np.uint32) == POISON).all()  # neither the stale -1 nor the data


def test_cp_async_wait_group_leaves_newest_groups_pending(lib, rng):
    src = rng.standard_normal(256).astype(np.float32)
    out = cp_async(lib, 2, src)
    np.testing.assert_array_equal(out[:128], src[:128])
    assert (out[128:].view(np.uint32) == POISON).all()


def test_cp_async_src_size_zero_fills(lib, rng):
    src = rng.standard_normal(256).astype(np.float32)
    out = cp_async(lib, 3, src)
    ref = np.zeros(256, np.float32)
    for lane in range(32):
        n = lane % 5  # src-size 4 * n bytes
        ref[4 * lane: 4 * lane + n] = src[4 * lane: 4 * lane + n]
    np.testing.assert_array_equal(out, ref)


def test_cp_async_ca_sizes(lib, rng):
    src = rng.standard_normal(256).astype(np.float32)
    out = cp_async(lib, 4, src)
    ref = src.copy()
    ref[3:128:8] = 0  # even lanes: the 8-byte copy has src-size 4, its second float zero-filled
    np.testing.assert_array_equal(out, ref)
