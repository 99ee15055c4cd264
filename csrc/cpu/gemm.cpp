// GEMM: the portable variant, the run-time choice of ISA and the peak-FMA probe.
#include "cpu/gemm.h"

#include <omp.h>

#include <ctime>

#include "common/cpu_features.h"
#include "cpu/gemm_impl.h"
#include "cpu/gemm_isa.h"

NERVE_GEMM_DEFINE_ISA(generic)

namespace nerve::cpu {

template <>
void gemm_batched<float>(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                         const float* A, int64_t lda, int64_t sa, const float* B, int64_t ldb, int64_t sb, float beta,
                         float* C, int64_t ldc, int64_t sc, Epilogue<float> e) {
  const int act = static_cast<int>(e.act);
  switch (current_isa()) {
    case Isa::avx512: return avx512::sgemm(batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, e.bias, act);
    case Isa::avx2: return avx2::sgemm(batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, e.bias, act);
    default: return generic::sgemm(batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, e.bias, act);
  }
}

template <>
void gemm_batched<double>(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                          const double* A, int64_t lda, int64_t sa, const double* B, int64_t ldb, int64_t sb,
                          double beta, double* C, int64_t ldc, int64_t sc, Epilogue<double> e) {
  const int act = static_cast<int>(e.act);
  switch (current_isa()) {
    case Isa::avx512: return avx512::dgemm(batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, e.bias, act);
    case Isa::avx2: return avx2::dgemm(batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, e.bias, act);
    default: return generic::dgemm(batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, e.bias, act);
  }
}

template <class T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc, Epilogue<T> e) {
  gemm_batched<T>(1, ta, tb, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, e);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t, Epilogue<float>);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t, Epilogue<double>);

// Each thread's flops over its own CPU time, summed: the rate the cores reach
// when they run, unaffected by other jobs sharing the machine (wall time on a
// busy 2-vCPU box read half the peak).
double peak_gflops(bool float64, int threads) {
  auto probe = [&](int64_t iters) {
    switch (current_isa()) {
      case Isa::avx512: return avx512::peak_flops(float64, iters);
      case Isa::avx2: return avx2::peak_flops(float64, iters);
      default: return generic::peak_flops(float64, iters);
    }
  };
  auto cpu_seconds = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  };
  double gflops = 0;
#pragma omp parallel num_threads(threads) reduction(+ : gflops)
  {
    probe(1 << 20);  // wake the core up to its boost clock
    const double t0 = cpu_seconds();
    const double flops = probe(int64_t{20} << 20);
    gflops += flops / (cpu_seconds() - t0) * 1e-9;
  }
  return gflops;
}

}  // namespace nerve::cpu
