// Launchers of the emulation self-test kernels (csrc/cuda/emu_selftest.cu).
// Pointers are device pointers under CUDA and host pointers under the
// emulation. Each returns cudaGetLastError() after its launch(es) as an int.
// Driven by tests/cuda_emu/test_emu.py (ctypes) and tests/cuda_emu/selftest_main.cpp.
#pragma once

extern "C" {
// Semantics (compared with NumPy).
int emu_block_sum(const float* x, int n, float* partial, int blocks, int threads);
int emu_warp_allreduce(const float* x, int n, float* out, int threads);
int emu_shuffles(const int* x, int n, int* idx, int* up, int* down, int* xr, int src, int delta, int lane_mask,
                 int width, int threads);
int emu_votes(const int* pred, int n, unsigned* ballot, int* any, int* all, int* block_votes, int threads);
int emu_sgemm(int m, int n, int k, const float* a, const float* b, float* c, int tile);
int emu_histogram(const int* x, int n, int nbins, unsigned* hist, int blocks, int threads);
int emu_atomics(const float* x, const int* v, int n, float* fsum, int* iout, int blocks, int threads);
int emu_block_reverse(float* x, int n, int threads, int smem_bytes, int opt_in_bytes);
int emu_grid_normalize(const float* x, int n, float* partial, float* out, int blocks, int threads);
int emu_launch_config(int bx, int by, int bz, int gx, int gy, int gz, int smem_bytes);
int emu_thread_ids(int* out, int gx, int gy, int gz, int bx, int by, int bz);

// Misuse the emulation must report (run in a subprocess by the tests).
int emu_race_missing_syncthreads(float* out, int threads);
int emu_bad_mask(int* out);
int emu_divergent_intrinsics(int* out);
int emu_deadlock(int* out);
int emu_out_of_bounds(const float* x, int n, float* out, int threads);
int emu_static_shared_cooperative(float* out);
}
