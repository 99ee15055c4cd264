// Direct convolution loops for one (image, channel) plane, compiled once per
// ISA (CMakeLists.txt generates one translation unit per ISA that includes
// this file; common/dispatch.h has the pattern), so the compiler vectorizes
// the row loops for that ISA, and the anonymous namespace keeps the copies
// apart at link time. No standard-library
// templates here: an instantiation compiled with AVX-512 flags could otherwise
// be picked by the linker for the baseline path.
//
// Used for depthwise convolution (one input channel per group), where
// im2col + GEMM would be a GEMM with M = channel multiplier and K = kh*kw,
// i.e. all packing overhead. All loops read a zero-padded copy of the input
// plane, so the inner loops have no bounds checks:
//   forward: blocks of 16-32 outputs held in GCC vector registers across all
//     kh*kw taps (one load + one FMA per tap), per output row, or for stride 1
//     over the flattened padded plane (dw_forward_flat);
//   input gradient: for stride 1 conv.cpp runs the forward loop on dy with
//     flipped weights (a gather); otherwise a scatter of row axpys;
//   weight gradient: per tap, vector partial sums over the whole plane (for
//     stride 1 over the flattened plane, dw_backward_weight_flat).
// Measured (1 thread, AVX-512, float32, process CPU time, ms; nerve / PyTorch
// 2.13 oneDNN), 32x64x32x32 3x3 stride 1:
//   clipped ranges on the unpadded plane, tap-major:  fwd 8.6, wgrad 26 / 10.9
//   padded plane, one row axpy per tap:              fwd 9.4 (every tap
//     stores and reloads the output row), wgrad 12
//   register-blocked (below):                        fwd 2.1 / 2.5-3.3,
//     igrad 4.5 (scatter) -> 2.1 (gather) / 3.5+, wgrad 4.3 / 3.9
//   stride 2 forward: lane-by-lane loads 2.5 -> even-lane shuffle 1.3 / 0.8-1.1
//   8x256x14x14: fwd 0.63 / 0.25, igrad 0.6 / 0.34, wgrad 0.9 / 0.25 (oneDNN
//     vectorizes across 16 channels of a blocked layout; rows of 14 waste lanes).
//   flat stride-1 forward (rows run together on the padded pitch, 2 chains),
//   old row loop -> flat, same process, alternating: 8x256x14x14 0.72 -> 0.53
//     (PyTorch 0.29), 8x256x7x7 0.35 -> 0.22 (0.12), 32x96x28x28 3.1 -> 2.7
//     (2.9), 32x64x56x56 8.6 -> 7.6; 32x64x32x32 2.2 -> 2.4 (keeps the row
//     loop). The stride-1 input gradient runs the same loop, same gains.
//   flat stride-1 weight gradient (one chain per tap, dy and its mask loaded
//     once per block for all taps), same comparison: 8x256x14x14 0.97 -> 0.82
//     (PyTorch 0.28), 8x256x7x7 0.69 -> 0.42 (0.13), 32x96x28x28 6.4 -> 5.0
//     (3.6), 32x64x56x56 13.3 -> 10.6 (39); 32x64x32x32 keeps the row loop.
//   What remains on small maps is per-plane overhead (padding and dy copies,
//   calls, scalar stores of the row pieces): oneDNN's channel-blocked loops
//   have none of it.
#pragma once
#include <cstdint>

#include "common/dispatch.h"
#include "cpu/conv.h"

