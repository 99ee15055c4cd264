// The GEMM, compiled once per ISA (CMakeLists.txt generates one translation
// unit per ISA that includes this file; common/dispatch.h has the pattern);
// everything lives in an anonymous namespace, so the copies never collide, and
// kKernels at the end is this ISA's table.
// C = act(alpha * op(A) @ op(B) + beta * C + bias), row-major, any leading dims.
//
// Algorithm (Goto/BLIS, written for row-major C with SIMD along N):
//   for i0 in M step MC:
//     for k0 in K step KC:   pack op(A)[i0:, k0:] into slivers of MR rows,
//                            k-major: Ap[k * MR + i]            (A panel MC x KC)
//       for j0 in N step NC: pack op(B)[k0:, j0:] into slivers of NR columns,
//                            k-major: Bp[k * NR + j]   (B block KC x NC, in L2)
//         for each A sliver (MR x KC, stays in L1):
//           for each B sliver (KC x NR, streamed from L2):
//             micro-kernel: MR x NR accumulators in registers; per k, load
//             NR/W vectors of B, broadcast MR values of A, MR*NR/W FMAs.
// Transposed operands cost nothing extra: packing reads them either way (rows
// that run along k go through 4x4 / 2x2 register transposes). An operand of at
// most 64 KiB is not packed at all: the kernel reads A through (row, k) strides
// and B's whole slivers in place (only a partial last sliver of B is packed).
// The first K block applies beta (beta == 0 never reads C, so NaN there is
// ignored), later blocks add; alpha scales every store; the last K block applies
// the epilogue (bias + activation) to the tile while it is in L1.
//
// Pre-packed B (gemm_packed): pack_b_whole packs all of op(B) once, K block by
// K block (the same KC as the driver), each block pack_b's layout over all N
// columns; gemm_serial then takes its B slivers from there instead of packing
// (Problem::bp), with the same loops, kernels and threading. For an RNN's
// recurrent GEMM (M = batch, one call per step, same W_hh every step) this
// removed the per-step repacking of W_hh: 100 steps of 64 x 512 x 2048 went
// from 150 to 125 ms (89 -> 107 GFLOP/s), 50 steps of 32 x 256 x 1024 from 10.5
// to 9.1 ms; the backward's dG_t W_hh (64 x 2048 x 512) from 158 to 126 ms
// (1 thread, float32, AVX-512, CPU time, kernel loop driven from Python).
//
// Micro-tiles (R x NR, R = MR rows at most):
//   avx512: float 12 x 32, double 12 x 16 (24 zmm accumulators of 32)
//   avx2:   float  6 x 16, double  6 x  8 (12 ymm accumulators of 16)
//   generic: 4 x 8 on a 4-wide struct the compiler maps to SSE2.
// Edge tiles: A slivers are padded to a multiple of MR_STEP rows (4 / 2) and the
// kernel is instantiated for R = MR_STEP, 2*MR_STEP, ..., MR, so a 32-row C
// runs 12 + 12 + 8 rows with no wasted FMAs; B slivers narrower than NR use a
// one-vector kernel, zero-padded. Only the final store of a partial tile goes
// through a small buffer; the FMA loop is always SIMD.
// Blocking: KC so an A sliver fills ~15/16 of L1, NC so the B block fills half
// of L2 (sysconf, defaults 32 KiB / 512 KiB), MC = 64 * MR; blocks are then
// evened out (K = 1024 runs as 4 x 256, not 3 x 336 + 16). Here (Zen 4, 32 KiB
// L1d, 1 MiB L2): float KC 640, NC 192; double KC 320, NC 192.
//
// Threads: C is cut into >= 2 * threads units of whole micro-tiles that threads
// take dynamically, each running the serial algorithm with its own thread_local
// packing buffers (no barriers inside a product). Thread count comes from
// threads_for(flops, 2^23), so small products stay on one thread; a batch is
// split by matrix when that balances. A join that waited much longer than the
// work (a descheduled worker on a shared machine) backs off to one thread.
//
// BLOCKING NOTES: what was tried and measured (Zen 4 EPYC, 2 vCPUs, GCC 12,
// single-thread CPU time, since other jobs shared the machine; fp32 peak
// ~116 GFLOP/s per core from peak_gflops()):
// - micro-kernel 12x32 runs at ~88-91% of peak in cache (2 loads, 12
//   broadcasts, 24 FMAs per k, no spills); 6x64 was no faster (within the
//   ~3% noise); unrolling k by 4 gave ~+2%; AVX2 6x16 runs as fast as AVX-512
//   on Zen 4 (512-bit FMAs are double-pumped).
// - KC 256..768 / NC 128..768 / MC 384..1536 were within noise for fp32;
//   fp64 gained ~3% going from KC 168 to 320.
// - reading B in place instead of packing it for small M was 1.5x slower
//   (rows 16 KiB apart alias in L1/L2); packing B sliver by sliver (128 B per
//   row) spent 38% of the time in the copy, packing row by row fixed it.
// - scalar transposed packing cost ~15% on 128x512x2048 with op(B) = B^T;
//   register transposes brought it level with the untransposed case.
// - reading small operands in place took 64^3 from 0.85x to ~1.0x OpenBLAS
//   (packing was ~35% of its time); the remaining gap there is call overhead.
// - a static split of C between 2 threads ran 25x slower than 1 thread when
//   the OS descheduled a worker (shared machine); dynamic units plus the
//   back-off fixed it.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/denormal.h"
#include "common/dispatch.h"
#include "common/parallel.h"
#include "cpu/gemm.h"

