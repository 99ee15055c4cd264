// The GEMM launcher of nerve._cuda (cuda/gemm.cu, kernels in cuda/gemm.cuh),
// for host code without CUDA's headers (bind/gemm_cuda.cpp): the contract of
// cpu::gemm_batched (cpu/gemm.h) on device pointers, launched on `stream`.
// act: an Activation value (contract/gemm.h). float32 runs the TF32 tensor-core
// kernel when allow_tf32 (as torch.backends.cuda.matmul.allow_tf32), else the
// fp32 SIMT kernel; float64 the fp64 SIMT kernel. Throws std::runtime_error
// naming the op when the launch fails.
#pragma once
#include <cstdint>

#include "cuda/stream.h"

namespace nerve::cuda {

template <class T>
void gemm_batched(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                  int64_t sa, const T* B, int64_t ldb, int64_t sb, T beta, T* C, int64_t ldc, int64_t sc,
                  const T* bias, int act, bool allow_tf32, Stream stream);

}  // namespace nerve::cuda
