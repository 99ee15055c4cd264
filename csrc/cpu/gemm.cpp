// GEMM: the portable variant and the run-time choice of ISA.
#include "cpu/gemm.h"

#include "common/cpu_features.h"
#include "cpu/gemm_impl.h"
#include "cpu/gemm_isa.h"

NERVE_GEMM_DEFINE_ISA(generic)

namespace nerve::cpu {

template <>
void gemm<float>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  switch (current_isa()) {
    case Isa::avx512: return avx512::sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    case Isa::avx2: return avx2::sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    default: return generic::sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
}

template <>
void gemm<double>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                  const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  switch (current_isa()) {
    case Isa::avx512: return avx512::dgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    case Isa::avx2: return avx2::dgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    default: return generic::dgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
}

template <class T>
void gemm_batched(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                  int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                  int64_t stride_c) {
  for (int64_t b = 0; b < batch; ++b)
    gemm<T>(ta, tb, M, N, K, alpha, A + b * stride_a, lda, B + b * stride_b, ldb, beta, C + b * stride_c, ldc);
}

template void gemm_batched<float>(int64_t, bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                  int64_t, const float*, int64_t, int64_t, float, float*, int64_t, int64_t);
template void gemm_batched<double>(int64_t, bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                   int64_t, const double*, int64_t, int64_t, double, double*, int64_t, int64_t);

}  // namespace nerve::cpu