namespace {

using nerve::cpu::Activation;

// ------------------------------------------------------------ SIMD vectors
template <class T>
struct Simd;

#if defined(__AVX512F__)
template <>
struct Simd<float> {
  using V = __m512;
  static constexpr int W = 16, MR = 12, MR_STEP = 4, NV = 2;
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
};
template <>
struct Simd<double> {
  using V = __m512d;
  static constexpr int W = 8, MR = 12, MR_STEP = 4, NV = 2;
  static V zero() { return _mm512_setzero_pd(); }
  static V set1(double x) { return _mm512_set1_pd(x); }
  static V load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, V v) { _mm512_storeu_pd(p, v); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
};
#elif defined(__AVX2__)
template <>
struct Simd<float> {
  using V = __m256;
  static constexpr int W = 8, MR = 6, MR_STEP = 2, NV = 2;
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
};
template <>
struct Simd<double> {
  using V = __m256d;
  static constexpr int W = 4, MR = 6, MR_STEP = 2, NV = 2;
  static V zero() { return _mm256_setzero_pd(); }
  static V set1(double x) { return _mm256_set1_pd(x); }
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
};
#else
// Portable: a 4-wide value type; the compiler maps its loops onto SSE2.
template <class T>
struct Simd {
  struct V {
    T v[4];
  };
  static constexpr int W = 4, MR = 4, MR_STEP = 2, NV = 2;
  static V zero() { return V{}; }
  static V set1(T x) { return V{{x, x, x, x}}; }
  static V load(const T* p) {
    V r;
    for (int l = 0; l < 4; ++l) r.v[l] = p[l];
    return r;
  }
  static void store(T* p, V x) {
    for (int l = 0; l < 4; ++l) p[l] = x.v[l];
  }
  static V fma(V a, V b, V c) {
    for (int l = 0; l < 4; ++l) c.v[l] += a.v[l] * b.v[l];
    return c;
  }
  static V mul(V a, V b) {
    for (int l = 0; l < 4; ++l) a.v[l] *= b.v[l];
    return a;
  }
  static V add(V a, V b) {
    for (int l = 0; l < 4; ++l) a.v[l] += b.v[l];
    return a;
  }
};
#endif

// ------------------------------------------------------------ activations
// Written as plain branch-free loops so the compiler vectorizes them for this
// file's ISA (with -fno-trapping-math, set for the gemm sources in CMake; without
// it GCC 12 refuses to if-convert the clamps for AVX2 and the loops run scalar,
// ~3 ns per element). float uses a Cephes-style exp (rel. error ~2e-7) and the
// Abramowitz-Stegun 7.1.26 erf (abs. error 1.5e-7); double calls libm.
inline float exp_approx(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  // n = round(x / ln 2) without a float->int conversion: adding 1.5 * 2^23 leaves
  // n in the low mantissa bits of t.
  const float t = x * 1.44269504f + 12582912.0f;
  const float n = t - 12582912.0f;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits;
  std::memcpy(&bits, &t, sizeof bits);
  bits = (bits - 0x4B400000 + 127) << 23;  // 2^n
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline float gelu(float x) {  // 0.5 x (1 + erf(x / sqrt 2))
  const float z = std::fabs(x) * 0.70710678f;
  const float t = 1.0f / (1.0f + 0.3275911f * z);
  const float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
  const float erf_abs = 1.0f - poly * exp_approx(-z * z);
  return 0.5f * x * (1.0f + std::copysign(erf_abs, x));
}
inline double gelu(double x) { return 0.5 * x * (1.0 + std::erf(x * 0.70710678118654752)); }

inline float gelu_tanh(float x) {  // 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u))
  const float u = 0.79788456f * (x + 0.044715f * x * x * x);
  return x / (1.0f + exp_approx(-2.0f * u));
}
inline double gelu_tanh(double x) {
  return 0.5 * x * (1.0 + std::tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)));
}

