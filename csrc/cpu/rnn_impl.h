// The fused recurrent cells, compiled once per ISA (CMakeLists.txt generates
// one translation unit per ISA that includes this file; common/dispatch.h has
// the pattern), so the compiler vectorizes the loops over hidden units for
// that ISA; the anonymous namespace keeps the copies apart.
//
// One step touches each gate row once: per batch row, a loop over the H
// hidden units reads the four (lstm) or three (gru) pre-activations of unit j
// (x projection + h projection + bias), applies the activations, updates the
// cell and hidden state and writes what backward needs back into the same
// row. Backward reads that row once and writes the pre-activation gradients.
//
// exp: libm's exp and tanh do not vectorize. fast_exp below is branch-free
// (clamp, Cody-Waite range reduction, Taylor polynomial, exponent bits built
// with integer ops), so GCC vectorizes whole cell loops with it, provided
// (1) each gate block is its own restrict pointer (offsets into one pointer
// kept GCC 12 from vectorizing) and (2) -fno-trapping-math (else the clamp's
// compares count as control flow). Relative error ~1 ulp (degree 7 for
// float, 13 for double). sigmoid and tanh are built on it; tanh(x) =
// 1 - 2 / (1 + exp(2x)) has an absolute (not relative) error of ~1 ulp of 1
// near 0, which is what the gates need.
// Measured, one lstm step, B = 32, H = 256, float32, 1 thread (this AMD EPYC):
// libm 379 us, fast_exp not vectorized 190 us, vectorized AVX2 30 us,
// AVX-512 17 us (gru: 180 / 107 / 19 / 12 us). The step's recurrent GEMM
// (32 x 256 x 1024, 17 MFLOP) needs ~170 us even at 100 GFLOP/s, so the cell is
// now a small part of a step.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common/denormal.h"
#include "common/dispatch.h"
#include "common/parallel.h"
#include "cpu/rnn.h"

namespace {

template <class T>
struct ExpTraits;
template <>
struct ExpTraits<float> {
  using U = uint32_t;
  static constexpr float lo = -87.0f, hi = 88.0f;  // 2^n stays a normal float
  static constexpr float magic = 12582912.0f;      // 1.5 * 2^23: adding it rounds to an integer
  static constexpr float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
  static constexpr int mant = 23;
  static constexpr U bias = 127;
};
template <>
struct ExpTraits<double> {
  using U = uint64_t;
  static constexpr double lo = -708.0, hi = 709.0;
  static constexpr double magic = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  static constexpr int mant = 52;
  static constexpr U bias = 1023;
};

template <class T>
inline T fast_exp(T x) {
  using E = ExpTraits<T>;
  using U = typename E::U;
  x = x < E::lo ? E::lo : x;  // NaN passes both clamps and stays NaN
  x = x > E::hi ? E::hi : x;
  const T kf = x * T(1.4426950408889634) + E::magic;  // round(x / ln2), in the low bits of kf
  const T n = kf - E::magic;
  const T r = (x - n * E::ln2_hi) - n * E::ln2_lo;  // |r| <= ln2 / 2
  // exp(r) by Horner on the Taylor series 1/k!.
  T p;
  if constexpr (sizeof(T) == 4) {
    p = T(1.0 / 5040);
    p = p * r + T(1.0 / 720);
    p = p * r + T(1.0 / 120);
    p = p * r + T(1.0 / 24);
    p = p * r + T(1.0 / 6);
    p = p * r + T(0.5);
  } else {
    p = T(1.0 / 6227020800.0);
    p = p * r + T(1.0 / 479001600.0);
    p = p * r + T(1.0 / 39916800.0);
    p = p * r + T(1.0 / 3628800.0);
    p = p * r + T(1.0 / 362880.0);
    p = p * r + T(1.0 / 40320.0);
    p = p * r + T(1.0 / 5040.0);
    p = p * r + T(1.0 / 720.0);
    p = p * r + T(1.0 / 120.0);
    p = p * r + T(1.0 / 24.0);
    p = p * r + T(1.0 / 6.0);
    p = p * r + T(0.5);
  }
  p = p * r + T(1);
  p = p * r + T(1);
  U kbits, mbits;
  const T magic = E::magic;
  std::memcpy(&kbits, &kf, sizeof kbits);
  std::memcpy(&mbits, &magic, sizeof mbits);
  const U sbits = (kbits - mbits + E::bias) << E::mant;  // 2^n
  T s;
  std::memcpy(&s, &sbits, sizeof s);
  return p * s;
}

template <class T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + fast_exp(-x));
}

template <class T>
inline T tanh_(T x) {
  return T(1) - T(2) / (T(1) + fast_exp(T(2) * x));
}

inline bool active(const int64_t* lengths, int64_t b, int64_t t) {
  return lengths == nullptr || t < lengths[b];
}

