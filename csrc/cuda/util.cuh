// Device helpers every family's kernels use, and the launch-error check of the
// launchers. Include after cuda/runtime.cuh (this file includes it); the same
// source compiles under nvcc and under the CPU emulation.
#pragma once
#include <cstdint>
#include <stdexcept>

#include "common/check.h"
#include "cuda/runtime.cuh"
#include "cuda/stream.h"

namespace nerve::cuda {

inline cudaStream_t to_cuda(Stream s) { return reinterpret_cast<cudaStream_t>(s); }

// Throws std::runtime_error (a Python RuntimeError) naming the op when the
// launch just made failed (bad configuration, too much shared memory, ...).
inline void check_launch(const char* op) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw std::runtime_error(concat(op, ": CUDA launch failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")"));
}

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Elementwise kernels: 256 threads, grid-stride loops, at most 4096 blocks
// (enough to fill an H100's 132 SMs many times over; more only adds block
// start-up cost).
constexpr int kElementwiseThreads = 256;
inline unsigned elementwise_blocks(int64_t n) {
  const int64_t b = ceil_div(n, kElementwiseThreads);
  return static_cast<unsigned>(b < 4096 ? b : 4096);
}

// Math by element type, so that float code calls the float functions on the
// GPU (erff, expf, ...) and double code the double ones.
template <class T>
__device__ __forceinline__ T d_exp(T x) {
  if constexpr (sizeof(T) == 4) return expf(x); else return exp(x);
}
template <class T>
__device__ __forceinline__ T d_log(T x) {
  if constexpr (sizeof(T) == 4) return logf(x); else return log(x);
}
template <class T>
__device__ __forceinline__ T d_erf(T x) {
  if constexpr (sizeof(T) == 4) return erff(x); else return erf(x);
}
template <class T>
__device__ __forceinline__ T d_tanh(T x) {
  if constexpr (sizeof(T) == 4) return tanhf(x); else return tanh(x);
}
template <class T>
__device__ __forceinline__ T d_sqrt(T x) {
  if constexpr (sizeof(T) == 4) return sqrtf(x); else return sqrt(x);
}
template <class T>
__device__ __forceinline__ bool d_isinf(T x) {
  return x == T(1) / T(0) || x == T(-1) / T(0);
}
template <class T>
__device__ __forceinline__ bool d_isfinite(T x) {
  return x - x == T(0);  // false for inf (inf - inf = nan) and nan
}

// Sum over the warp; every lane gets the total.
template <class T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

}  // namespace nerve::cuda
