// Self-test kernels of the CUDA emulation: each one is ordinary CUDA and is
// compiled twice, by nvcc for sm_90 (static checks) and by g++ against
// csrc/cuda/emu/cuda_emu.h (run and compared with NumPy in tests/cuda_emu).
#include "cuda/runtime.cuh"

#include "cuda/emu_selftest.h"

namespace {

namespace cg = cooperative_groups;

// ------------------------------------------------ block reduction (static smem)
__global__ void block_sum_kernel(const float* __restrict__ x, int n, float* __restrict__ partial) {
  __shared__ float s[1024];
  float acc = 0.0f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) acc += x[i];
  s[threadIdx.x] = acc;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {  // blockDim.x is a power of two
    if (threadIdx.x < half) s[threadIdx.x] += s[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

// ------------------------------------------------ warp all-reduce (xor butterfly)
__global__ void warp_allreduce_kernel(const float* __restrict__ x, int n, float* __restrict__ out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = i < n ? x[i] : 0.0f;
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  if (i < n) out[i] = v;
}

__global__ void shuffles_kernel(const int* __restrict__ x, int n, int* idx, int* up, int* down, int* xr, int src,
                                int delta, int lane_mask, int width) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int v = i < n ? x[i] : -7;
  const int a = __shfl_sync(0xffffffffu, v, src + threadIdx.x % 32 % 3, width);  // per-lane source
  const int b = __shfl_up_sync(0xffffffffu, v, delta, width);
  const int c = __shfl_down_sync(0xffffffffu, v, delta, width);
  const int d = __shfl_xor_sync(0xffffffffu, v, lane_mask, width);
  if (i < n) {
    idx[i] = a;
    up[i] = b;
    down[i] = c;
    xr[i] = d;
  }
}

// ------------------------------------------------------------------ votes
__global__ void votes_kernel(const int* __restrict__ pred, int n, unsigned* ballot, int* any, int* all,
                             int* block_votes) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int p = i < n ? pred[i] : 0;
  const unsigned bal = __ballot_sync(0xffffffffu, p);
  const int an = __any_sync(0xffffffffu, p);
  const int al = __all_sync(0xffffffffu, p);
  const int count = __syncthreads_count(p);
  const int band = __syncthreads_and(p);
  const int bor = __syncthreads_or(p);
  if (i < n && i % 32 == 0) {
    ballot[i / 32] = bal;
    any[i / 32] = an;
    all[i / 32] = al;
  }
  if (threadIdx.x == 0) {
    block_votes[3 * blockIdx.x] = count;
    block_votes[3 * blockIdx.x + 1] = band;
    block_votes[3 * blockIdx.x + 2] = bor;
  }
}

// ------------------------------------------- tiled SIMT SGEMM, C = A (m x k) B (k x n)
template <int TILE>
__global__ void sgemm_kernel(int m, int n, int k, const float* __restrict__ a, const float* __restrict__ b,
                             float* __restrict__ c) {
  __shared__ float as[TILE][TILE];
  __shared__ float bs[TILE][TILE + 1];  // padded
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int row = blockIdx.y * TILE + ty, col = blockIdx.x * TILE + tx;
  float acc = 0.0f;
  for (int k0 = 0; k0 < k; k0 += TILE) {
    as[ty][tx] = row < m && k0 + tx < k ? a[row * k + k0 + tx] : 0.0f;
    bs[ty][tx] = k0 + ty < k && col < n ? b[(k0 + ty) * n + col] : 0.0f;
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < TILE; ++kk) acc = fmaf(as[ty][kk], bs[kk][tx], acc);
    __syncthreads();
  }
  if (row < m && col < n) c[row * n + col] = acc;
}

// --------------------------------------- histogram (dynamic smem + atomics)
__global__ void histogram_kernel(const int* __restrict__ x, int n, int nbins, unsigned* __restrict__ hist) {
  NERVE_DYNAMIC_SHARED(unsigned, local);
  for (int j = threadIdx.x; j < nbins; j += blockDim.x) local[j] = 0;
  __syncthreads();
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    atomicAdd(&local[x[i]], 1u);
  __syncthreads();
  for (int j = threadIdx.x; j < nbins; j += blockDim.x)
    if (local[j]) atomicAdd(&hist[j], local[j]);
}