template <class T>
void activate(T* __restrict c, int64_t n, Activation act) {
  switch (act) {
    case Activation::relu:
      for (int64_t j = 0; j < n; ++j) c[j] = std::max(c[j], T(0));
      break;
    case Activation::gelu:
      for (int64_t j = 0; j < n; ++j) c[j] = gelu(c[j]);
      break;
    case Activation::gelu_tanh:
      for (int64_t j = 0; j < n; ++j) c[j] = gelu_tanh(c[j]);
      break;
    case Activation::none: break;
  }
}

// ------------------------------------------------------------ micro-kernel
// How one micro-tile of C is written: c = alpha*acc + beta*c (+ bias, act).
template <class T>
struct TileOut {
  T* c;
  int64_t ldc;
  int mr, nr;  // valid rows / columns of this tile
  T alpha, beta;
  const T* bias;  // at this tile's first column, or null (not the last K block)
  Activation act;
};

// a: op(A) element (i, k) at a[i * a_is + k * a_ks]; packed (DIRECT_A false) the
// sliver is Ap[k * R + i] and the strides are constants. In place, rows past
// t.mr read row t.mr - 1 (never past A; those rows are not stored).
// b: kc rows of NV*W values, row k at b + k * ldb (ldb = NV*W when packed).
template <class T, int R, int NV, bool DIRECT_A>
void micro_kernel(int64_t kc, const T* __restrict a, int64_t a_is, int64_t a_ks, const T* __restrict b, int64_t ldb,
                  const TileOut<T>& t) {
  using S = Simd<T>;
  using V = typename S::V;
  constexpr int W = S::W, NR = NV * S::W;
  int64_t a_off[R];
  for (int i = 0; i < R; ++i) a_off[i] = DIRECT_A ? std::min(i, t.mr - 1) * a_is : i;
  const int64_t ks = DIRECT_A ? a_ks : R;
  V acc[R][NV];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = S::zero();
  // Start pulling this tile of C toward L1 while the FMAs run.
  for (int i = 0; i < t.mr; ++i) {
    __builtin_prefetch(t.c + i * t.ldc, 1);
    __builtin_prefetch(t.c + i * t.ldc + t.nr - 1, 1);
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = S::load(b + v * W);
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      const V ai = S::set1(a[a_off[i]]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = S::fma(ai, bv[v], acc[i][v]);
    }
    a += ks;
    b += ldb;
  }
  const V valpha = S::set1(t.alpha), vbeta = S::set1(t.beta);
  if (t.mr == R && t.nr == NR) {
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      T* c = t.c + i * t.ldc;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        V x = S::mul(acc[i][v], valpha);
        if (t.beta != T(0)) x = S::fma(vbeta, S::load(c + v * W), x);
        if (t.bias) x = S::add(x, S::load(t.bias + v * W));
        S::store(c + v * W, x);
      }
    }
    if (t.act != Activation::none)
      for (int i = 0; i < R; ++i) activate(t.c + i * t.ldc, NR, t.act);
    return;
  }
  alignas(64) T buf[R][NR];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) S::store(&buf[i][v * W], S::mul(acc[i][v], valpha));
  for (int i = 0; i < t.mr; ++i) {
    T* c = t.c + i * t.ldc;
    for (int j = 0; j < t.nr; ++j) {
      T x = buf[i][j];
      if (t.beta != T(0)) x += t.beta * c[j];
      if (t.bias) x += t.bias[j];
      c[j] = x;
    }
    activate(c, t.nr, t.act);
  }
}

template <class T>
using KernelFn = void (*)(int64_t, const T*, int64_t, int64_t, const T*, int64_t, const TileOut<T>&);

// The kernel for an A sliver of `rows` (padded) rows and a B sliver of `nv` vectors.
template <class T, int R = Simd<T>::MR_STEP>
KernelFn<T> pick_kernel(int rows, int nv, bool direct_a) {
  if constexpr (R < Simd<T>::MR) {
    if (rows > R) return pick_kernel<T, R + Simd<T>::MR_STEP>(rows, nv, direct_a);
  }
  constexpr int NV = Simd<T>::NV;
  if (direct_a) return nv == NV ? &micro_kernel<T, R, NV, true> : &micro_kernel<T, R, 1, true>;
  return nv == NV ? &micro_kernel<T, R, NV, false> : &micro_kernel<T, R, 1, false>;
}

// ------------------------------------------------------------ packing
inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

