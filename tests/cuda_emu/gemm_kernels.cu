// Test entry points (extern "C", for ctypes) for the tensor-core wrappers
// (csrc/cuda/tensor_core.cuh) and the GEMM kernels (csrc/cuda/gemm.cuh), built
// against the CUDA emulation by tests/cuda_emu/test_tensor_core.py and
// test_gemm_kernels.py and test_gemm_sanitizers.py.
// Pointers are host memory (the emulation's device memory).
#include <cstdint>

#include "cuda/gemm.cuh"
#include "cuda/runtime.cuh"
#include "cuda/tensor_core.cuh"

namespace tc = nerve::cuda::tc;
using nerve::cuda::gemm::bf16;
using nerve::cuda::gemm::GemmParams;

// ------------------------------------------------------- tensor-core wrappers
__global__ void to_tf32_kernel(const float* x, uint32_t* out, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = tc::to_tf32(x[i]);
}

// One warp; lane l's registers are a[l * 4 + r], b[l * 2 + r], c/d[l * 4 + i].
__global__ void mma_kernel(int kind, const uint32_t* a, const uint32_t* b, const float* c, float* d) {
  const int l = static_cast<int>(threadIdx.x);
  float acc[4] = {c[4 * l], c[4 * l + 1], c[4 * l + 2], c[4 * l + 3]};
  if (kind == 0) {
    const uint32_t ra[2] = {a[4 * l], a[4 * l + 1]}, rb[1] = {b[2 * l]};
    tc::mma_m16n8k4_tf32(acc, ra, rb, acc);
  } else {
    const uint32_t ra[4] = {a[4 * l], a[4 * l + 1], a[4 * l + 2], a[4 * l + 3]}, rb[2] = {b[2 * l], b[2 * l + 1]};
    if (kind == 1) tc::mma_m16n8k8_tf32(acc, ra, rb, acc);
    else tc::mma_m16n8k16_bf16(acc, ra, rb, acc);
  }
  for (int i = 0; i < 4; ++i) d[4 * l + i] = acc[i];
}

// One warp. Shared memory: 32 rows of 8 b16 at a 16-element (32-byte) stride,
// row s = src[s * 8 ..]; lane l gives the address of row rows[l].
template <int N, bool Trans>
__global__ void ldmatrix_kernel(const uint16_t* src, const int* rows, uint32_t* out) {
  NERVE_DYNAMIC_SHARED(uint16_t, s);
  const int l = static_cast<int>(threadIdx.x);
  for (int j = 0; j < 8; ++j) s[l * 16 + j] = src[l * 8 + j];
  for (int j = 8; j < 16; ++j) s[l * 16 + j] = 0;
  __syncthreads();
  uint32_t r[N];
  tc::ldmatrix<N, Trans>(r, s + rows[l] * 16);
  for (int i = 0; i < N; ++i) out[l * N + i] = r[i];
}

// One warp, shared memory of 2 x 32 x 4 floats (segments 0 and 1). Lane l
// copies src[4l .. 4l+3] into slot l of segment 0 (and src[128 + 4l ..] into
// segment 1), then everything is read back into out (256 floats).
//   mode 0: cg 16 bytes, commit, wait_group 0
//   mode 1: the same without any wait (reads the poison)
//   mode 2: segment 0 and 1 in two groups, wait_group 1 (segment 1 still pending)
//   mode 3: cg 16 with src-size 4 * (l % 5) (zero-fill of the rest)
//   mode 4: ca 4, 4 and 8 bytes (src-size 4 or 8) into segment 0, ca 16 into 1, wait_all
__global__ void cp_async_kernel(int mode, const float* src, float* out) {
  NERVE_DYNAMIC_SHARED(float, s);
  const int l = static_cast<int>(threadIdx.x);
  float* seg0 = s + 4 * l;
  float* seg1 = s + 128 + 4 * l;
  for (int j = 0; j < 4; ++j) seg0[j] = seg1[j] = -1.0f;  // "stale" contents
  __syncthreads();
  switch (mode) {
    case 0:
    case 1:
      tc::cp_async_cg16(seg0, src + 4 * l);
      tc::cp_async_cg16(seg1, src + 128 + 4 * l);
      tc::cp_async_commit();
      if (mode == 0) tc::cp_async_wait<0>();
      break;
    case 2:
      tc::cp_async_cg16(seg0, src + 4 * l);
      tc::cp_async_commit();
      tc::cp_async_cg16(seg1, src + 128 + 4 * l);
      tc::cp_async_commit();
      tc::cp_async_wait<1>();
      break;
    case 3:
      tc::cp_async_cg16(seg0, src + 4 * l, 4 * (l % 5));
      tc::cp_async_cg16(seg1, src + 128 + 4 * l, 0);
      tc::cp_async_commit();
      tc::cp_async_wait<0>();
      break;
    default:
      tc::cp_async_ca<4>(seg0, src + 4 * l);
      tc::cp_async_ca<4>(seg0 + 1, src + 4 * l + 1);
      tc::cp_async_ca<8>(seg0 + 2, src + 4 * l + 2, 4 * (l % 2 + 1));
      tc::cp_async_ca<16>(seg1, src + 128 + 4 * l);
      tc::cp_async_wait_all();
      break;
  }
  __syncthreads();
  for (int j = 0; j < 4; ++j) {
    out[4 * l + j] = seg0[j];
    out[128 + 4 * l + j] = seg1[j];
  }
  __syncthreads();
  tc::cp_async_wait<0>();  // retire what modes 1 and 2 left pending
}

