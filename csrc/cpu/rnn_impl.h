// The fused recurrent cells, compiled once per ISA: rnn.cpp (baseline flags),
// rnn_avx2.cpp and rnn_avx512.cpp include this and expand
// NERVE_RNN_DEFINE_ISA in their own namespace, so the compiler vectorizes the
// loops over hidden units for that ISA and the copies never collide.
//
// One step touches each gate row once: per batch row, a loop over the H
// hidden units reads the four (lstm) or three (gru) pre-activations of unit j
// (x projection + h projection + bias), applies the activations, updates the
// cell and hidden state and writes what backward needs back into the same
// row. Backward reads that row once and writes the pre-activation gradients.
//
// exp: libm's exp does not vectorize, and the activations were ~40% of an
// lstm step at B=32, H=256 with it. fast_exp below is branch-free (clamp,
// Cody-Waite range reduction, Taylor polynomial, exponent bits built with
// integer ops), so GCC vectorizes the whole cell loop with it; its relative
// error is ~1 ulp (degree 7 for float, 13 for double). sigmoid and tanh are
// built on it; tanh(x) = 1 - 2 / (1 + exp(2x)) has an absolute (not
// relative) error of ~1 ulp of 1 near 0, which is what the gates need.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common/denormal.h"
#include "common/parallel.h"
#include "cpu/rnn_isa.h"

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

template <class T>
inline bool active(const int64_t* lengths, int64_t b, int64_t t) {
  return lengths == nullptr || t < lengths[b];
}

// Roughly the flops of one hidden unit of one step (activations included):
// only big batches split the rows across threads.
constexpr int64_t kCellWork = 64;

template <class T>
void step_forward(const nerve::cpu::RnnStepForward<T>& s) {
  using nerve::cpu::RnnMode;
  const int64_t H = s.H;
  nerve::parallel_for(s.B, s.B * H * kCellWork, [&](int64_t b0, int64_t b1) {
    nerve::DenormalGuard guard;
    for (int64_t b = b0; b < b1; ++b) {
      T* __restrict g = s.gates + b * s.ld;
      T* __restrict y = s.y + b * H;
      T* __restrict h = s.h + b * H;
      if (!active<T>(s.lengths, b, s.t)) {
        std::fill(y, y + H, T(0));
        if (s.mode == RnnMode::lstm) {  // keep the reserve defined: zero gates, carried cell state
          std::fill(g, g + 4 * H, T(0));
          std::copy(s.c + b * H, s.c + (b + 1) * H, g + 4 * H);
        } else if (s.mode == RnnMode::gru) {
          std::fill(g, g + 4 * H, T(0));
        }
        continue;
      }
      const T* __restrict gh = s.gh + b * nerve::cpu::rnn_gates(s.mode) * H;
      const T* __restrict bs = s.bias;
      switch (s.mode) {
        case RnnMode::lstm: {
          T* __restrict c = s.c + b * H;
          for (int64_t j = 0; j < H; ++j) {
            const T i = sigmoid(g[j] + gh[j] + bs[j]);
            const T f = sigmoid(g[H + j] + gh[H + j] + bs[H + j]);
            const T gg = tanh_(g[2 * H + j] + gh[2 * H + j] + bs[2 * H + j]);
            const T o = sigmoid(g[3 * H + j] + gh[3 * H + j] + bs[3 * H + j]);
            const T cn = f * c[j] + i * gg;
            const T hn = o * tanh_(cn);
            g[j] = i;
            g[H + j] = f;
            g[2 * H + j] = gg;
            g[3 * H + j] = o;
            g[4 * H + j] = cn;
            c[j] = cn;
            h[j] = hn;
            y[j] = hn;
          }
          break;
        }
        case RnnMode::gru: {
          const T* __restrict bhn = s.b_hn;
          for (int64_t j = 0; j < H; ++j) {
            const T r = sigmoid(g[j] + gh[j] + bs[j]);
            const T z = sigmoid(g[H + j] + gh[H + j] + bs[H + j]);
            const T hn = gh[2 * H + j] + bhn[j];
            const T n = tanh_(g[2 * H + j] + bs[2 * H + j] + r * hn);
            const T hnew = (T(1) - z) * n + z * h[j];
            g[j] = r;
            g[H + j] = z;
            g[2 * H + j] = n;
            g[3 * H + j] = hn;
            h[j] = hnew;
            y[j] = hnew;
          }
          break;
        }
        case RnnMode::rnn_tanh:  // g is y: the x projection in, h_t out
          for (int64_t j = 0; j < H; ++j) {
            const T hnew = tanh_(g[j] + gh[j] + bs[j]);
            h[j] = hnew;
            g[j] = hnew;
          }
          break;
        case RnnMode::rnn_relu:
          for (int64_t j = 0; j < H; ++j) {
            const T pre = g[j] + gh[j] + bs[j];
            const T hnew = pre > T(0) ? pre : T(0);
            h[j] = hnew;
            g[j] = hnew;
          }
          break;
      }
    }
  });
}

