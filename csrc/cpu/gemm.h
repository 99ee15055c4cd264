// GEMM kernel API: C = alpha * op(A) @ op(B) + beta * C, row-major.
// op(A) is (M, K), op(B) is (K, N), C is (M, N). lda/ldb/ldc are row strides in
// elements. beta == 0 overwrites C without reading it (C may hold NaN).
#pragma once
#include <cstdint>

namespace nerve::cpu {

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// `batch` independent GEMMs; matrix b of each operand starts at ptr + b * stride.
template <class T>
void gemm_batched(int64_t batch, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                  int64_t stride_c);

}  // namespace nerve::cpu