extern "C" {

int tc_to_tf32(const float* x, uint32_t* out, int n) {
  NERVE_LAUNCH(to_tf32_kernel, dim3((n + 63) / 64), dim3(64), 0, nullptr, x, out, n);
  return cudaGetLastError();
}

int tc_mma(int kind, const uint32_t* a, const uint32_t* b, const float* c, float* d) {
  NERVE_LAUNCH(mma_kernel, dim3(1), dim3(32), 0, nullptr, kind, a, b, c, d);
  return cudaGetLastError();
}

int tc_ldmatrix(int num, int trans, const uint16_t* src, const int* rows, uint32_t* out) {
  const size_t smem = 32 * 16 * sizeof(uint16_t);
#define NERVE_LDM(N, T) NERVE_LAUNCH((ldmatrix_kernel<N, T>), dim3(1), dim3(32), smem, nullptr, src, rows, out)
  if (trans) {
    if (num == 1) NERVE_LDM(1, true);
    else if (num == 2) NERVE_LDM(2, true);
    else NERVE_LDM(4, true);
  } else {
    if (num == 1) NERVE_LDM(1, false);
    else if (num == 2) NERVE_LDM(2, false);
    else NERVE_LDM(4, false);
  }
#undef NERVE_LDM
  return cudaGetLastError();
}

int tc_cp_async(int mode, const float* src, float* out) {
  NERVE_LAUNCH(cp_async_kernel, dim3(1), dim3(32), 256 * sizeof(float), nullptr, mode, src, out);
  return cudaGetLastError();
}

// --------------------------------------------------------------------- GEMM
// kind: 0 SIMT fp32, 1 SIMT fp64, 2 TF32, 3 bf16 (A, B, C, bias as uint16 bits).
// config: 0 the production launcher (gemm.cu's GPU tiles), 1 small tiles,
// 2 small tiles with the plain-load (non cp.async) pipeline.
int gemm_run(int kind, int config, int64_t batch, int ta, int tb, int64_t M, int64_t N, int64_t K, double alpha,
             const void* A, int64_t lda, int64_t sa, const void* B, int64_t ldb, int64_t sb, double beta, void* C,
             int64_t ldc, int64_t sc, const void* bias, int act) {
  namespace nc = nerve::cuda::gemm;
  auto P = [&](auto zero) {
    using T = decltype(zero);
    using Acc = nc::gemm_acc_t<T>;
    return GemmParams<T>{batch, M, N, K, static_cast<const T*>(A), lda, sa, static_cast<const T*>(B), ldb, sb,
                         static_cast<T*>(C), ldc, sc, static_cast<Acc>(alpha), static_cast<Acc>(beta),
                         static_cast<const T*>(bias), act};
  };
  const bool force_sync = config == 2;
  switch (kind) {
    case 0: {
      const auto p = P(0.0f);
      if (config == 0)
        return nc::launch(batch, ta, tb, M, N, K, p.alpha, p.A, lda, sa, p.B, ldb, sb, p.beta, p.C, ldc, sc, p.bias,
                        act, nullptr, false);
      return nc::launch_gemm_simt<float, 32, 16, 4, 4, 4>(p, ta, tb, nullptr);
    }
    case 1: {
      const auto p = P(0.0);
      if (config == 0)
        return nc::launch(batch, ta, tb, M, N, K, p.alpha, p.A, lda, sa, p.B, ldb, sb, p.beta, p.C, ldc, sc, p.bias,
                        act, nullptr, false);
      return nc::launch_gemm_simt<double, 16, 32, 8, 4, 4>(p, ta, tb, nullptr);
    }
    case 2: {
      const auto p = P(0.0f);
      if (config == 0)
        return nc::launch(batch, ta, tb, M, N, K, p.alpha, p.A, lda, sa, p.B, ldb, sb, p.beta, p.C, ldc, sc, p.bias,
                        act, nullptr, true);
      return nc::launch_gemm_tc<float, 32, 16, 8, 2, 1>(p, ta, tb, nullptr, force_sync);
    }
    default: {
      const auto p = P(bf16{0});
      if (config == 0)
        return nc::gemm_bf16(batch, ta, tb, M, N, K, p.alpha, p.A, lda, sa, p.B, ldb, sb, p.beta, p.C, ldc, sc,
                             p.bias, act, nullptr);
      return nc::launch_gemm_tc<bf16, 32, 16, 16, 2, 1>(p, ta, tb, nullptr, force_sync);
    }
  }
}

}  // extern "C"
