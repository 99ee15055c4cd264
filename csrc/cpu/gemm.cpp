// GEMM: the portable variant, the run-time choice of ISA and the peak-FMA probe.
#include "cpu/gemm.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <new>

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

template <class T>
PackedB<T> pack_b(bool tb, int64_t K, int64_t N, const T* B, int64_t ldb) {
  constexpr bool f64 = sizeof(T) == 8;
  const Isa isa = current_isa();  // read once: the size and the layout must agree
  PackedB<T> p;
  p.K = K;
  p.N = N;
  p.isa = static_cast<int>(isa);
  int64_t size = 0;
  switch (isa) {
    case Isa::avx512: size = avx512::packed_b_size(f64, K, N); break;
    case Isa::avx2: size = avx2::packed_b_size(f64, K, N); break;
    default: size = generic::packed_b_size(f64, K, N); break;
  }
  const size_t bytes = (static_cast<size_t>(std::max<int64_t>(size, 1)) * sizeof(T) + 63) / 64 * 64;
  p.data.reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
  if (!p.data) throw std::bad_alloc();
  if (size == 0) return p;
  auto pack = [&](auto spack, auto dpack) {
    if constexpr (f64) dpack(tb, K, N, B, ldb, p.data.get());
    else spack(tb, K, N, B, ldb, p.data.get());
  };
  switch (isa) {
    case Isa::avx512: pack(avx512::spack_b, avx512::dpack_b); break;
    case Isa::avx2: pack(avx2::spack_b, avx2::dpack_b); break;
    default: pack(generic::spack_b, generic::dpack_b); break;
  }
  return p;
}

template <class T>
void gemm_packed(bool ta, int64_t M, T alpha, const T* A, int64_t lda, const PackedB<T>& B, T beta, T* C,
                 int64_t ldc, Epilogue<T> e) {
  const int act = static_cast<int>(e.act);
  auto run = [&](auto sgemm_packed, auto dgemm_packed) {
    if constexpr (sizeof(T) == 8) dgemm_packed(ta, M, B.N, B.K, alpha, A, lda, B.data.get(), beta, C, ldc, e.bias, act);
    else sgemm_packed(ta, M, B.N, B.K, alpha, A, lda, B.data.get(), beta, C, ldc, e.bias, act);
  };
  switch (static_cast<Isa>(B.isa)) {
    case Isa::avx512: return run(avx512::sgemm_packed, avx512::dgemm_packed);
    case Isa::avx2: return run(avx2::sgemm_packed, avx2::dgemm_packed);
    default: return run(generic::sgemm_packed, generic::dgemm_packed);
  }
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
