// Launchers for csrc/cuda/elementwise.cu. Pointers are device pointers (from
// CuPy arrays); `stream` is CuPy's current stream (cudaStream_t as an integer).
#pragma once
#include <cstdint>

namespace nerve::cuda {

// out[i] = alpha * x[i] + y[i] for i < n (float32). Returns a CUDA error string or nullptr.
const char* axpy_forward(float* out, const float* x, const float* y, float alpha, int64_t n, uintptr_t stream);

int device_count();

}  // namespace nerve::cuda
