// The GEMM loop nest, compiled once per ISA: gemm.cpp (baseline flags),
// gemm_avx2.cpp and gemm_avx512.cpp include this inside their own namespace,
// so the compiler vectorizes the inner loop for that ISA and the copies never
// collide at link time.
//
// Algorithm: op(B) is packed into contiguous (kc x N) row panels, then for each
// row i of C and each k the row C[i, :] += a(i,k) * Bp[k, :], which the compiler
// turns into SIMD FMAs over N. Rows of C are split across OpenMP threads.
#include <algorithm>
#include <vector>

#include "common/parallel.h"

namespace {

constexpr int64_t kKc = 256;  // rows of B per packed panel (keeps a panel in L2)

template <class T>
void gemm_rows(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
               const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0))
      std::fill(c, c + N, T(0));
    else if (beta != T(1))
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  }
  if (K == 0 || alpha == T(0)) return;
  std::vector<T> panel(static_cast<size_t>(std::min(K, kKc) * N));
  for (int64_t k0 = 0; k0 < K; k0 += kKc) {
    const int64_t kc = std::min(kKc, K - k0);
    for (int64_t k = 0; k < kc; ++k)  // panel[k, j] = op(B)[k0 + k, j]
      for (int64_t j = 0; j < N; ++j)
        panel[k * N + j] = trans_b ? B[j * ldb + (k0 + k)] : B[(k0 + k) * ldb + j];
    for (int64_t i = 0; i < M; ++i) {
      T* __restrict c = C + i * ldc;
      for (int64_t k = 0; k < kc; ++k) {
        const T a = alpha * (trans_a ? A[(k0 + k) * lda + i] : A[i * lda + (k0 + k)]);
        const T* __restrict b = panel.data() + k * N;
        for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
      }
    }
  }
}

template <class T>
void gemm_parallel(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                   const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  nerve::parallel_for(M, 2 * M * N * std::max<int64_t>(K, 1), [&](int64_t i0, int64_t i1) {
    const T* a = trans_a ? A + i0 : A + i0 * lda;
    gemm_rows(trans_a, trans_b, i1 - i0, N, K, alpha, a, lda, B, ldb, beta, C + i0 * ldc, ldc);
  });
}

}  // namespace

#define NERVE_GEMM_DEFINE_ISA(ns)                                                                           \
  namespace nerve::cpu::ns {                                                                                \
  void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,   \
             const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {                              \
    gemm_parallel(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);                                    \
  }                                                                                                         \
  void dgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda, \
             const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {                           \
    gemm_parallel(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);                                    \
  }                                                                                                         \
  }
