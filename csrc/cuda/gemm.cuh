// CUDA GEMM kernels, with the CPU GEMM's contract (csrc/cpu/gemm.h):
//   C = act(alpha * op(A) @ op(B) + beta * C + bias), row-major, op = transpose
//   when trans_*; op(A) (M, K), op(B) (K, N), C (M, N); lda/ldb/ldc row strides in
//   elements; `batch` products, matrix b of each operand at ptr + b * stride
//   (stride 0: one matrix shared by the batch); beta == 0 never reads C (NaN
//   there is overwritten); bias: N elements or null, added to every row; act
//   applied last (relu, gelu with erf, gelu_tanh). Any M, N, K >= 0 (K == 0:
//   C = act(beta * C + bias)).
//
// Kernels (templates here, so tests can instantiate small tiles for the
// emulation; gemm.cu instantiates the GPU configurations and the launchers):
//   gemm_simt_kernel  fp32 / fp64 SIMT: BM x BN block tile, BK deep, each thread
//                     a TM x TN register tile (two 4-wide halves per dimension,
//                     read from shared memory as 16-byte vectors); the next k
//                     tile is loaded into registers while the current one is
//                     multiplied, then stored into the other shared buffer
//                     (double buffering, one __syncthreads per k tile).
//   gemm_tc_kernel    tensor cores, fp32 accumulate: T = float -> TF32
//                     (mma.m16n8k8, operands rounded with cvt.rna.tf32), T = bf16
//                     -> mma.m16n8k16 with ldmatrix(.trans) fragment loads. WM x WN
//                     warps, each a (BM/WM) x (BN/WN) warp tile of 16x8 mma tiles;
//                     two shared-memory stages filled by cp.async (16-byte
//                     chunks, zero-filled past the matrix edge) while the other
//                     stage is multiplied. Async = false: the same pipeline with
//                     plain loads (operands that are not 16-byte aligned).
// Shared-memory layouts follow each operand's memory order (rows of the
// contiguous dimension, padded by 16 or 32 bytes against bank conflicts), so
// every transpose is a coalesced copy; the fragment loads read either layout.
#pragma once

#include <cstdint>
#include <type_traits>

#include "cuda/runtime.cuh"
#include "cuda/tensor_core.cuh"