namespace {

using nerve::cpu::Conv2dShape;

// Output positions o in [lo, hi) with input position o * stride + off in [0, in).
inline void valid_range(int64_t off, int64_t stride, int64_t in, int64_t out, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  hi = in - 1 - off < 0 ? 0 : (in - 1 - off) / stride + 1;
  if (hi > out) hi = out;
  if (lo > hi) lo = hi;
}

// The depthwise loops below work on zero-padded planes xp of (H + 2*ph, W + 2*pw)
// (padded by conv.cpp), so every tap's row is a full-length, branch-free loop
// over ow. Stride-1 rows are unit-stride and vectorize; strided rows still do.
inline int64_t padded_w(const Conv2dShape& s) { return s.W + 2 * s.pw; }

// 64-byte GCC vector types: one zmm, two ymm or four xmm, whatever the ISA
// this file is compiled for (no intrinsics, so one source serves all three).
template <class T>
struct Simd;
// even(a, b, out): out = the even-indexed lanes of the concatenation a|b (stride-2
// loads). Vectors pass by reference: by value, 64-byte vectors change the
// calling convention between the baseline and AVX-512 copies (-Wpsabi).
template <>
struct Simd<float> {
  typedef float V __attribute__((vector_size(64)));
  typedef int32_t I;  // lane index type of the mask vectors
  typedef I M __attribute__((vector_size(64)));
  static void even(const V& a, const V& b, V& out) {
    out = __builtin_shuffle(a, b, M{0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30});
  }
};
template <>
struct Simd<double> {
  typedef double V __attribute__((vector_size(64)));
  typedef int64_t I;
  typedef I M __attribute__((vector_size(64)));
  static void even(const V& a, const V& b, V& out) { out = __builtin_shuffle(a, b, M{0, 2, 4, 6, 8, 10, 12, 14}); }
};

// x = xr[0], xr[sw], ..., xr[(L-1)*sw] (L lanes): one load for stride 1, two
// loads and a shuffle for stride 2, lane by lane otherwise.
template <class T>
inline void load_strided(const T* xr, int64_t sw, typename Simd<T>::V& x) {
  constexpr int64_t L = 64 / sizeof(T);
  if (sw == 1) {
    __builtin_memcpy(&x, xr, sizeof(x));
  } else if (sw == 2) {
    typename Simd<T>::V lo, hi;
    __builtin_memcpy(&lo, xr, sizeof(lo));
    __builtin_memcpy(&hi, xr + L, sizeof(hi));
    Simd<T>::even(lo, hi, x);
  } else {
    for (int64_t l = 0; l < L; ++l) x[l] = xr[l * sw];
  }
}

// Outputs per register block of the forward loop: NV 64-byte vectors, i.e. NV
// independent FMA chains that stay in registers across all kh*kw taps (plain
// arrays of scalars were left on the stack by GCC). The last block of a row
// reads up to a block * sw elements past the row's end (into the next row or
// the plane's slack, see conv.cpp) and stores only the valid outputs.
template <class T>
constexpr int64_t kDwBlock = 128 / sizeof(T);

// y (OH, OW) = bias + sum_ij w[i, j] * xp[oh*sh + i*dh, ow*sw + j*dw], NV vectors of outputs at a time.
template <class T, int NV>
void dw_forward_blocked(const Conv2dShape& s, T* __restrict y, const T* __restrict xp, const T* __restrict w, T bias) {
  using V = typename Simd<T>::V;
  constexpr int64_t L = 64 / sizeof(T), B = NV * L;
  const int64_t Wp = padded_w(s);
  for (int64_t oh = 0; oh < s.OH; ++oh) {
    for (int64_t ow0 = 0; ow0 < s.OW; ow0 += B) {
      V acc[NV];
      for (int v = 0; v < NV; ++v) acc[v] = V{} + bias;
      for (int64_t i = 0; i < s.kh; ++i) {
        const T* xrow = xp + (oh * s.sh + i * s.dh) * Wp + ow0 * s.sw;
        for (int64_t j = 0; j < s.kw; ++j) {
          const T wv = w[i * s.kw + j];
          const T* xr = xrow + j * s.dw;
          for (int v = 0; v < NV; ++v) {
            V x;
            load_strided(xr + v * L * s.sw, s.sw, x);
            acc[v] += wv * x;
          }
        }
      }
      T* yr = y + oh * s.OW + ow0;
      if (s.OW - ow0 >= B) {
        __builtin_memcpy(yr, acc, sizeof(acc));
      } else {
        const T* a = reinterpret_cast<const T*>(acc);
        for (int64_t b = 0; b < s.OW - ow0; ++b) yr[b] = a[b];
      }
    }
  }
}

// Stride 1: laid out on the padded plane's row pitch Wp, the output is a 1-D
// convolution of the flattened padded plane, yf[q] = sum_ij w[i, j] *
// xp[q + i*dh*Wp + j*dw], y[oh, ow] = yf[oh*Wp + ow]. Vectors then run across
// row ends, so narrow maps fill whole vectors (14x14 with padding 1: 14 of
// every 16 lanes useful, against 14 of 16 in one single-chain vector per row),
// at the cost of Wp - OW discarded columns per row. Reads run up to
// (kw-1)*dw + NV*L elements past the padded plane (its slack, see conv.cpp).
template <class T, int NV>
void dw_forward_flat(const Conv2dShape& s, T* __restrict y, const T* __restrict xp, const T* __restrict w, T bias) {
  using V = typename Simd<T>::V;
  constexpr int64_t L = 64 / sizeof(T), B = NV * L;
  const int64_t Wp = padded_w(s), n = s.OH * Wp;
  for (int64_t q0 = 0; q0 < n; q0 += B) {
    V acc[NV];
    for (int v = 0; v < NV; ++v) acc[v] = V{} + bias;
    for (int64_t i = 0; i < s.kh; ++i) {
      for (int64_t j = 0; j < s.kw; ++j) {
        const T wv = w[i * s.kw + j];
        const T* xr = xp + q0 + i * s.dh * Wp + j * s.dw;
        for (int v = 0; v < NV; ++v) {
          V x;
          __builtin_memcpy(&x, xr + v * L, sizeof(x));
          acc[v] += wv * x;
        }
      }
    }
    // Store the outputs of [q0, q1) that fall inside rows (ow < OW).
    const T* a = reinterpret_cast<const T*>(acc);
    const int64_t q1 = q0 + B < n ? q0 + B : n;
    for (int64_t oh = q0 / Wp; oh * Wp < q1; ++oh) {
      const int64_t lo = q0 > oh * Wp ? q0 : oh * Wp, hi = q1 < oh * Wp + s.OW ? q1 : oh * Wp + s.OW;
      for (int64_t q = lo; q < hi; ++q) y[oh * s.OW + q - oh * Wp] = a[q - q0];
    }
  }
}

// Stride 1 takes the flat loop unless rows are whole register blocks (OW = 32:
// the row loop wastes nothing there, the flat one 2 of 34 columns; measured
// 2.2 vs 2.4 ms on 32x64x32x32). Otherwise narrow rows (OW <= one vector)
// take one-vector blocks so fewer lanes compute past the row's end.
template <class T>
bool dw_flat(const Conv2dShape& s) {
  return s.sh == 1 && s.sw == 1 && s.OW % kDwBlock<T> != 0;
}

template <class T>
void dw_forward_plane(const Conv2dShape& s, T* y, const T* xp, const T* w, T bias) {
  if (dw_flat<T>(s))
    dw_forward_flat<T, 2>(s, y, xp, w, bias);
  else if (s.OW <= 64 / static_cast<int64_t>(sizeof(T)))
    dw_forward_blocked<T, 1>(s, y, xp, w, bias);
  else
    dw_forward_blocked<T, 2>(s, y, xp, w, bias);
}

// dxp (padded plane) += the transpose of the above applied to dy (OH, OW)
// (accumulates: with a channel multiplier several output planes feed one input plane).
template <class T>
void dw_backward_input_plane(const Conv2dShape& s, T* __restrict dxp, const T* __restrict dy, const T* __restrict w) {
  const int64_t Wp = padded_w(s);
  for (int64_t oh = 0; oh < s.OH; ++oh) {
    const T* __restrict yr = dy + oh * s.OW;
    for (int64_t i = 0; i < s.kh; ++i) {
      T* xrow = dxp + (oh * s.sh + i * s.dh) * Wp;
      for (int64_t j = 0; j < s.kw; ++j) {
        const T wv = w[i * s.kw + j];
        T* __restrict xr = xrow + j * s.dw;
        if (s.sw == 1) {
          for (int64_t ow = 0; ow < s.OW; ++ow) xr[ow] += wv * yr[ow];
        } else {
          for (int64_t ow = 0; ow < s.OW; ++ow) xr[ow * s.sw] += wv * yr[ow];
        }
      }
    }
  }
}

// Row stride of the zero-padded dy copy the weight gradient reads: the padded
// plane's pitch for the flat loop, else whole vector blocks, so its loads
// never leave the copy. The copy holds OH rows and one more vector of zeros.
template <class T>
int64_t dw_dy_stride(const Conv2dShape& s) {
  return dw_flat<T>(s) ? padded_w(s) : (s.OW + kDwBlock<T> - 1) / kDwBlock<T> * kDwBlock<T>;
}

// Flat stride-1 weight gradient (see dw_forward_flat): dw[i, j] += sum_q
// dyf[q] * xp[q + i*dh*Wp + j*dw] over q < OH*Wp, dyf = dy on pitch Wp. Each
// vector of dy and its lane mask (column < OW and q < OH*Wp, so that whatever
// x holds in discarded lanes never enters the sum) are loaded once for up to
// kTaps taps, one accumulator chain per tap.
template <class T>
void dw_backward_weight_flat(const Conv2dShape& s, T* __restrict dw, const T* __restrict xp,
                             const T* __restrict dyf) {
  using V = typename Simd<T>::V;
  using M = typename Simd<T>::M;
  using I = typename Simd<T>::I;
  constexpr int64_t L = 64 / sizeof(T);
  constexpr int kTaps = 9;
  const int64_t Wp = padded_w(s), n = s.OH * Wp, R = s.kh * s.kw;
  M lane{};
  for (int64_t l = 0; l < L; ++l) lane[l] = static_cast<I>(l);
  for (int64_t t0 = 0; t0 < R; t0 += kTaps) {
    const int nt = static_cast<int>(R - t0 < kTaps ? R - t0 : kTaps);
    int64_t off[kTaps] = {};
    for (int t = 0; t < nt; ++t) off[t] = (t0 + t) / s.kw * s.dh * Wp + (t0 + t) % s.kw * s.dw;
    V acc[kTaps] = {};
    M col = lane;  // (q0 + lane) % Wp, kept by subtraction (Wp may be below L)
    for (int64_t l = 0; l < L; ++l) col[l] = static_cast<I>(l % Wp);
    for (int64_t q0 = 0; q0 < n; q0 += L) {
      V y;
      __builtin_memcpy(&y, dyf + q0, sizeof(V));
      const M keep = (col < static_cast<I>(s.OW)) & (lane + static_cast<I>(q0) < static_cast<I>(n));
      for (int t = 0; t < kTaps; ++t) {
        if (t >= nt) break;
        V x;
        __builtin_memcpy(&x, xp + q0 + off[t], sizeof(V));
        acc[t] += (keep ? x : V{}) * y;
      }
      col += static_cast<I>(L);
      for (int64_t r = 0; r <= L / Wp; ++r) col = col >= static_cast<I>(Wp) ? col - static_cast<I>(Wp) : col;
    }
    for (int t = 0; t < nt; ++t) {
      T total = 0;
      for (int64_t l = 0; l < L; ++l) total += acc[t][l];
      dw[t0 + t] += total;
    }
  }
}

// dw (kh*kw) += sum_{oh, ow} dy[oh, ow] * xp[oh*sh + i*dh, ow*sw + j*dw], with
// dy read from a copy of row stride dw_dy_stride (zeros past OW). Per tap,
// 2*NV vector accumulators (even and odd rows) run over the whole plane and
// are summed once at the end; lanes past OW are masked so that whatever x
// holds there (the next row, the slack) never enters the sum.
template <class T, int NV>
void dw_backward_weight_blocked(const Conv2dShape& s, T* __restrict dw, const T* __restrict xp,
                                const T* __restrict dyp) {
  using V = typename Simd<T>::V;
  using M = typename Simd<T>::M;
  constexpr int64_t L = 64 / sizeof(T), B = NV * L;
  const int64_t Wp = padded_w(s), ld = dw_dy_stride<T>(s);
  using I = typename Simd<T>::I;
  M lane{};
  for (int64_t l = 0; l < L; ++l) lane[l] = static_cast<I>(l);
  for (int64_t i = 0; i < s.kh; ++i) {
    for (int64_t j = 0; j < s.kw; ++j) {
      V acc0[NV] = {}, acc1[NV] = {};  // even and odd rows: independent FMA chains
      for (int64_t ow0 = 0; ow0 < s.OW; ow0 += B) {
        const int64_t valid = s.OW - ow0;  // lanes >= valid are masked out (only in the last block)
        auto row = [&](int64_t oh, V* acc) {
          const T* xr = xp + (oh * s.sh + i * s.dh) * Wp + ow0 * s.sw + j * s.dw;
          const T* yr = dyp + oh * ld + ow0;
          for (int v = 0; v < NV; ++v) {
            V x, y;
            load_strided(xr + v * L * s.sw, s.sw, x);
            __builtin_memcpy(&y, yr + v * L, sizeof(V));
            if (valid < B) x = (lane + static_cast<I>(v * L) < static_cast<I>(valid)) ? x : V{};
            acc[v] += x * y;
          }
        };
        int64_t oh = 0;
        for (; oh + 1 < s.OH; oh += 2) {
          row(oh, acc0);
          row(oh + 1, acc1);
        }
        if (oh < s.OH) row(oh, acc0);
      }
      V sum = acc0[0] + acc1[0];
      for (int v = 1; v < NV; ++v) sum += acc0[v] + acc1[v];
      T total = 0;
      for (int64_t l = 0; l < L; ++l) total += sum[l];
      dw[i * s.kw + j] += total;
    }
  }
}

template <class T>
void dw_backward_weight_plane(const Conv2dShape& s, T* dw, const T* xp, const T* dyp) {
  if (dw_flat<T>(s))
    dw_backward_weight_flat(s, dw, xp, dyp);
  else if (s.OW <= 64 / static_cast<int64_t>(sizeof(T)))
    dw_backward_weight_blocked<T, 1>(s, dw, xp, dyp);
  else
    dw_backward_weight_blocked<T, 2>(s, dw, xp, dyp);
}

}  // namespace

namespace {

template <class T>
constexpr nerve::cpu::ConvKernels<T> kKernelsOf{dw_forward_plane<T>, dw_backward_input_plane<T>,
                                                dw_backward_weight_plane<T>};

using Kernels = nerve::Typed<nerve::cpu::ConvKernels>;
constexpr Kernels kKernels{kKernelsOf<float>, kKernelsOf<double>};

}  // namespace
