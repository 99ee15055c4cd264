"""The CUDA emulation (csrc/cuda/emu): its semantics against NumPy, its error
reports, ThreadSanitizer and ASan on emulated kernels, and nvcc/ptxas on the same
kernel source. Builds: conftest.py."""

import ctypes
import os
import platform
import subprocess

import numpy as np
import pytest

from .conftest import nvcc_path

F32 = np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS")
I32 = np.ctypeslib.ndpointer(np.int32, flags="C_CONTIGUOUS")
U32 = np.ctypeslib.ndpointer(np.uint32, flags="C_CONTIGUOUS")
C_INT = ctypes.c_int
SIGNATURES = {
    "emu_block_sum": [F32, C_INT, F32, C_INT, C_INT],
    "emu_warp_allreduce": [F32, C_INT, F32, C_INT],
    "emu_shuffles": [I32, C_INT, I32, I32, I32, I32, C_INT, C_INT, C_INT, C_INT, C_INT],
    "emu_votes": [I32, C_INT, U32, I32, I32, I32, C_INT],
    "emu_sgemm": [C_INT, C_INT, C_INT, F32, F32, F32, C_INT],
    "emu_histogram": [I32, C_INT, C_INT, U32, C_INT, C_INT],
    "emu_atomics": [F32, I32, C_INT, F32, I32, C_INT, C_INT],
    "emu_block_reverse": [F32, C_INT, C_INT, C_INT, C_INT],
    "emu_grid_normalize": [F32, C_INT, F32, F32, C_INT, C_INT],
    "emu_launch_config": [C_INT] * 7,
    "emu_thread_ids": [I32] + [C_INT] * 6,
}
SUCCESS, INVALID_VALUE, INVALID_CONFIGURATION, COOPERATIVE_TOO_LARGE = 0, 1, 9, 720


@pytest.fixture(scope="module")
def lib(builds):
    so = ctypes.CDLL(str(builds.artifact("lib")))
    for name, args in SIGNATURES.items():
        getattr(so, name).argtypes = args
        getattr(so, name).restype = C_INT
    return so


# ------------------------------------------------------------------ semantics

@pytest.mark.parametrize("n,blocks,threads", [(1, 1, 32), (37, 2, 64), (1000, 3, 128), (5000, 2, 1024)])
def test_block_reduction_shared_memory(lib, rng, n, blocks, threads):
    x = rng.standard_normal(n).astype(np.float32)
    partial = np.zeros(blocks, np.float32)
    assert lib.emu_block_sum(x, n, partial, blocks, threads) == SUCCESS
    owner = (np.arange(n) // threads) % blocks  # grid-stride loop
    ref = np.array([x[owner == b].astype(np.float64).sum() for b in range(blocks)])
    np.testing.assert_allclose(partial, ref, rtol=1e-5, atol=1e-5)


def test_warp_allreduce_xor_butterfly(lib, rng):
    n = 100
    x = rng.standard_normal(n).astype(np.float32)
    out = np.zeros(n, np.float32)
    assert lib.emu_warp_allreduce(x, n, out, 64) == SUCCESS
    padded = np.zeros(128, np.float32)
    padded[:n] = x
    ref = np.repeat(padded.reshape(4, 32).astype(np.float64).sum(1), 32)[:n]
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_shuffle_from_absent_lane_is_poisoned(lib):
    # 48 threads: the second warp has lanes 0-15 only; xor 16 reads a lane that
    # does not exist (undefined in CUDA), which the emulation makes NaN.
    x = np.ones(48, np.float32)
    out = np.zeros(48, np.float32)
    assert lib.emu_warp_allreduce(x, 48, out, 48) == SUCCESS
    assert (out[:32] == 32).all() and np.isnan(out[32:]).all()


def shuffle_model(v, op, arg, width):
    """CUDA Programming Guide semantics of the four shuffles, one warp at a time."""
    out = np.empty_like(v)
    for i in range(len(v)):
        lane, warp = i % 32, i - i % 32
        seg = lane - lane % width
        if op == "idx":
            src = seg + (arg(lane) % width)
        elif op == "up":
            src = lane - arg if lane - seg >= arg else lane
        elif op == "down":
            src = lane + arg if lane - seg + arg < width else lane
        else:  # xor: earlier groups may be read, later ones give the own value
            src = lane ^ arg
            src = src if src < seg + width else lane
        out[i] = v[warp + src]
    return out


@pytest.mark.parametrize("width", [32, 16, 8, 1])
@pytest.mark.parametrize("src,delta,lane_mask", [(0, 1, 1), (5, 3, 16), (30, 31, 7), (13, 0, 31)])
def test_shuffles_match_cuda_semantics(lib, width, src, delta, lane_mask):
    n = 64
    x = (np.arange(n, dtype=np.int32) * 3 + 1)
    outs = [np.zeros(n, np.int32) for _ in range(4)]
    assert lib.emu_shuffles(x, n, *outs, src, delta, lane_mask, width, 64) == SUCCESS
    idx, up, down, xr = outs
    np.testing.assert_array_equal(idx, shuffle_model(x, "idx", lambda lane: src + lane % 3, width))
    np.testing.assert_array_equal(up, shuffle_model(x, "up", delta, width))
    np.testing.assert_array_equal(down, shuffle_model(x, "down", delta, width))
    np.testing.assert_array_equal(xr, shuffle_model(x, "xor", lane_mask, width))


@pytest.mark.parametrize("n,threads,p_true", [(100, 64, 0.4), (128, 64, 1.0), (96, 96, 0.0)])
def test_ballot_any_all_and_block_votes(lib, rng, n, threads, p_true):
    pred = (rng.random(n) < p_true).astype(np.int32)
    blocks = (n + threads - 1) // threads
    total = blocks * threads
    nwarps = (n + 31) // 32
    ballot = np.zeros(nwarps, np.uint32)
    any_, all_ = np.zeros(nwarps, np.int32), np.zeros(nwarps, np.int32)
    block_votes = np.zeros(3 * blocks, np.int32)
    assert lib.emu_votes(pred, n, ballot, any_, all_, block_votes, threads) == SUCCESS
    p = np.zeros(total, np.int64)
    p[:n] = pred  # threads past n vote 0
    warps = p[: nwarps * 32].reshape(nwarps, 32)
    np.testing.assert_array_equal(ballot, (warps << np.arange(32)).sum(1).astype(np.uint32))
    np.testing.assert_array_equal(any_, warps.any(1))
    np.testing.assert_array_equal(all_, warps.all(1))
    per_block = p.reshape(blocks, threads)
    ref = np.stack([per_block.sum(1), per_block.all(1), per_block.any(1)], 1).ravel()
    np.testing.assert_array_equal(block_votes, ref)


@pytest.mark.parametrize("tile", [8, 16])
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (17, 33, 5), (37, 29, 45), (16, 16, 16)])
def test_tiled_sgemm(lib, rng, tile, m, n, k):
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = np.full((m, n), np.nan, np.float32)
    assert lib.emu_sgemm(m, n, k, a, b, c, tile) == SUCCESS
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("nbins", [1, 13, 1000])
def test_histogram_dynamic_shared_atomics(lib, rng, nbins):
    n = 3001
    x = rng.integers(0, nbins, n).astype(np.int32)
    hist = np.zeros(nbins, np.uint32)
    assert lib.emu_histogram(x, n, nbins, hist, 3, 64) == SUCCESS
    np.testing.assert_array_equal(hist, np.bincount(x, minlength=nbins))