// Roughly the flops of one hidden unit of one step (activations included):
// only big batches split the rows across threads.
constexpr int64_t kCellWork = 64;

// The row kernels take each gate block as its own restrict pointer: with
// offsets into one pointer (g[j], g[H + j], ...) GCC 12 does not vectorize.

// lstm: x-projection gates in xi..xo become the activations i, f, g, o; cs gets c_t.
template <class T>
void lstm_row_forward(int64_t H, T* __restrict xi, T* __restrict xf, T* __restrict xg, T* __restrict xo,
                      T* __restrict cs, const T* __restrict hi, const T* __restrict hf, const T* __restrict hg,
                      const T* __restrict ho, const T* __restrict bias, T* __restrict c, T* __restrict h,
                      T* __restrict y) {
  const T *__restrict bi = bias, *__restrict bf = bias + H;
  const T *__restrict bg = bias + 2 * H, *__restrict bo = bias + 3 * H;
  for (int64_t j = 0; j < H; ++j) {
    const T i = sigmoid(xi[j] + hi[j] + bi[j]);
    const T f = sigmoid(xf[j] + hf[j] + bf[j]);
    const T g = tanh_(xg[j] + hg[j] + bg[j]);
    const T o = sigmoid(xo[j] + ho[j] + bo[j]);
    const T cn = f * c[j] + i * g;
    const T hn = o * tanh_(cn);
    xi[j] = i;
    xf[j] = f;
    xg[j] = g;
    xo[j] = o;
    cs[j] = cn;
    c[j] = cn;
    h[j] = hn;
    y[j] = hn;
  }
}

// gru: xr, xz, xn become r, z, n and sn gets W_hn h + b_hn.
template <class T>
void gru_row_forward(int64_t H, T* __restrict xr, T* __restrict xz, T* __restrict xn, T* __restrict sn,
                     const T* __restrict hr, const T* __restrict hz, const T* __restrict hn_raw,
                     const T* __restrict bias, const T* __restrict b_hn, T* __restrict h, T* __restrict y) {
  const T *__restrict br = bias, *__restrict bz = bias + H, *__restrict bn = bias + 2 * H;
  for (int64_t j = 0; j < H; ++j) {
    const T r = sigmoid(xr[j] + hr[j] + br[j]);
    const T z = sigmoid(xz[j] + hz[j] + bz[j]);
    const T hn = hn_raw[j] + b_hn[j];
    const T n = tanh_(xn[j] + bn[j] + r * hn);
    const T hnew = (T(1) - z) * n + z * h[j];
    xr[j] = r;
    xz[j] = z;
    xn[j] = n;
    sn[j] = hn;
    h[j] = hnew;
    y[j] = hnew;
  }
}

// rnn: xy holds the x projection of y_t and receives h_t.
template <class T>
void rnn_row_forward(int64_t H, bool relu, T* __restrict xy, const T* __restrict gh, const T* __restrict bias,
                     T* __restrict h) {
  if (relu) {
    for (int64_t j = 0; j < H; ++j) {
      const T pre = xy[j] + gh[j] + bias[j];
      h[j] = xy[j] = pre > T(0) ? pre : T(0);
    }
  } else {
    for (int64_t j = 0; j < H; ++j) h[j] = xy[j] = tanh_(xy[j] + gh[j] + bias[j]);
  }
}

template <class T>
void step_forward(const nerve::cpu::RnnStepForward<T>& s) {
  using nerve::cpu::RnnMode;
  const int64_t H = s.H, GH = nerve::cpu::rnn_gates(s.mode) * H;
  nerve::parallel_for(s.B, s.B * H * kCellWork, [&](int64_t b0, int64_t b1) {
    nerve::DenormalGuard guard;
    for (int64_t b = b0; b < b1; ++b) {
      T* g = s.gates + b * s.ld;
      T* y = s.y + b * H;
      T* h = s.h + b * H;
      const T* gh = s.gh + b * GH;
      const bool on = active(s.lengths, b, s.t);
      if (!on) std::fill(y, y + H, T(0));
      switch (s.mode) {
        case RnnMode::lstm:
          if (on) {
            lstm_row_forward(H, g, g + H, g + 2 * H, g + 3 * H, g + 4 * H, gh, gh + H, gh + 2 * H, gh + 3 * H,
                             s.bias, s.c + b * H, h, y);
          } else {  // keep the reserve defined: zero gates, the carried cell state
            std::fill(g, g + 4 * H, T(0));
            std::copy(s.c + b * H, s.c + (b + 1) * H, g + 4 * H);
          }
          break;
        case RnnMode::gru:
          if (on)
            gru_row_forward(H, g, g + H, g + 2 * H, g + 3 * H, gh, gh + H, gh + 2 * H, s.bias, s.b_hn, h, y);
          else
            std::fill(g, g + 4 * H, T(0));
          break;
        case RnnMode::rnn_tanh:
        case RnnMode::rnn_relu:  // g is y
          if (on) rnn_row_forward(H, s.mode == RnnMode::rnn_relu, g, gh, s.bias, h);
          break;
      }
    }
  });
}