namespace nerve::cuda::gemm {

enum class Activation : int { none = 0, relu = 1, gelu = 2, gelu_tanh = 3 };  // as cpu::Activation

// bfloat16 storage (the bits); arithmetic is in fp32.
struct bf16 {
  uint16_t bits;
};

template <class T>
using gemm_acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <class T>
struct GemmParams {
  int64_t batch, M, N, K;
  const T* A;
  int64_t lda, sa;
  const T* B;
  int64_t ldb, sb;
  T* C;
  int64_t ldc, sc;
  gemm_acc_t<T> alpha, beta;
  const T* bias;  // N elements or null
  int act;        // an Activation
};

// ------------------------------------------------------------------ helpers
__device__ __forceinline__ float bf16_to_float(bf16 h) { return __uint_as_float(static_cast<uint32_t>(h.bits) << 16); }
// Round to nearest even (as __float2bfloat16_rn); NaN stays a quiet NaN.
__device__ __forceinline__ bf16 float_to_bf16(float x) {
  uint32_t u = __float_as_uint(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{static_cast<uint16_t>((u >> 16) | 0x40u)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{static_cast<uint16_t>(u >> 16)};
}

template <class T>
__device__ __forceinline__ gemm_acc_t<T> to_acc(T x) {
  if constexpr (std::is_same_v<T, bf16>) return bf16_to_float(x);
  else return x;
}
template <class T>
__device__ __forceinline__ T from_acc(gemm_acc_t<T> x) {
  if constexpr (std::is_same_v<T, bf16>) return float_to_bf16(x);
  else return x;
}

template <class A>
__device__ __forceinline__ A activate(A v, int act) {
  constexpr bool f = std::is_same_v<A, float>;
  switch (act) {
    case static_cast<int>(Activation::relu):
      return v < A(0) ? A(0) : v;  // NaN stays NaN, as std::max(v, 0) on the CPU
    case static_cast<int>(Activation::gelu):
      if constexpr (f) return 0.5f * v * (1.0f + erff(v * 0.70710678f));
      else return 0.5 * v * (1.0 + erf(v * 0.70710678118654752));
    case static_cast<int>(Activation::gelu_tanh):
      if constexpr (f) return 0.5f * v * (1.0f + tanhf(0.79788456f * (v + 0.044715f * v * v * v)));
      else return 0.5 * v * (1.0 + tanh(0.79788456080286536 * (v + 0.044715 * v * v * v)));
    default:
      return v;
  }
}

// c = act(alpha * acc + beta * c + bias[n]) at (m, n) of this batch's C.
template <class T>
__device__ __forceinline__ void store_c(const GemmParams<T>& p, T* C, int64_t m, int64_t n, gemm_acc_t<T> acc) {
  using Acc = gemm_acc_t<T>;
  Acc v = p.alpha * acc;
  T* c = C + m * p.ldc + n;
  if (p.beta != Acc(0)) v += p.beta * to_acc(*c);
  if (p.bias) v += to_acc(p.bias[n]);
  *c = from_acc<T>(activate(v, p.act));
}

// Four consecutive elements of shared memory (16-byte aligned) as vector loads.
__device__ __forceinline__ void lds4(const float* s, float* out) {
  const float4 v = *reinterpret_cast<const float4*>(s);
  out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
}
__device__ __forceinline__ void lds4(const double* s, double* out) {
  const double2 a = *reinterpret_cast<const double2*>(s), b = *reinterpret_cast<const double2*>(s + 2);
  out[0] = a.x, out[1] = a.y, out[2] = b.x, out[3] = b.y;
}

__host__ __device__ constexpr int64_t div_up(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ------------------------------------------------------------- SIMT kernel
template <class T, int BM, int BN, int BK, int TM, int TN>
struct SimtConfig {
  static constexpr int kThreads = (BM / TM) * (BN / TN);
  static constexpr int kLdA = BM + 4, kLdB = BN + 4;  // k-major tiles, padded (16-byte rows)
  static constexpr size_t kSmemBytes = sizeof(T) * 2 * BK * (kLdA + kLdB);
  static_assert(TM % 4 == 0 && TN % 4 == 0 && BM % TM == 0 && BN % TN == 0, "register tile: 4-wide halves");
  static_assert((BM * BK) % kThreads == 0 && (BN * BK) % kThreads == 0, "tile loads split evenly");
};

template <class T, int BM, int BN, int BK, int TM, int TN, bool TA, bool TB>
__global__ void __launch_bounds__(SimtConfig<T, BM, BN, BK, TM, TN>::kThreads, 1)
    gemm_simt_kernel(const GemmParams<T> p) {
  using Cfg = SimtConfig<T, BM, BN, BK, TM, TN>;
  constexpr int NT = Cfg::kThreads, TX = BN / TN, TY = BM / TM;
  constexpr int LA = BM * BK / NT, LB = BN * BK / NT, LDA = Cfg::kLdA, LDB = Cfg::kLdB;
  NERVE_DYNAMIC_SHARED(T, smem);
  T* const As = smem;                 // [2][BK][LDA]: As[k][m]
  T* const Bs = smem + 2 * BK * LDA;  // [2][BK][LDB]: Bs[k][n]
  const int tid = static_cast<int>(threadIdx.x), tx = tid % TX, ty = tid / TX;
  const int64_t M = p.M, N = p.N, K = p.K, tiles_m = div_up(M, BM), nk = div_up(K, BK);
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * BN;

  for (int64_t batch = blockIdx.z; batch < p.batch; batch += gridDim.z) {
    const T* const A = p.A + batch * p.sa;
    const T* const B = p.B + batch * p.sb;
    T* const C = p.C + batch * p.sc;
    for (int64_t tile_m = blockIdx.y; tile_m < tiles_m; tile_m += gridDim.y) {
      const int64_t m0 = tile_m * BM;
      T ra[LA], rb[LB];
      // Global -> registers: consecutive threads read consecutive addresses of
      // each operand's contiguous dimension; out of range reads give 0.
      auto load = [&](int64_t k0) {
#pragma unroll
        for (int i = 0; i < LA; ++i) {
          const int e = tid + i * NT;
          const int mm = TA ? e % BM : e / BK, kk = TA ? e / BM : e % BK;
          const int64_t gm = m0 + mm, gk = k0 + kk;
          ra[i] = gm < M && gk < K ? A[TA ? gk * p.lda + gm : gm * p.lda + gk] : T(0);
        }
#pragma unroll
        for (int i = 0; i < LB; ++i) {
          const int e = tid + i * NT;
          const int nn = TB ? e / BK : e % BN, kk = TB ? e % BK : e / BN;
          const int64_t gn = n0 + nn, gk = k0 + kk;
          rb[i] = gn < N && gk < K ? B[TB ? gn * p.ldb + gk : gk * p.ldb + gn] : T(0);
        }
      };
      auto store = [&](int buf) {
#pragma unroll
        for (int i = 0; i < LA; ++i) {
          const int e = tid + i * NT;
          const int mm = TA ? e % BM : e / BK, kk = TA ? e / BM : e % BK;
          As[(buf * BK + kk) * LDA + mm] = ra[i];
        }
#pragma unroll
        for (int i = 0; i < LB; ++i) {
          const int e = tid + i * NT;
          const int nn = TB ? e / BK : e % BN, kk = TB ? e % BK : e / BN;
          Bs[(buf * BK + kk) * LDB + nn] = rb[i];
        }
      };

      gemm_acc_t<T> acc[TM][TN];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = 0;

      if (nk > 0) {
        load(0);
        store(0);
        __syncthreads();
      }
      for (int64_t t = 0; t < nk; ++t) {
        const int buf = static_cast<int>(t & 1);
        if (t + 1 < nk) load((t + 1) * BK);  // in flight during the products below
        const T* const as = As + buf * BK * LDA;
        const T* const bs = Bs + buf * BK * LDB;
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
          T a[TM], b[TN];
#pragma unroll
          for (int h = 0; h < TM / 4; ++h) lds4(as + kk * LDA + h * 4 * TY + ty * 4, a + 4 * h);
#pragma unroll
          for (int h = 0; h < TN / 4; ++h) lds4(bs + kk * LDB + h * 4 * TX + tx * 4, b + 4 * h);
#pragma unroll
          for (int i = 0; i < TM; ++i)
#pragma unroll
            for (int j = 0; j < TN; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
        // The other buffer's readers passed the __syncthreads ending the last
        // iteration, so it can be refilled without a second barrier.
        if (t + 1 < nk) store(buf ^ 1);
        __syncthreads();
      }

#pragma unroll
      for (int i = 0; i < TM; ++i) {
        const int64_t m = m0 + (i / 4) * 4 * TY + ty * 4 + i % 4;
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < TN; ++j) {
          const int64_t n = n0 + (j / 4) * 4 * TX + tx * 4 + j % 4;
          if (n < N) store_c(p, C, m, n, acc[i][j]);
        }
      }
    }
  }
}

// ------------------------------------------------------ tensor-core kernel
template <class T, int BM, int BN, int BK, int WM, int WN, bool TA, bool TB>
struct TcConfig {
  static constexpr bool kBf16 = std::is_same_v<T, bf16>;
  static_assert(kBf16 || std::is_same_v<T, float>, "tensor-core GEMM: float (TF32) or bf16");
  static constexpr int kThreads = WM * WN * 32;
  static constexpr int kMmaK = kBf16 ? 16 : 8;
  static constexpr int kVec = 16 / static_cast<int>(sizeof(T));  // elements per 16-byte chunk
  static constexpr int kWarpM = BM / WM, kWarpN = BN / WN, kMi = kWarpM / 16, kNi = kWarpN / 8;
  // A: [BM][BK + pad] (k contiguous) or, transposed, [BK][BM + 8]; B: [BN][BK + pad] or [BK][BN + 8].
  static constexpr int kLdA = TA ? BM + 8 : BK + kVec;
  static constexpr int kLdB = TB ? BK + kVec : BN + 8;
  static constexpr int kSizeA = (TA ? BK : BM) * kLdA, kSizeB = (TB ? BN : BK) * kLdB;
  static constexpr int kStage = kSizeA + kSizeB;
  static constexpr size_t kSmemBytes = sizeof(T) * 2 * kStage;
  static_assert(kWarpM % 16 == 0 && kWarpN % 8 == 0 && BK % kMmaK == 0 && BK % kVec == 0, "tile shapes");
  static_assert((kLdA * sizeof(T)) % 16 == 0 && (kLdB * sizeof(T)) % 16 == 0 && (kSizeA * sizeof(T)) % 16 == 0,
                "16-byte aligned shared rows (cp.async, ldmatrix)");
};

// One operand tile: R rows of C contiguous elements (the operand's memory
// order) from G (leading dimension ld), rows r0.. (< rows), columns c0.. (< cols),
// into S with row stride LD; 16-byte chunks, zero past the edges.
template <class T, int R, int C, int LD, int NT, bool Async>
__device__ __forceinline__ void load_tile(T* S, const T* G, int64_t ld, int64_t r0, int64_t rows, int64_t c0,
                                          int64_t cols, int tid) {
  constexpr int V = 16 / static_cast<int>(sizeof(T)), CHUNKS = R * C / V;
  for (int e = tid; e < CHUNKS; e += NT) {
    const int r = e / (C / V), cv = (e % (C / V)) * V;
    const int64_t gr = r0 + r, gc = c0 + cv;
    int64_t valid = gr < rows ? cols - gc : 0;
    valid = valid < 0 ? 0 : valid > V ? V : valid;
    T* const dst = S + r * LD + cv;
    const T* const src = valid > 0 ? G + gr * ld + gc : G;
    if constexpr (Async) {
      tc::cp_async_cg16(dst, src, static_cast<int>(valid * sizeof(T)));
    } else {
#pragma unroll
      for (int j = 0; j < V; ++j) dst[j] = j < valid ? src[j] : T{};
    }
  }
}

template <class T, int BM, int BN, int BK, int WM, int WN, bool TA, bool TB, bool Async>
__global__ void __launch_bounds__(WM* WN * 32, 1) gemm_tc_kernel(const GemmParams<T> p) {
  using Cfg = TcConfig<T, BM, BN, BK, WM, WN, TA, TB>;
  constexpr int NT = Cfg::kThreads, MI = Cfg::kMi, NI = Cfg::kNi, KS = Cfg::kMmaK;
  constexpr int LDA = Cfg::kLdA, LDB = Cfg::kLdB;
  NERVE_DYNAMIC_SHARED(T, smem);
  const int tid = static_cast<int>(threadIdx.x), lane = tid % 32, warp = tid / 32;
  const int wm = warp / WN, wn = warp % WN, g = lane / 4, t = lane % 4;
  const int64_t M = p.M, N = p.N, K = p.K, tiles_m = div_up(M, BM), nk = div_up(K, BK);
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * BN;

  for (int64_t batch = blockIdx.z; batch < p.batch; batch += gridDim.z) {
    const T* const A = p.A + batch * p.sa;
    const T* const B = p.B + batch * p.sb;
    T* const C = p.C + batch * p.sc;
    for (int64_t tile_m = blockIdx.y; tile_m < tiles_m; tile_m += gridDim.y) {
      const int64_t m0 = tile_m * BM;
      auto issue = [&](int64_t kt) {
        T* const sa = smem + (kt & 1) * Cfg::kStage;
        T* const sb = sa + Cfg::kSizeA;
        const int64_t k0 = kt * BK;
        if constexpr (TA) load_tile<T, BK, BM, LDA, NT, Async>(sa, A, p.lda, k0, K, m0, M, tid);
        else load_tile<T, BM, BK, LDA, NT, Async>(sa, A, p.lda, m0, M, k0, K, tid);
        if constexpr (TB) load_tile<T, BN, BK, LDB, NT, Async>(sb, B, p.ldb, n0, N, k0, K, tid);
        else load_tile<T, BK, BN, LDB, NT, Async>(sb, B, p.ldb, k0, K, n0, N, tid);
      };

      float acc[MI][NI][4];
#pragma unroll
      for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j)
#pragma unroll
          for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;

      if (nk > 0) issue(0);
      if constexpr (Async) tc::cp_async_commit();
      for (int64_t kt = 0; kt < nk; ++kt) {
        if (kt + 1 < nk) issue(kt + 1);  // into the other stage, freed by the barrier ending the last iteration
        if constexpr (Async) {
          tc::cp_async_commit();  // possibly empty: the wait below always leaves exactly the newest group
          tc::cp_async_wait<1>();
        }
        __syncthreads();
        const T* const sa = smem + (kt & 1) * Cfg::kStage;
        const T* const sb = sa + Cfg::kSizeA;
#pragma unroll
        for (int kk = 0; kk < BK; kk += KS) {
          uint32_t af[MI][4], bfr[NI][2];
#pragma unroll
          for (int i = 0; i < MI; ++i) {
            const int mb = wm * Cfg::kWarpM + i * 16;
            if constexpr (Cfg::kBf16) {
              // Matrix q = lane / 8 of the x4 load is a_q: rows +8 (q odd), k +8 (q >= 2).
              const int q = lane / 8, r = lane % 8;
              if constexpr (TA)
                tc::ldmatrix<4, true>(af[i], sa + (kk + 8 * (q / 2) + r) * LDA + mb + 8 * (q % 2));
              else
                tc::ldmatrix<4, false>(af[i], sa + (mb + 8 * (q % 2) + r) * LDA + kk + 8 * (q / 2));
            } else {
              auto at = [&](int m, int k) { return TA ? sa[k * LDA + m] : sa[m * LDA + k]; };
              af[i][0] = tc::to_tf32(at(mb + g, kk + t));
              af[i][1] = tc::to_tf32(at(mb + g + 8, kk + t));
              af[i][2] = tc::to_tf32(at(mb + g, kk + t + 4));
              af[i][3] = tc::to_tf32(at(mb + g + 8, kk + t + 4));
            }
          }
#pragma unroll
          for (int j = 0; j < NI; ++j) {
            const int nb = wn * Cfg::kWarpN + j * 8;
            if constexpr (Cfg::kBf16) {
              // Matrix q = (lane / 8) % 2 of the x2 load is b_q: k +8 (q = 1).
              const int q = (lane / 8) % 2, r = lane % 8;
              if constexpr (TB)
                tc::ldmatrix<2, false>(bfr[j], sb + (nb + r) * LDB + kk + 8 * q);
              else
                tc::ldmatrix<2, true>(bfr[j], sb + (kk + 8 * q + r) * LDB + nb);
            } else {
              auto bt = [&](int k, int n) { return TB ? sb[n * LDB + k] : sb[k * LDB + n]; };
              bfr[j][0] = tc::to_tf32(bt(kk + t, nb + g));
              bfr[j][1] = tc::to_tf32(bt(kk + t + 4, nb + g));
            }
          }
#pragma unroll
          for (int i = 0; i < MI; ++i)
#pragma unroll
            for (int j = 0; j < NI; ++j) {
              if constexpr (Cfg::kBf16) tc::mma_m16n8k16_bf16(acc[i][j], af[i], bfr[j], acc[i][j]);
              else tc::mma_m16n8k8_tf32(acc[i][j], af[i], bfr[j], acc[i][j]);
            }
        }
        __syncthreads();  // this stage is refilled by the next iteration's issue
      }
      if constexpr (Async) tc::cp_async_wait<0>();  // retire the trailing (empty) group

#pragma unroll
      for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j)
#pragma unroll
          for (int r = 0; r < 4; ++r) {
            const int64_t m = m0 + wm * Cfg::kWarpM + i * 16 + g + 8 * (r / 2);
            const int64_t n = n0 + wn * Cfg::kWarpN + j * 8 + 2 * t + (r & 1);
            if (m < M && n < N) store_c(p, C, m, n, acc[i][j][r]);
          }
    }
  }
}

// ---------------------------------------------------------------- launching
// Grid: x over N tiles, y over M tiles, z over the batch (the kernels loop
// when y or z would exceed CUDA's 65535).
inline dim3 gemm_grid(int64_t batch, int64_t M, int64_t N, int bm, int bn) {
  const int64_t tm = div_up(M, bm), tn = div_up(N, bn);
  return dim3(static_cast<unsigned>(tn), static_cast<unsigned>(tm < 65535 ? tm : 65535),
              static_cast<unsigned>(batch < 65535 ? batch : 65535));
}

template <class T>
inline bool gemm_empty(const GemmParams<T>& p) {
  return p.batch <= 0 || p.M <= 0 || p.N <= 0;
}

template <class T, int BM, int BN, int BK, int TM, int TN>
cudaError_t launch_gemm_simt(const GemmParams<T>& p, bool ta, bool tb, cudaStream_t stream) {
  using Cfg = SimtConfig<T, BM, BN, BK, TM, TN>;
  if (gemm_empty(p)) return cudaSuccess;
  if (div_up(p.N, BN) > 0x7fffffff) return cudaErrorInvalidValue;
  const dim3 grid = gemm_grid(p.batch, p.M, p.N, BM, BN);
  const dim3 block(Cfg::kThreads);
  const size_t smem = Cfg::kSmemBytes;
#define NERVE_GEMM_SIMT(TA, TB) \
  NERVE_LAUNCH(gemm_simt_kernel<T, BM, BN, BK, TM, TN, TA, TB>, grid, block, smem, stream, p)
  if (ta) {
    if (tb) NERVE_GEMM_SIMT(true, true);
    else NERVE_GEMM_SIMT(true, false);
  } else {
    if (tb) NERVE_GEMM_SIMT(false, true);
    else NERVE_GEMM_SIMT(false, false);
  }
#undef NERVE_GEMM_SIMT
  return cudaGetLastError();
}

// cp.async needs every 16-byte chunk of A and B aligned: base pointers, leading
// dimensions and batch strides multiples of 16 bytes.
template <class T>
inline bool gemm_async_ok(const GemmParams<T>& p) {
  constexpr int64_t V = 16 / sizeof(T);
  auto aligned = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
  return aligned(p.A) && aligned(p.B) && p.lda % V == 0 && p.ldb % V == 0 && p.sa % V == 0 && p.sb % V == 0;
}

template <class T, int BM, int BN, int BK, int WM, int WN, bool TA, bool TB>
cudaError_t launch_gemm_tc_t(const GemmParams<T>& p, bool async, cudaStream_t stream) {
  using Cfg = TcConfig<T, BM, BN, BK, WM, WN, TA, TB>;
  const dim3 grid = gemm_grid(p.batch, p.M, p.N, BM, BN);
  const dim3 block(Cfg::kThreads);
  const size_t smem = Cfg::kSmemBytes;
  if (async) {
    auto* kernel = gemm_tc_kernel<T, BM, BN, BK, WM, WN, TA, TB, true>;
    if (smem > 48 * 1024) (void)cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
    NERVE_LAUNCH(kernel, grid, block, smem, stream, p);
  } else {
    auto* kernel = gemm_tc_kernel<T, BM, BN, BK, WM, WN, TA, TB, false>;
    if (smem > 48 * 1024) (void)cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
    NERVE_LAUNCH(kernel, grid, block, smem, stream, p);
  }
  return cudaGetLastError();
}

// force_sync: use the plain-load pipeline even where cp.async would do (tests).
template <class T, int BM, int BN, int BK, int WM, int WN>
cudaError_t launch_gemm_tc(const GemmParams<T>& p, bool ta, bool tb, cudaStream_t stream, bool force_sync = false) {
  if (gemm_empty(p)) return cudaSuccess;
  if (div_up(p.N, BN) > 0x7fffffff) return cudaErrorInvalidValue;
  const bool async = !force_sync && gemm_async_ok(p);
  if (ta) {
    if (tb) return launch_gemm_tc_t<T, BM, BN, BK, WM, WN, true, true>(p, async, stream);
    return launch_gemm_tc_t<T, BM, BN, BK, WM, WN, true, false>(p, async, stream);
  }
  if (tb) return launch_gemm_tc_t<T, BM, BN, BK, WM, WN, false, true>(p, async, stream);
  return launch_gemm_tc_t<T, BM, BN, BK, WM, WN, false, false>(p, async, stream);
}

// ------------------------------------------------------- public launchers
// gemm.cu: the GPU tile configurations. Arguments as cpu::GemmKernels::sgemm
// (act: an Activation), plus the stream; errors as cudaGetLastError().
template <class T>  // float, double
cudaError_t gemm_simt(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                      int64_t lda, int64_t sa, const T* B, int64_t ldb, int64_t sb, T beta, T* C, int64_t ldc,
                      int64_t sc, const T* bias, int act, cudaStream_t stream);
cudaError_t gemm_tf32(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                      int64_t lda, int64_t sa, const float* B, int64_t ldb, int64_t sb, float beta, float* C,
                      int64_t ldc, int64_t sc, const float* bias, int act, cudaStream_t stream);
cudaError_t gemm_bf16(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16* A,
                      int64_t lda, int64_t sa, const bf16* B, int64_t ldb, int64_t sb, float beta, bf16* C,
                      int64_t ldc, int64_t sc, const bf16* bias, int act, cudaStream_t stream);
// float: TF32 tensor cores when allow_tf32 (torch.backends.cuda.matmul.allow_tf32), else SIMT fp32.
cudaError_t launch(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, int64_t sa, const float* B, int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc,
                 int64_t sc, const float* bias, int act, cudaStream_t stream, bool allow_tf32);
cudaError_t launch(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                 int64_t lda, int64_t sa, const double* B, int64_t ldb, int64_t sb, double beta, double* C,
                 int64_t ldc, int64_t sc, const double* bias, int act, cudaStream_t stream, bool allow_tf32 = false);

}  // namespace nerve::cuda::gemm