def test_atomics(lib, rng):
    n = 2000
    x = rng.standard_normal(n).astype(np.float32)
    v = rng.integers(-10**6, 10**6, n).astype(np.int32)
    fsum = np.zeros(1, np.float32)
    iout = np.array([0, np.iinfo(np.int32).min, np.iinfo(np.int32).max, 0], np.int32)
    assert lib.emu_atomics(x, v, n, fsum, iout, 4, 64) == SUCCESS
    np.testing.assert_allclose(fsum[0], x.astype(np.float64).sum(), rtol=1e-4, atol=1e-3)
    assert iout[0] == n and iout[1] == v.max() and iout[2] == v.min()


def test_dynamic_shared_memory_and_opt_in(lib, rng):
    n, threads = 100, 32
    x = rng.standard_normal(n).astype(np.float32)
    y = x.copy()
    assert lib.emu_block_reverse(y, n, threads, threads * 4, 0) == SUCCESS
    ref = np.concatenate([x[i:i + threads][::-1] for i in range(0, n, threads)])
    np.testing.assert_array_equal(y, ref)
    # Over 48 KB needs cudaFuncSetAttribute first; the failed launch runs nothing.
    y = x.copy()
    assert lib.emu_block_reverse(y, n, threads, 64 * 1024, 0) == INVALID_VALUE
    np.testing.assert_array_equal(y, x)
    assert lib.emu_block_reverse(y, n, threads, 64 * 1024, 64 * 1024) == SUCCESS
    np.testing.assert_array_equal(y, ref)
    assert lib.emu_block_reverse(y, n, threads, 228 * 1024, 228 * 1024) == INVALID_VALUE  # over 227 KB


@pytest.mark.parametrize("block,grid,smem,err", [
    ((1024, 1, 1), (1, 1, 1), 0, SUCCESS),
    ((1025, 1, 1), (1, 1, 1), 0, INVALID_CONFIGURATION),
    ((32, 32, 2), (1, 1, 1), 0, INVALID_CONFIGURATION),
    ((1, 1, 65), (1, 1, 1), 0, INVALID_CONFIGURATION),
    ((0, 1, 1), (1, 1, 1), 0, INVALID_CONFIGURATION),
    ((32, 1, 1), (1, 65536, 1), 0, INVALID_CONFIGURATION),
    ((32, 1, 1), (0, 1, 1), 0, INVALID_CONFIGURATION),
    ((32, 1, 1), (2, 1, 1), 48 * 1024, SUCCESS),
    ((32, 1, 1), (2, 1, 1), 48 * 1024 + 1, INVALID_VALUE),
])
def test_launch_configuration_errors(lib, block, grid, smem, err):
    assert lib.emu_launch_config(*block, *grid, smem) == err
    assert lib.emu_launch_config(1, 1, 1, 1, 1, 1, 0) == SUCCESS  # cudaGetLastError() cleared it