#if defined(__SSE2__)
// 4x4 (float) / 2x2 (double) register transposes: d[k * ld + i] = s[i * ls + k].
inline void transpose_block(const float* s, int64_t ls, float* d, int64_t ld) {
  __m128 r0 = _mm_loadu_ps(s), r1 = _mm_loadu_ps(s + ls), r2 = _mm_loadu_ps(s + 2 * ls), r3 = _mm_loadu_ps(s + 3 * ls);
  _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
  _mm_storeu_ps(d, r0);
  _mm_storeu_ps(d + ld, r1);
  _mm_storeu_ps(d + 2 * ld, r2);
  _mm_storeu_ps(d + 3 * ld, r3);
}
inline void transpose_block(const double* s, int64_t ls, double* d, int64_t ld) {
  const __m128d r0 = _mm_loadu_pd(s), r1 = _mm_loadu_pd(s + ls);
  _mm_storeu_pd(d, _mm_unpacklo_pd(r0, r1));
  _mm_storeu_pd(d + ld, _mm_unpackhi_pd(r0, r1));
}
#endif

// dst[k * ldd + i] = src[i * lds + k] for i < rows, k < cols: packing a matrix
// whose rows run along k. Register transposes, since a scalar copy with strided
// stores cost ~1.5 cycles per element (15% of a 128x512x2048 product with op(B) = B^T).
template <class T>
void transpose_copy(const T* src, int64_t lds, int rows, int64_t cols, T* __restrict dst, int64_t ldd) {
  int i = 0;
#if defined(__SSE2__)
  constexpr int TW = 16 / sizeof(T);
  for (; i + TW <= rows; i += TW) {
    int64_t k = 0;
    for (; k + TW <= cols; k += TW) transpose_block(src + i * lds + k, lds, dst + k * ldd + i, ldd);
    for (; k < cols; ++k)
      for (int ii = i; ii < i + TW; ++ii) dst[k * ldd + ii] = src[ii * lds + k];
  }
#endif
  for (; i < rows; ++i)
    for (int64_t k = 0; k < cols; ++k) dst[k * ldd + i] = src[i * lds + k];
}

// op(A)[0:mc, 0:kc] -> slivers of MR rows (the last one padded to MR_STEP rows
// with zeros), each k-major. op(A)[i, k] = trans ? A[k*lda + i] : A[i*lda + k].
template <class T>
void pack_a(bool trans, const T* A, int64_t lda, int64_t mc, int64_t kc, T* __restrict ap) {
  constexpr int MR = Simd<T>::MR, STEP = Simd<T>::MR_STEP;
  for (int64_t i0 = 0; i0 < mc; i0 += MR) {
    const int mr = static_cast<int>(std::min<int64_t>(MR, mc - i0));
    const int rows = static_cast<int>(round_up(mr, STEP));
    if (trans) {
      for (int64_t k = 0; k < kc; ++k) {
        const T* src = A + k * lda + i0;
        T* dst = ap + k * rows;
        for (int i = 0; i < mr; ++i) dst[i] = src[i];
      }
    } else {
      transpose_copy(A + i0 * lda, lda, mr, kc, ap, rows);
    }
    for (int64_t k = 0; k < kc; ++k)
      for (int i = mr; i < rows; ++i) ap[k * rows + i] = T(0);
    ap += rows * kc;
  }
}

// op(B)[0:kc, 0:nc] -> slivers of NR columns (the last padded with zeros to a
// whole number of vectors), each k-major. op(B)[k, j] = trans ? B[j*ldb + k] : B[k*ldb + j].
// Not transposed: row by row, so each row of B is one contiguous read that the
// prefetcher follows (sliver by sliver read 128 B per page and ran at ~half speed).
template <class T>
void pack_b(bool trans, const T* B, int64_t ldb, int64_t kc, int64_t nc, T* __restrict bp) {
  using S = Simd<T>;
  constexpr int W = S::W, NR = S::NV * W;
  const int64_t full = nc / NR * NR;
  const int tail = static_cast<int>(nc - full), tail_cols = tail > W ? NR : W;
  if (!trans) {
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = B + k * ldb;
      T* dst = bp + k * NR;
      for (int64_t j0 = 0; j0 < full; j0 += NR, dst += NR * kc)
#pragma GCC unroll 4
        for (int v = 0; v < S::NV; ++v) S::store(dst + v * W, S::load(src + j0 + v * W));
      if (tail) {
        T* d = bp + full * kc + k * tail_cols;
        for (int j = 0; j < tail; ++j) d[j] = src[full + j];
        for (int j = tail; j < tail_cols; ++j) d[j] = T(0);
      }
    }
    return;
  }
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    const int nr = static_cast<int>(std::min<int64_t>(NR, nc - j0));
    const int cols = nr > W ? NR : W;
    transpose_copy(B + j0 * ldb, ldb, nr, kc, bp, cols);
    for (int64_t k = 0; k < kc; ++k)
      for (int j = nr; j < cols; ++j) bp[k * cols + j] = T(0);
    bp += cols * kc;
  }
}

// ------------------------------------------------------------ blocking
struct Blocking {
  int64_t mc, kc, nc;
};

inline long cache_size(int name, long fallback, long lo, long hi) {
  long v = sysconf(name);
  return std::clamp(v > 0 ? v : fallback, lo, hi);
}

