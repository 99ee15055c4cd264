// The GEMM launchers: the GPU tile configurations of the kernels in gemm.cuh.
//
//   SIMT fp32   128 x 128 x 8,  8 x 8 per thread, 256 threads, 16.9 KB smem (2 stages)
//   SIMT fp64    64 x  64 x 8,  4 x 4 per thread, 256 threads, 17.4 KB smem
//   TF32        128 x 128 x 16, 2 x 4 warps of 64 x 32, 256 threads, 40 KB smem
//   BF16        128 x 128 x 32, 2 x 4 warps of 64 x 32, 256 threads, 40 KB smem
// Budgets (registers, shared memory, no local memory) are checked against
// cuobjdump -res-usage in tests/cuda_emu/test_gemm_static.py.
#include "cuda/gemm.h"

#include "cuda/gemm.cuh"
#include "cuda/util.cuh"

namespace nerve::cuda::gemm {

namespace {
template <class T>
GemmParams<T> params(int64_t batch, int64_t M, int64_t N, int64_t K, gemm_acc_t<T> alpha, const T* A, int64_t lda,
                     int64_t sa, const T* B, int64_t ldb, int64_t sb, gemm_acc_t<T> beta, T* C, int64_t ldc,
                     int64_t sc, const T* bias, int act) {
  return GemmParams<T>{batch, M, N, K, A, lda, sa, B, ldb, sb, C, ldc, sc, alpha, beta, bias, act};
}
}  // namespace

template <>
cudaError_t gemm_simt<float>(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                             const float* A, int64_t lda, int64_t sa, const float* B, int64_t ldb, int64_t sb,
                             float beta, float* C, int64_t ldc, int64_t sc, const float* bias, int act,
                             cudaStream_t stream) {
  return launch_gemm_simt<float, 128, 128, 8, 8, 8>(
      params<float>(batch, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, bias, act), ta, tb, stream);
}

template <>
cudaError_t gemm_simt<double>(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                              const double* A, int64_t lda, int64_t sa, const double* B, int64_t ldb, int64_t sb,
                              double beta, double* C, int64_t ldc, int64_t sc, const double* bias, int act,
                              cudaStream_t stream) {
  return launch_gemm_simt<double, 64, 64, 8, 4, 4>(
      params<double>(batch, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, bias, act), ta, tb, stream);
}

cudaError_t gemm_tf32(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                      int64_t lda, int64_t sa, const float* B, int64_t ldb, int64_t sb, float beta, float* C,
                      int64_t ldc, int64_t sc, const float* bias, int act, cudaStream_t stream) {
  return launch_gemm_tc<float, 128, 128, 16, 2, 4>(
      params<float>(batch, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, bias, act), ta, tb, stream);
}

cudaError_t gemm_bf16(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16* A,
                      int64_t lda, int64_t sa, const bf16* B, int64_t ldb, int64_t sb, float beta, bf16* C,
                      int64_t ldc, int64_t sc, const bf16* bias, int act, cudaStream_t stream) {
  return launch_gemm_tc<bf16, 128, 128, 32, 2, 4>(
      params<bf16>(batch, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, bias, act), ta, tb, stream);
}

cudaError_t launch(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, int64_t sa, const float* B, int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc,
                 int64_t sc, const float* bias, int act, cudaStream_t stream, bool allow_tf32) {
  if (allow_tf32)
    return gemm_tf32(batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, bias, act, stream);
  return gemm_simt<float>(batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, bias, act, stream);
}

cudaError_t launch(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                 int64_t lda, int64_t sa, const double* B, int64_t ldb, int64_t sb, double beta, double* C,
                 int64_t ldc, int64_t sc, const double* bias, int act, cudaStream_t stream, bool /*allow_tf32*/) {
  return gemm_simt<double>(batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, bias, act,
                           stream);
}

}  // namespace nerve::cuda::gemm

namespace nerve::cuda {

template <class T>
void gemm_batched(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                  int64_t sa, const T* B, int64_t ldb, int64_t sb, T beta, T* C, int64_t ldc, int64_t sc,
                  const T* bias, int act, bool allow_tf32, Stream stream) {
  const cudaError_t e = gemm::launch(batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, bias, act,
                             to_cuda(stream), allow_tf32);
  if (e != cudaSuccess)
    throw std::runtime_error(concat("gemm: CUDA launch failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e),
                                    ")"));
}

template void gemm_batched<float>(int64_t, bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                  int64_t, const float*, int64_t, int64_t, float, float*, int64_t, int64_t,
                                  const float*, int, bool, Stream);
template void gemm_batched<double>(int64_t, bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                   int64_t, const double*, int64_t, int64_t, double, double*, int64_t, int64_t,
                                   const double*, int, bool, Stream);

}  // namespace nerve::cuda
