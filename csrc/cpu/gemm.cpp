// GEMM: the entry points, which run the ISA's kernels (gemm_impl.h, compiled
// per ISA; common/dispatch.h), and the peak-FMA probe.
#include "cpu/gemm.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <new>

#include "common/dispatch.h"

namespace nerve::cpu {

template <>
void gemm_batched<float>(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                         const float* A, int64_t lda, int64_t sa, const float* B, int64_t ldb, int64_t sb, float beta,
                         float* C, int64_t ldc, int64_t sc, Epilogue<float> e) {
  pick<GemmKernels>().sgemm(batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, e.bias,
                            static_cast<int>(e.act));
}

template <>
void gemm_batched<double>(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                          const double* A, int64_t lda, int64_t sa, const double* B, int64_t ldb, int64_t sb,
                          double beta, double* C, int64_t ldc, int64_t sc, Epilogue<double> e) {
  pick<GemmKernels>().dgemm(batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, e.bias,
                            static_cast<int>(e.act));
}

void gemm_bf16_batched(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16* A,
                       int64_t lda, int64_t sa, const bf16* B, int64_t ldb, int64_t sb, float beta, float* C,
                       int64_t ldc, int64_t sc, Epilogue<float> e) {
  pick<GemmKernels>().bgemm(batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, false, ldc, sc, e.bias,
                            static_cast<int>(e.act));
}

void gemm_bf16_batched(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16* A,
                       int64_t lda, int64_t sa, const bf16* B, int64_t ldb, int64_t sb, float beta, bf16* C,
                       int64_t ldc, int64_t sc, Epilogue<float> e) {
  pick<GemmKernels>().bgemm(batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, true, ldc, sc, e.bias,
                            static_cast<int>(e.act));
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

template <class T>
PackedB<T> pack_b(bool tb, int64_t K, int64_t N, const T* B, int64_t ldb) {
  constexpr bool f64 = sizeof(T) == 8;
  const Isa isa = current_isa();  // read once: the size and the layout must agree
  const GemmKernels& k = pick<GemmKernels>(isa);
  PackedB<T> p;
  p.K = K;
  p.N = N;
  p.isa = static_cast<int>(isa);
  const int64_t size = k.packed_b_size(f64, K, N);
  const size_t bytes = (static_cast<size_t>(std::max<int64_t>(size, 1)) * sizeof(T) + 63) / 64 * 64;
  p.data.reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
  if (!p.data) throw std::bad_alloc();
  if (size == 0) return p;
  if constexpr (f64) k.dpack_b(tb, K, N, B, ldb, p.data.get());
  else k.spack_b(tb, K, N, B, ldb, p.data.get());
  return p;
}

template <class T>
void gemm_packed(bool ta, int64_t M, T alpha, const T* A, int64_t lda, const PackedB<T>& B, T beta, T* C,
                 int64_t ldc, Epilogue<T> e) {
  const int act = static_cast<int>(e.act);
  const GemmKernels& k = pick<GemmKernels>(static_cast<Isa>(B.isa));  // the ISA that packed B
  if constexpr (sizeof(T) == 8) k.dgemm_packed(ta, M, B.N, B.K, alpha, A, lda, B.data.get(), beta, C, ldc, e.bias, act);
  else k.sgemm_packed(ta, M, B.N, B.K, alpha, A, lda, B.data.get(), beta, C, ldc, e.bias, act);
}

template PackedB<float> pack_b<float>(bool, int64_t, int64_t, const float*, int64_t);
template PackedB<double> pack_b<double>(bool, int64_t, int64_t, const double*, int64_t);
template void gemm_packed<float>(bool, int64_t, float, const float*, int64_t, const PackedB<float>&, float, float*,
                                 int64_t, Epilogue<float>);
template void gemm_packed<double>(bool, int64_t, double, const double*, int64_t, const PackedB<double>&, double,
                                  double*, int64_t, Epilogue<double>);

// Each thread's flops over its own CPU time, summed: the rate the cores reach
// when they run, unaffected by other jobs sharing the machine (wall time on a
// busy 2-vCPU box read half the peak).
double peak_gflops(bool float64, int threads) {
  const auto peak_flops = pick<GemmKernels>().peak_flops;
  auto probe = [&](int64_t iters) { return peak_flops(float64, iters); };
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
