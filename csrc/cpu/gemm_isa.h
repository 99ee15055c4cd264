// Per-ISA GEMM entry points (defined in gemm.cpp, gemm_avx2.cpp, gemm_avx512.cpp
// by NERVE_GEMM_DEFINE_ISA in gemm_impl.h). `act` is a cpu::Activation.
#pragma once
#include <cstdint>

#define NERVE_GEMM_DECLARE_ISA(ns)                                                                                \
  namespace nerve::cpu::ns {                                                                                      \
  void sgemm(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,       \
             int64_t lda, int64_t sa, const float* B, int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc, \
             int64_t sc, const float* bias, int act);                                                             \
  void dgemm(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,     \
             int64_t lda, int64_t sa, const double* B, int64_t ldb, int64_t sb, double beta, double* C,           \
             int64_t ldc, int64_t sc, const double* bias, int act);                                               \
  int64_t packed_b_size(bool float64, int64_t K, int64_t N);                                                      \
  void spack_b(bool tb, int64_t K, int64_t N, const float* B, int64_t ldb, float* out);                           \
  void dpack_b(bool tb, int64_t K, int64_t N, const double* B, int64_t ldb, double* out);                         \
  void sgemm_packed(bool ta, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,           \
                    const float* bp, float beta, float* C, int64_t ldc, const float* bias, int act);              \
  void dgemm_packed(bool ta, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,         \
                    const double* bp, double beta, double* C, int64_t ldc, const double* bias, int act);          \
  double peak_flops(bool float64, int64_t iters);                                                                 \
  }

NERVE_GEMM_DECLARE_ISA(generic)
NERVE_GEMM_DECLARE_ISA(avx2)
NERVE_GEMM_DECLARE_ISA(avx512)