// lstm backward of one row: dh, dc in (from later steps), dc out = dL/dc_{t-1}, dh out = 0.
template <class T>
void lstm_row_backward(int64_t H, const T* __restrict si, const T* __restrict sf, const T* __restrict sg,
                       const T* __restrict so, const T* __restrict sc, const T* __restrict cp,
                       const T* __restrict dy, T* __restrict dh, T* __restrict dc, T* __restrict di,
                       T* __restrict df, T* __restrict dgg, T* __restrict dout) {
  for (int64_t j = 0; j < H; ++j) {
    const T i = si[j], f = sf[j], g = sg[j], o = so[j];
    const T dht = dy[j] + dh[j];
    const T tc = tanh_(sc[j]);
    const T dct = dc[j] + dht * o * (T(1) - tc * tc);
    di[j] = dct * g * i * (T(1) - i);
    df[j] = dct * cp[j] * f * (T(1) - f);
    dgg[j] = dct * i * (T(1) - g * g);
    dout[j] = dht * tc * o * (T(1) - o);
    dc[j] = dct * f;
    dh[j] = T(0);
  }
}

// gru backward of one row: writes dr, dz, dn_h (= dn * r, for W_hn) and dn_i; dh out = dh_total * z.
template <class T>
void gru_row_backward(int64_t H, const T* __restrict sr, const T* __restrict sz, const T* __restrict sn,
                      const T* __restrict shn, const T* __restrict hp, const T* __restrict dy, T* __restrict dh,
                      T* __restrict dr, T* __restrict dz, T* __restrict dnh, T* __restrict dni) {
  for (int64_t j = 0; j < H; ++j) {
    const T r = sr[j], z = sz[j], n = sn[j];
    const T dht = dy[j] + dh[j];
    const T dn = dht * (T(1) - z) * (T(1) - n * n);
    dr[j] = dn * shn[j] * r * (T(1) - r);
    dz[j] = dht * (hp[j] - n) * z * (T(1) - z);
    dnh[j] = dn * r;
    dni[j] = dn;
    dh[j] = dht * z;
  }
}

template <class T>
void rnn_row_backward(int64_t H, bool relu, const T* __restrict hy, const T* __restrict dy, T* __restrict dh,
                      T* __restrict dg) {
  if (relu) {
    for (int64_t j = 0; j < H; ++j) {
      dg[j] = hy[j] > T(0) ? dy[j] + dh[j] : T(0);
      dh[j] = T(0);
    }
  } else {
    for (int64_t j = 0; j < H; ++j) {
      dg[j] = (dy[j] + dh[j]) * (T(1) - hy[j] * hy[j]);
      dh[j] = T(0);
    }
  }
}

template <class T>
void step_backward(const nerve::cpu::RnnStepBackward<T>& s) {
  using nerve::cpu::RnnMode;
  const int64_t H = s.H;
  nerve::parallel_for(s.B, s.B * H * kCellWork, [&](int64_t b0, int64_t b1) {
    nerve::DenormalGuard guard;
    for (int64_t b = b0; b < b1; ++b) {
      T* dg = s.dg + b * s.ld_dg;
      T* dh = s.dh + b * H;
      const T* dy = s.dy + b * H;
      const T* g = s.gates + b * s.ld;  // (null + 0 for rnn: unused)
      if (!active(s.lengths, b, s.t)) {
        std::fill(dg, dg + s.ld_dg, T(0));
        continue;
      }
      switch (s.mode) {
        case RnnMode::lstm:
          lstm_row_backward(H, g, g + H, g + 2 * H, g + 3 * H, g + 4 * H, s.c_prev + b * s.ld_c_prev, dy, dh,
                            s.dc + b * H, dg, dg + H, dg + 2 * H, dg + 3 * H);
          break;
        case RnnMode::gru:
          gru_row_backward(H, g, g + H, g + 2 * H, g + 3 * H, s.h_prev + b * H, dy, dh, dg, dg + H, dg + 2 * H,
                           dg + 3 * H);
          break;
        case RnnMode::rnn_tanh:
        case RnnMode::rnn_relu:
          rnn_row_backward(H, s.mode == RnnMode::rnn_relu, s.y + b * H, dy, dh, dg);
          break;
      }
    }
  });
}

}  // namespace

namespace {

using Kernels = nerve::Typed<nerve::cpu::RnnKernels>;
constexpr Kernels kKernels{{step_forward<float>, step_backward<float>}, {step_forward<double>, step_backward<double>}};

}  // namespace
