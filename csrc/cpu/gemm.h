// GEMM kernel API: C = act(alpha * op(A) @ op(B) + beta * C + bias), row-major.
// op(A) is (M, K), op(B) is (K, N), C is (M, N). lda/ldb/ldc are row strides in
// elements. beta == 0 overwrites C without reading it (C may hold NaN).
// bias (optional) has N elements and is added to every row; act is applied last.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "cpu/convert.h"

namespace nerve::cpu {

enum class Activation : int { none = 0, relu = 1, gelu = 2, gelu_tanh = 3 };

// Applied to C after the product, while the tile is still in cache.
template <class T>
struct Epilogue {
  const T* bias = nullptr;  // (N,) or null
  Activation act = Activation::none;
};

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc, Epilogue<T> epilogue = {});

// `batch` independent GEMMs; matrix b of each operand starts at ptr + b * stride
// (stride 0 shares one matrix across the batch). The epilogue applies to each.
template <class T>
void gemm_batched(int64_t batch, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                  int64_t stride_c, Epilogue<T> epilogue = {});

// bfloat16 GEMM: A and B bf16, every product accumulated in float32; C float32
// or bf16 (rounded once, after the epilogue); alpha, beta and the bias are
// float32. Same layout, batching and epilogue rules as gemm_batched. Runs the
// current ISA's bf16 kernels (AMX tiles, AVX512-BF16 VDPBF16PS, or the
// portable path: bf16 widened to float32 and the float32 kernels).
void gemm_bf16_batched(int64_t batch, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                       const bf16* A, int64_t lda, int64_t stride_a, const bf16* B, int64_t ldb, int64_t stride_b,
                       float beta, float* C, int64_t ldc, int64_t stride_c, Epilogue<float> epilogue = {});
void gemm_bf16_batched(int64_t batch, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                       const bf16* A, int64_t lda, int64_t stride_a, const bf16* B, int64_t ldb, int64_t stride_b,
                       float beta, bf16* C, int64_t ldc, int64_t stride_c, Epilogue<float> epilogue = {});

// op(B) (K, N) packed once into the GEMM's panel layout, for many products
// with the same B (an RNN's recurrent weight at every time step): gemm_packed
// then skips the packing that gemm does on every call. The layout belongs to
// the ISA current at pack_b time; gemm_packed runs that ISA's kernels.
template <class T>
struct PackedB {
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  int64_t K = 0, N = 0;
  int isa = 0;  // a cpu::Isa
  std::unique_ptr<T[], Free> data;
};

template <class T>
PackedB<T> pack_b(bool trans_b, int64_t K, int64_t N, const T* B, int64_t ldb);

// gemm with op(B) = the packed matrix (K = B.K, N = B.N).
template <class T>
void gemm_packed(bool trans_a, int64_t M, T alpha, const T* A, int64_t lda, const PackedB<T>& B, T beta, T* C,
                 int64_t ldc, Epilogue<T> epilogue = {});

// Measured FMA peak of this CPU in GFLOP/s for the current ISA, float32 or
// float64, on `threads` threads (a register-only FMA loop, ~0.1 s of CPU time
// per thread; each thread's rate over its own CPU time, summed).
double peak_gflops(bool float64, int threads);

// The GEMM kernels of one ISA (gemm_impl.h, compiled per ISA; gemm.cpp picks
// a table with common/dispatch.h). `act` is an Activation.
struct GemmKernels {
  void (*sgemm)(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                int64_t lda, int64_t sa, const float* B, int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc,
                int64_t sc, const float* bias, int act);
  void (*dgemm)(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                int64_t lda, int64_t sa, const double* B, int64_t ldb, int64_t sb, double beta, double* C,
                int64_t ldc, int64_t sc, const double* bias, int act);
  int64_t (*packed_b_size)(bool float64, int64_t K, int64_t N);
  void (*spack_b)(bool tb, int64_t K, int64_t N, const float* B, int64_t ldb, float* out);
  void (*dpack_b)(bool tb, int64_t K, int64_t N, const double* B, int64_t ldb, double* out);
  void (*sgemm_packed)(bool ta, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                       const float* bp, float beta, float* C, int64_t ldc, const float* bias, int act);
  void (*dgemm_packed)(bool ta, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                       const double* bp, double beta, double* C, int64_t ldc, const double* bias, int act);
  double (*peak_flops)(bool float64, int64_t iters);  // flops of `iters` rounds of a register-only FMA loop
  // gemm_bf16_batched; C is float* or bf16* (c_bf16).
  void (*bgemm)(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16* A,
                int64_t lda, int64_t sa, const bf16* B, int64_t ldb, int64_t sb, float beta, void* C, bool c_bf16,
                int64_t ldc, int64_t sc, const float* bias, int act);
};

}  // namespace nerve::cpu