// iout: [count, max, min (by atomicCAS), exch witness]
__global__ void atomics_kernel(const float* __restrict__ x, const int* __restrict__ v, int n, float* fsum,
                               int* iout) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    atomicAdd(fsum, x[i]);
    atomicAdd(&iout[0], 1);
    atomicMax(&iout[1], v[i]);
    int old = atomicAdd(&iout[2], 0);  // an atomic read: a plain one would race with the CAS
    for (;;) {  // atomic min through compare-and-swap
      if (old <= v[i]) break;
      const int seen = atomicCAS(&iout[2], old, v[i]);
      if (seen == old) break;
      old = seen;
    }
  }
}

// ----------------------------------------------- dynamic shared memory
__global__ void block_reverse_kernel(float* x, int n) {
  NERVE_DYNAMIC_SHARED(float, s);
  const int base = blockIdx.x * blockDim.x, i = base + threadIdx.x;
  const int len = min(static_cast<int>(blockDim.x), n - base);
  if (static_cast<int>(threadIdx.x) < len) s[threadIdx.x] = x[i];
  __syncthreads();
  if (static_cast<int>(threadIdx.x) < len) x[i] = s[len - 1 - threadIdx.x];
}

// ------------------------------------- cooperative: out = x / sum(x), one launch
__global__ void grid_normalize_kernel(const float* __restrict__ x, int n, float* partial, float* out) {
  NERVE_DYNAMIC_SHARED(float, s);
  cg::grid_group grid = cg::this_grid();
  float acc = 0.0f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) acc += x[i];
  s[threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    float t = 0.0f;
    for (unsigned j = 0; j < blockDim.x; ++j) t += s[j];
    partial[blockIdx.x] = t;
  }
  grid.sync();
  float total = 0.0f;
  for (unsigned j = 0; j < gridDim.x; ++j) total += partial[j];
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) out[i] = x[i] / total;
}

__global__ void thread_ids_kernel(int* out) {
  const unsigned b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  int* o = out + 6 * (b * blockDim.x * blockDim.y * blockDim.z + t);
  o[0] = threadIdx.x;
  o[1] = threadIdx.y;
  o[2] = threadIdx.z;
  o[3] = blockIdx.x;
  o[4] = blockIdx.y;
  o[5] = blockIdx.z;
}

__global__ void empty_kernel() {}

// -------------------------------------------------- test-only: misuse
__global__ void race_kernel(float* out) {
  __shared__ float s[64];
  s[threadIdx.x] = static_cast<float>(threadIdx.x);
  // BUG (deliberate): no __syncthreads() between the write and the read of another thread's element.
  out[threadIdx.x] = s[(threadIdx.x + 1) % blockDim.x];
}

__global__ void bad_mask_kernel(int* out) {
  // lane 1 names only lane 0 in its mask
  out[threadIdx.x] = __shfl_sync(threadIdx.x == 1 ? 0x1u : 0xffffffffu, static_cast<int>(threadIdx.x), 0);
}

__global__ void divergent_kernel(int* out) {
  if (threadIdx.x < 16) out[threadIdx.x] = static_cast<int>(__ballot_sync(0xffffffffu, 1));
  else out[threadIdx.x] = __shfl_sync(0xffffffffu, 1, 0);
}

__global__ void deadlock_kernel(int* out) {
  if (threadIdx.x == 0) __syncthreads();
  else __syncwarp();
  out[threadIdx.x] = 1;
}

__global__ void out_of_bounds_kernel(const float* x, int n, float* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  // BUG (deliberate): the tile edge check `if (i < n)` is missing.
  out[i % n] = x[i];
}

__global__ void static_shared_kernel(float* out) {
  __shared__ float s[32];
  s[threadIdx.x] = 1.0f;
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = s[threadIdx.x];
}

}  // namespace