template <class T>
const Blocking& blocking() {
  static const Blocking b = [] {
    constexpr int MR = Simd<T>::MR, NR = Simd<T>::NV * Simd<T>::W;
    const long l1 = cache_size(_SC_LEVEL1_DCACHE_SIZE, 32 << 10, 16 << 10, 64 << 10);
    const long l2 = cache_size(_SC_LEVEL2_CACHE_SIZE, 512 << 10, 128 << 10, 4 << 20);
    Blocking r;
    r.kc = std::max<int64_t>(64, l1 * 15 / 16 / (MR * sizeof(T)) / 8 * 8);
    r.nc = std::max<int64_t>(NR, l2 / 2 / (r.kc * sizeof(T)) / NR * NR);
    r.mc = 64 * MR;
    return r;
  }();
  return b;
}

// Equal blocks no larger than the cache-derived ones (K = 1024 runs as 4 x 256,
// not 3 x 336 + 16, which would spend a whole pass over C on 16 k-steps).
inline int64_t balanced(int64_t n, int64_t block, int64_t unit) {
  const int64_t parts = (n + block - 1) / block;
  return round_up((n + parts - 1) / parts, unit);
}

// The K block of a product with this K: a pre-packed B is cut the same way.
template <class T>
int64_t k_block(int64_t K) {
  return balanced(K, blocking<T>().kc, 4);
}

// ------------------------------------------------------------ pre-packed B
// The whole op(B) (K, N) packed once, for products that reuse it (an RNN's
// W_hh at every step): per K block k0 (k_block(K) rows, the last shorter),
// pack_b's layout over all N columns, `width` = N rounded up to whole slivers
// (a last partial sliver padded to one or NV vectors). The block of k0 starts
// at k0 * width; the sliver of column j (a multiple of NR) in it at j * kc.
template <class T>
int64_t packed_width(int64_t N) {
  constexpr int W = Simd<T>::W, NR = Simd<T>::NV * W;
  const int64_t full = N / NR * NR, tail = N - full;
  return full + (tail == 0 ? 0 : tail > W ? NR : W);
}

template <class T>
void pack_b_whole(bool tb, int64_t K, int64_t N, const T* B, int64_t ldb, T* out) {
  const int64_t KC = k_block<T>(K), width = packed_width<T>(N);
  for (int64_t k0 = 0; k0 < K; k0 += KC)
    pack_b(tb, tb ? B + k0 : B + k0 * ldb, ldb, std::min(KC, K - k0), N, out + k0 * width);
}

// Per-thread packing buffers, grown on demand and reused across calls.
template <class T>
T* workspace(int which, size_t n) {
  struct Buf {
    T* p = nullptr;
    size_t n = 0;
    ~Buf() { std::free(p); }
  };
  thread_local Buf bufs[2];
  Buf& b = bufs[which];
  if (b.n < n) {
    std::free(b.p);
    b.n = round_up(static_cast<int64_t>(n), 1024);
    b.p = static_cast<T*>(std::aligned_alloc(64, b.n * sizeof(T)));
    if (!b.p) throw std::bad_alloc();
  }
  return b.p;
}

// ------------------------------------------------------------ serial GEMM
template <class T>
struct Problem {
  bool ta, tb;
  int64_t M, N, K;
  T alpha;
  const T* A;
  int64_t lda;
  const T* B;
  int64_t ldb;
  T beta;
  T* C;
  int64_t ldc;
  const T* bias;
  Activation act;
  // Pre-packed op(B) (pack_b_whole, `bp_width` columns wide) instead of B, and
  // the column of it where this (sub-)problem starts.
  const T* bp = nullptr;
  int64_t bp_width = 0, bp_col0 = 0;

  // The sub-problem C[i0:i0+m, j0:j0+n].
  Problem sub(int64_t i0, int64_t m, int64_t j0, int64_t n) const {
    Problem p = *this;
    p.M = m;
    p.N = n;
    p.A = ta ? A + i0 : A + i0 * lda;
    if (bp)
      p.bp_col0 += j0;
    else
      p.B = tb ? B + j0 * ldb : B + j0;
    p.C = C + i0 * ldc + j0;
    p.bias = bias ? bias + j0 : nullptr;
    return p;
  }
};

// K == 0 or alpha == 0: C = act(beta * C + bias), never reading C when beta == 0.
template <class T>
void scale_only(const Problem<T>& p) {
  for (int64_t i = 0; i < p.M; ++i) {
    T* c = p.C + i * p.ldc;
    for (int64_t j = 0; j < p.N; ++j) c[j] = (p.beta == T(0) ? T(0) : p.beta * c[j]) + (p.bias ? p.bias[j] : T(0));
    activate(c, p.N, p.act);
  }
}

