// Per-ISA GEMM entry points (defined in gemm.cpp, gemm_avx2.cpp, gemm_avx512.cpp).
#pragma once
#include <cstdint>

#define NERVE_GEMM_DECLARE_ISA(ns)                                                                           \
  namespace nerve::cpu::ns {                                                                                 \
  void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,    \
             const float* B, int64_t ldb, float beta, float* C, int64_t ldc);                                \
  void dgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,  \
             const double* B, int64_t ldb, double beta, double* C, int64_t ldc);                             \
  }

NERVE_GEMM_DECLARE_ISA(generic)
NERVE_GEMM_DECLARE_ISA(avx2)
NERVE_GEMM_DECLARE_ISA(avx512)