def test_thread_and_block_indices_3d(lib):
    grid, block = (2, 3, 2), (4, 2, 3)
    nb, nt = np.prod(grid), np.prod(block)
    out = np.full(nb * nt * 6, -1, np.int32)
    assert lib.emu_thread_ids(out, *grid, *block) == SUCCESS
    bz, by, bx, tz, ty, tx = np.meshgrid(*(np.arange(d) for d in grid[::-1] + block[::-1]), indexing="ij")
    ref = np.stack([tx, ty, tz, bx, by, bz], -1).reshape(-1)
    np.testing.assert_array_equal(out, ref)


def test_cooperative_launch_grid_sync(lib, rng):
    n, blocks, threads = 1000, 4, 32
    x = rng.random(n).astype(np.float32)
    partial, out = np.zeros(blocks, np.float32), np.zeros(n, np.float32)
    assert lib.emu_grid_normalize(x, n, partial, out, blocks, threads) == SUCCESS
    np.testing.assert_allclose(out, x / x.astype(np.float64).sum(), rtol=1e-5)
    assert lib.emu_grid_normalize(x, n, np.zeros(5, np.float32), out, 5, 1024) == COOPERATIVE_TOO_LARGE


# ------------------------------------------------- reports (separate processes)

def run(exe, mode, env=None, setarch=False):
    argv = [str(exe), mode]
    if setarch:
        argv = ["setarch", platform.machine(), "-R"] + argv
    # Not LD_PRELOAD: the sanitizer builds bring their own runtime (CI's ASan stage preloads libasan).
    base = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env={**base, **(env or {})})


@pytest.mark.parametrize("mode,message", [
    ("bad_mask", "mask 0x00000001 does not contain the calling lane 1"),
    ("divergent", "divergent warp intrinsics"),
    ("deadlock", "deadlock in block (0,0,0)"),
    ("static_shared_cooperative", "static __shared__ variable in a cooperative launch"),
])
def test_misuse_is_fatal_with_a_message(builds, mode, message):
    r = run(builds.artifact("asan"), mode, env={"ASAN_OPTIONS": "detect_leaks=0"})
    assert r.returncode != 0 and message in r.stderr, r.stderr


def tsan(builds, mode):
    env = {"TSAN_OPTIONS": "halt_on_error=0 exitcode=66"}
    r = run(builds.artifact("tsan"), mode, env)
    if r.returncode != 0 and "ThreadSanitizer" in r.stderr and "data race" not in r.stderr:
        r = run(builds.artifact("tsan"), mode, env, setarch=True)  # e.g. "unexpected memory mapping"
        if r.returncode != 0 and "data race" not in r.stderr:
            pytest.skip(f"ThreadSanitizer cannot run here: {r.stderr.strip().splitlines()[:3]}")
    return r


def test_tsan_clean_on_correct_kernels(builds):
    r = tsan(builds, "all")
    assert r.returncode == 0 and "ThreadSanitizer" not in r.stderr, r.stderr


def test_tsan_reports_missing_syncthreads(builds):
    r = tsan(builds, "race")
    assert r.returncode == 66, r.stderr
    assert "WARNING: ThreadSanitizer: data race" in r.stderr and "race_kernel" in r.stderr, r.stderr


def test_asan_clean_without_cuda_headers(builds):
    # Also the emulation's own definitions (NERVE_CUDA_EMU_NO_CUDA_HEADERS).
    r = run(builds.artifact("asan"), "all", env={"ASAN_OPTIONS": "detect_leaks=0"})
    assert r.returncode == 0, r.stderr


def test_asan_reports_missing_edge_check(builds):
    r = run(builds.artifact("asan"), "out_of_bounds", env={"ASAN_OPTIONS": "detect_leaks=0"})
    assert r.returncode != 0 and "heap-buffer-overflow" in r.stderr and "out_of_bounds_kernel" in r.stderr, r.stderr


# ------------------------------------------------------------------ nvcc / ptxas

def require_nvcc():
    if not nvcc_path():
        if os.environ.get("NERVE_REQUIRE_NVCC") == "1":
            pytest.fail("nvcc not found and NERVE_REQUIRE_NVCC=1")
        pytest.skip("nvcc not found (set CUDA_HOME or put nvcc on PATH)")


def test_nvcc_compiles_same_source_without_warnings(builds):
    require_nvcc()
    builds.artifact("nvcc")


def test_ptxas_local_memory_is_an_error(builds):
    require_nvcc()
    rc, output, _, _ = builds.result("nvcc_lmem")
    assert rc != 0 and "Local memory used" in output, output