// An operand this small is read in place: its rows stay in L1/L2 across the
// product, so packing (a copy of it, ~35% of a 64^3 product) buys nothing.
constexpr int64_t kDirectBytes = 64 << 10;

template <class T>
void gemm_serial(const Problem<T>& p) {
  if (p.M <= 0 || p.N <= 0) return;
  if (p.K == 0 || p.alpha == T(0)) return scale_only(p);
  constexpr int MR = Simd<T>::MR, STEP = Simd<T>::MR_STEP, W = Simd<T>::W, NR = Simd<T>::NV * W;
  const Blocking& bl = blocking<T>();
  const int64_t MC = balanced(p.M, bl.mc, MR), KC = k_block<T>(p.K), NC = balanced(p.N, bl.nc, NR);
  const bool prepacked = p.bp != nullptr;
  const bool direct_a = p.M * p.K * static_cast<int64_t>(sizeof(T)) <= kDirectBytes;
  const bool direct_b = !prepacked && !p.tb && p.K * p.N * static_cast<int64_t>(sizeof(T)) <= kDirectBytes;
  const int64_t a_is = p.ta ? 1 : p.lda, a_ks = p.ta ? p.lda : 1;
  T* ap = direct_a ? nullptr : workspace<T>(0, MC * KC);
  T* bp = prepacked ? nullptr : workspace<T>(1, (direct_b ? NR : NC) * KC);
  for (int64_t i0 = 0; i0 < p.M; i0 += MC) {
    const int64_t mc = std::min(MC, p.M - i0);
    for (int64_t k0 = 0; k0 < p.K; k0 += KC) {
      const int64_t kc = std::min(KC, p.K - k0);
      const bool first = k0 == 0, last = k0 + kc == p.K;
      const T* a_src = p.A + (i0 * a_is + k0 * a_ks);
      if (!direct_a) pack_a(p.ta, a_src, p.lda, mc, kc, ap);
      for (int64_t j0 = 0; j0 < p.N; j0 += NC) {
        const int64_t nc = std::min(NC, p.N - j0);
        const T* b_src = prepacked ? nullptr : p.tb ? p.B + j0 * p.ldb + k0 : p.B + k0 * p.ldb + j0;
        // In place, whole slivers are read from B and only a last partial one is
        // packed (so no load runs past column N).
        const int64_t packed_from = direct_b ? nc / NR * NR : 0;
        const T* b_packed = prepacked ? p.bp + k0 * p.bp_width + (p.bp_col0 + j0) * kc : bp;
        if (!prepacked && packed_from < nc)
          pack_b(p.tb, p.tb ? b_src + packed_from * p.ldb : b_src + packed_from, p.ldb, kc, nc - packed_from, bp);
        // Slivers before ir / jr are whole, so their packed offsets are ir*kc / jr*kc.
        for (int64_t ir = 0; ir < mc; ir += MR) {
          const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
          const int rows = static_cast<int>(round_up(mr, STEP));
          const T* a = direct_a ? a_src + ir * a_is : ap + ir * kc;
          const KernelFn<T> full_kernel = pick_kernel<T>(rows, Simd<T>::NV, direct_a);
          for (int64_t jr = 0; jr < nc; jr += NR) {
            const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
            const int nv = nr > W ? Simd<T>::NV : 1;
            const bool b_in_place = jr < packed_from;
            TileOut<T> t{p.C + (i0 + ir) * p.ldc + j0 + jr,
                         p.ldc,
                         mr,
                         nr,
                         p.alpha,
                         first ? p.beta : T(1),
                         last && p.bias ? p.bias + j0 + jr : nullptr,
                         last ? p.act : Activation::none};
            const KernelFn<T> kernel = nv == Simd<T>::NV ? full_kernel : pick_kernel<T>(rows, nv, direct_a);
            kernel(kc, a, a_is, a_ks, b_in_place ? b_src + jr : b_packed + (jr - packed_from) * kc,
                   b_in_place ? p.ldb : nv * W, t);
          }
        }
      }
    }
  }
}

// ------------------------------------------------------------ threading
// Below this many flops per thread a second thread costs more than it saves:
// waking a pooled OpenMP thread takes ~5-50 us, so each thread gets >= ~80 us
// of work (an estimate: the shared machine never idled long enough to measure
// the crossover; 128^3 stays on one thread, 256^3 uses two).
constexpr int64_t kGemmFlopsPerThread = int64_t{1} << 23;

int gemm_threads(int64_t flops) { return omp_in_parallel() ? 1 : nerve::threads_for(flops, kGemmFlopsPerThread); }