extern "C" {

int emu_block_sum(const float* x, int n, float* partial, int blocks, int threads) {
  NERVE_LAUNCH(block_sum_kernel, blocks, threads, 0, 0, x, n, partial);
  return cudaGetLastError();
}

int emu_warp_allreduce(const float* x, int n, float* out, int threads) {
  NERVE_LAUNCH(warp_allreduce_kernel, (n + threads - 1) / threads, threads, 0, 0, x, n, out);
  return cudaGetLastError();
}

int emu_shuffles(const int* x, int n, int* idx, int* up, int* down, int* xr, int src, int delta, int lane_mask,
                 int width, int threads) {
  NERVE_LAUNCH(shuffles_kernel, (n + threads - 1) / threads, threads, 0, 0, x, n, idx, up, down, xr, src, delta,
               lane_mask, width);
  return cudaGetLastError();
}

int emu_votes(const int* pred, int n, unsigned* ballot, int* any, int* all, int* block_votes, int threads) {
  NERVE_LAUNCH(votes_kernel, (n + threads - 1) / threads, threads, 0, 0, pred, n, ballot, any, all, block_votes);
  return cudaGetLastError();
}

int emu_sgemm(int m, int n, int k, const float* a, const float* b, float* c, int tile) {
  if (tile == 8) {
    NERVE_LAUNCH(sgemm_kernel<8>, dim3((n + 7) / 8, (m + 7) / 8), dim3(8, 8), 0, 0, m, n, k, a, b, c);
  } else {
    NERVE_LAUNCH(sgemm_kernel<16>, dim3((n + 15) / 16, (m + 15) / 16), dim3(16, 16), 0, 0, m, n, k, a, b, c);
  }
  return cudaGetLastError();
}

int emu_histogram(const int* x, int n, int nbins, unsigned* hist, int blocks, int threads) {
  NERVE_LAUNCH(histogram_kernel, blocks, threads, nbins * sizeof(unsigned), 0, x, n, nbins, hist);
  return cudaGetLastError();
}

int emu_atomics(const float* x, const int* v, int n, float* fsum, int* iout, int blocks, int threads) {
  NERVE_LAUNCH(atomics_kernel, blocks, threads, 0, 0, x, v, n, fsum, iout);
  return cudaGetLastError();
}

int emu_block_reverse(float* x, int n, int threads, int smem_bytes, int opt_in_bytes) {
  if (opt_in_bytes) {
    cudaError_t e = cudaFuncSetAttribute(block_reverse_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         opt_in_bytes);
    if (e != cudaSuccess) return cudaGetLastError();
  }
  NERVE_LAUNCH(block_reverse_kernel, (n + threads - 1) / threads, threads, smem_bytes, 0, x, n);
  return cudaGetLastError();
}

int emu_grid_normalize(const float* x, int n, float* partial, float* out, int blocks, int threads) {
  NERVE_LAUNCH_COOPERATIVE(grid_normalize_kernel, blocks, threads, threads * sizeof(float), 0, x, n, partial, out);
  return cudaGetLastError();
}

int emu_launch_config(int bx, int by, int bz, int gx, int gy, int gz, int smem_bytes) {
  NERVE_LAUNCH(empty_kernel, dim3(gx, gy, gz), dim3(bx, by, bz), smem_bytes, 0);
  return cudaGetLastError();
}

int emu_thread_ids(int* out, int gx, int gy, int gz, int bx, int by, int bz) {
  NERVE_LAUNCH(thread_ids_kernel, dim3(gx, gy, gz), dim3(bx, by, bz), 0, 0, out);
  return cudaGetLastError();
}

int emu_race_missing_syncthreads(float* out, int threads) {
  NERVE_LAUNCH(race_kernel, 1, threads, 0, 0, out);
  return cudaGetLastError();
}

int emu_bad_mask(int* out) {
  NERVE_LAUNCH(bad_mask_kernel, 1, 32, 0, 0, out);
  return cudaGetLastError();
}

int emu_divergent_intrinsics(int* out) {
  NERVE_LAUNCH(divergent_kernel, 1, 32, 0, 0, out);
  return cudaGetLastError();
}

int emu_deadlock(int* out) {
  NERVE_LAUNCH(deadlock_kernel, 1, 32, 0, 0, out);
  return cudaGetLastError();
}

int emu_out_of_bounds(const float* x, int n, float* out, int threads) {
  NERVE_LAUNCH(out_of_bounds_kernel, (n + threads - 1) / threads, threads, 0, 0, x, n, out);
  return cudaGetLastError();
}

int emu_static_shared_cooperative(float* out) {
  NERVE_LAUNCH_COOPERATIVE(static_shared_kernel, 2, 32, 0, 0, out);
  return cudaGetLastError();
}

}  // extern "C"