template <class T>
void step_backward(const nerve::cpu::RnnStepBackward<T>& s) {
  using nerve::cpu::RnnMode;
  const int64_t H = s.H;
  nerve::parallel_for(s.B, s.B * H * kCellWork, [&](int64_t b0, int64_t b1) {
    nerve::DenormalGuard guard;
    for (int64_t b = b0; b < b1; ++b) {
      T* __restrict dg = s.dg + b * s.ld_dg;
      T* __restrict dh = s.dh + b * H;
      if (!active<T>(s.lengths, b, s.t)) {
        std::fill(dg, dg + s.ld_dg, T(0));
        continue;
      }
      const T* __restrict dy = s.dy + b * H;
      switch (s.mode) {
        case RnnMode::lstm: {
          const T* __restrict g = s.gates + b * s.ld;
          const T* __restrict cp = s.c_prev + b * s.ld_c_prev;
          T* __restrict dc = s.dc + b * H;
          for (int64_t j = 0; j < H; ++j) {
            const T i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j], c = g[4 * H + j];
            const T dht = dy[j] + dh[j];
            const T tc = tanh_(c);
            const T dct = dc[j] + dht * o * (T(1) - tc * tc);
            dg[j] = dct * gg * i * (T(1) - i);
            dg[H + j] = dct * cp[j] * f * (T(1) - f);
            dg[2 * H + j] = dct * i * (T(1) - gg * gg);
            dg[3 * H + j] = dht * tc * o * (T(1) - o);
            dc[j] = dct * f;
            dh[j] = T(0);
          }
          break;
        }
        case RnnMode::gru: {
          const T* __restrict g = s.gates + b * s.ld;
          const T* __restrict hp = s.h_prev + b * H;
          for (int64_t j = 0; j < H; ++j) {
            const T r = g[j], z = g[H + j], n = g[2 * H + j], hn = g[3 * H + j];
            const T dht = dy[j] + dh[j];
            const T dn = dht * (T(1) - z) * (T(1) - n * n);
            dg[j] = dn * hn * r * (T(1) - r);
            dg[H + j] = dht * (hp[j] - n) * z * (T(1) - z);
            dg[2 * H + j] = dn * r;  // d(W_hn h + b_hn)
            dg[3 * H + j] = dn;      // d(W_in x + b_in)
            dh[j] = dht * z;
          }
          break;
        }
        case RnnMode::rnn_tanh: {
          const T* __restrict hy = s.y + b * H;
          for (int64_t j = 0; j < H; ++j) {
            dg[j] = (dy[j] + dh[j]) * (T(1) - hy[j] * hy[j]);
            dh[j] = T(0);
          }
          break;
        }
        case RnnMode::rnn_relu: {
          const T* __restrict hy = s.y + b * H;
          for (int64_t j = 0; j < H; ++j) {
            dg[j] = hy[j] > T(0) ? dy[j] + dh[j] : T(0);
            dh[j] = T(0);
          }
          break;
        }
      }
    }
  });
}

}  // namespace

#define NERVE_RNN_DEFINE_ISA(ns)                                                                                   \
  namespace nerve::cpu::ns {                                                                                       \
  void rnn_step_forward(const RnnStepForward<float>& s) { step_forward(s); }                                       \
  void rnn_step_forward(const RnnStepForward<double>& s) { step_forward(s); }                                      \
  void rnn_step_backward(const RnnStepBackward<float>& s) { step_backward(s); }                                    \
  void rnn_step_backward(const RnnStepBackward<double>& s) { step_backward(s); }                                   \
  }
