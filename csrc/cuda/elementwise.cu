// Elementwise CUDA kernels. A grid-stride loop so one launch covers any n.
#include <cuda_runtime.h>

#include "cuda/elementwise.cuh"

namespace nerve::cuda {
namespace {

__global__ void axpy_kernel(float* __restrict__ out, const float* __restrict__ x, const float* __restrict__ y,
                            float alpha, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = alpha * x[i] + y[i];
}

}  // namespace

const char* axpy_forward(float* out, const float* x, const float* y, float alpha, int64_t n, uintptr_t stream) {
  if (n == 0) return nullptr;
  const int threads = 256;
  const int64_t blocks = (n + threads - 1) / threads;
  axpy_kernel<<<static_cast<unsigned>(blocks < 65535 ? blocks : 65535), threads, 0,
                reinterpret_cast<cudaStream_t>(stream)>>>(out, x, y, alpha, n);
  cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

}  // namespace nerve::cuda