// fn(u) for u in [0, count) on nt threads, each taking the next unit when done.
// On 2 shared vCPUs the OS may deschedule one OpenMP thread for a whole time
// slice (milliseconds): the join then waits far longer than the work took, and
// 2 threads ran a 0.3 ms product 25x slower than 1. When the first thread to
// finish waited more than twice its own work time, GEMMs run on one thread for
// a back-off window (20 ms, doubling while it keeps happening, up to 1 s); on an
// idle machine this never fires.
std::atomic<int64_t> g_serial_until{0};  // steady_clock ns
std::atomic<int64_t> g_backoff{0};       // ns, 0 after a clean parallel call

template <class F>
void run_units(int nt, int64_t count, const F& fn) {
  using clock = std::chrono::steady_clock;
  auto ns = [](clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  };
  nt = static_cast<int>(std::min<int64_t>(nt, count));
  const clock::time_point start = clock::now();
  if (nt > 1 && ns(start) < g_serial_until.load(std::memory_order_relaxed)) nt = 1;
  if (nt <= 1) {
    nerve::DenormalGuard ftz;
    for (int64_t u = 0; u < count; ++u) fn(u);
    return;
  }
  clock::time_point first_done = clock::time_point::max();
#pragma omp parallel num_threads(nt)
  {
    nerve::DenormalGuard ftz;
#pragma omp for schedule(dynamic, 1) nowait
    for (int64_t u = 0; u < count; ++u) fn(u);
    const clock::time_point done = clock::now();
#pragma omp critical(nerve_gemm_join)
    first_done = std::min(first_done, done);
  }
  const clock::time_point end = clock::now();
  if (end - first_done > 2 * (first_done - start)) {
    const int64_t backoff = std::clamp<int64_t>(2 * g_backoff.load(std::memory_order_relaxed), 20'000'000, 1'000'000'000);
    g_backoff.store(backoff, std::memory_order_relaxed);
    g_serial_until.store(ns(end) + backoff, std::memory_order_relaxed);
  } else {
    g_backoff.store(0, std::memory_order_relaxed);
  }
}

// One GEMM on nt threads. C is cut into at least 2 * nt units of whole
// micro-tiles (halving the longer side first, which keeps the repacking of A
// across column units and of B across row units smallest), taken dynamically.
template <class T>
void gemm_grid(const Problem<T>& p, int nt) {
  constexpr int MR = Simd<T>::MR, NR = Simd<T>::NV * Simd<T>::W;
  const int64_t mt = (p.M + MR - 1) / MR, ntl = (p.N + NR - 1) / NR;
  int64_t um = mt, un = ntl;  // micro-tiles per unit
  auto units = [&] { return ((mt + um - 1) / um) * ((ntl + un - 1) / un); };
  while (nt > 1 && units() < 2 * nt && (um > 1 || un > 1)) {
    if (un > 1 && (un * NR >= um * MR || um == 1))
      un = (un + 1) / 2;
    else
      um = (um + 1) / 2;
  }
  const int64_t gn = (ntl + un - 1) / un;
  run_units(nt, units(), [&](int64_t u) {
    const int64_t m0 = u / gn * um * MR, n0 = u % gn * un * NR;
    gemm_serial(p.sub(m0, std::min(p.M - m0, um * MR), n0, std::min(p.N - n0, un * NR)));
  });
}

template <class T>
void gemm_batched_isa(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                      int64_t lda, int64_t sa, const T* B, int64_t ldb, int64_t sb, T beta, T* C, int64_t ldc,
                      int64_t sc, const T* bias, int act) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  const Problem<T> p{ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, static_cast<Activation>(act)};
  const int64_t flops = 2 * M * N * std::max<int64_t>(K, 1);
  const int nt = gemm_threads(flops * batch);
  auto item = [&](int64_t b) {
    Problem<T> q = p;
    q.A += b * sa;
    q.B += b * sb;
    q.C += b * sc;
    return q;
  };
  // Whole matrices per thread when that balances; otherwise each matrix is split.
  if (nt > 1 && (batch % nt == 0 || batch >= 2 * nt)) return run_units(nt, batch, [&](int64_t b) { gemm_serial(item(b)); });
  const int nt_one = gemm_threads(flops);
  for (int64_t b = 0; b < batch; ++b) gemm_grid(item(b), nt_one);
}

// C = act(alpha * op(A) @ op(B) + beta * C + bias) with op(B) pre-packed by
// pack_b_whole: the same threading and serial driver, no packing of B.
template <class T>
void gemm_packed_isa(bool ta, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* bp,
                     T beta, T* C, int64_t ldc, const T* bias, int act) {
  if (M <= 0 || N <= 0) return;
  Problem<T> p{ta, false, M, N, K, alpha, A, lda, nullptr, 0, beta, C, ldc, bias, static_cast<Activation>(act)};
  p.bp = bp;
  p.bp_width = packed_width<T>(N);
  gemm_grid(p, gemm_threads(2 * M * N * std::max<int64_t>(K, 1)));
}

// ------------------------------------------------------------ peak FMA rate
// `iters` rounds of 12 independent FMA chains in registers; returns the flops.
template <class T>
double peak_fma(int64_t iters) {
  using S = Simd<T>;
  using V = typename S::V;
  volatile T seed = T(1e-7);
  const V x = S::set1(T(1) - seed), y = S::set1(seed);
  V acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = S::set1(T(i));
  for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = S::fma(acc[i], x, y);
  alignas(64) T out[S::W];
  V sum = acc[0];
  for (int i = 1; i < 12; ++i) sum = S::add(sum, acc[i]);
  S::store(out, sum);
  volatile T sink = out[0];
  (void)sink;
  return 2.0 * 12 * S::W * static_cast<double>(iters);
}

// ------------------------------------------------------------ bf16 GEMM
// Portable path (every ISA without bf16 hardware): the operands are widened
// to float32 (exact) and the float32 GEMM runs on them; a bf16 C goes through
// a float32 copy and is rounded once at the end.
inline void widen(const nerve::bf16* __restrict x, float* __restrict out, int64_t n) {
  const uint16_t* __restrict b = reinterpret_cast<const uint16_t*>(x);
  uint32_t* __restrict o = reinterpret_cast<uint32_t*>(out);
  for (int64_t i = 0; i < n; ++i) o[i] = static_cast<uint32_t>(b[i]) << 16;
}
inline void narrow(const float* __restrict x, nerve::bf16* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i].bits = nerve::bf16_bits_rne(x[i]);
}

struct F32Buf {
  float* p = nullptr;
  explicit F32Buf(int64_t n) : p(static_cast<float*>(std::malloc(std::max<int64_t>(n, 1) * sizeof(float)))) {
    if (!p) throw std::bad_alloc();
  }
  ~F32Buf() { std::free(p); }
  F32Buf(const F32Buf&) = delete;
  F32Buf& operator=(const F32Buf&) = delete;
};

// A (rows x cols, leading dim ld) batch of matrices at stride s -> dense float32.
inline void widen_matrices(int64_t batch, const nerve::bf16* x, int64_t rows, int64_t cols, int64_t ld, int64_t s,
                           float* out) {
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t r = 0; r < rows; ++r) widen(x + b * s + r * ld, out + (b * rows + r) * cols, cols);
}

void bgemm_portable(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                    const nerve::bf16* A, int64_t lda, int64_t sa, const nerve::bf16* B, int64_t ldb, int64_t sb,
                    float beta, void* C, bool c_bf16, int64_t ldc, int64_t sc, const float* bias, int act) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  const int64_t ba = sa ? batch : 1, bb = sb ? batch : 1;
  const int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
  F32Buf a(ba * ar * ac), b(bb * br * bc);
  widen_matrices(ba, A, ar, ac, lda, sa, a.p);
  widen_matrices(bb, B, br, bc, ldb, sb, b.p);
  const int64_t sa32 = sa ? ar * ac : 0, sb32 = sb ? br * bc : 0;
  if (!c_bf16) {
    gemm_batched_isa<float>(batch, ta, tb, M, N, K, alpha, a.p, std::max<int64_t>(ac, 1), sa32, b.p,
                            std::max<int64_t>(bc, 1), sb32, beta, static_cast<float*>(C), ldc, sc, bias, act);
    return;
  }
  nerve::bf16* c = static_cast<nerve::bf16*>(C);
  F32Buf c32(batch * M * N);
  if (beta != 0.0f)
    for (int64_t i = 0; i < batch; ++i)
      for (int64_t r = 0; r < M; ++r) widen(c + i * sc + r * ldc, c32.p + (i * M + r) * N, N);
  gemm_batched_isa<float>(batch, ta, tb, M, N, K, alpha, a.p, std::max<int64_t>(ac, 1), sa32, b.p,
                          std::max<int64_t>(bc, 1), sb32, beta, c32.p, N, M * N, bias, act);
  for (int64_t i = 0; i < batch; ++i)
    for (int64_t r = 0; r < M; ++r) narrow(c32.p + (i * M + r) * N, c + i * sc + r * ldc, N);
}

}  // namespace

namespace {

int64_t packed_b_size(bool float64, int64_t K, int64_t N) {
  return K * (float64 ? packed_width<double>(N) : packed_width<float>(N));
}

double peak_flops(bool float64, int64_t iters) { return float64 ? peak_fma<double>(iters) : peak_fma<float>(iters); }

using Kernels = nerve::cpu::GemmKernels;
constexpr Kernels kKernels{gemm_batched_isa<float>, gemm_batched_isa<double>, packed_b_size,
                           pack_b_whole<float>,     pack_b_whole<double>,     gemm_packed_isa<float>,
                           gemm_packed_isa<double>, peak_flops,              bgemm_portable};

}  // namespace
