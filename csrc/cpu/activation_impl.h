// The activation loops, compiled once per ISA (CMakeLists.txt generates one
// translation unit per ISA that includes this file; common/dispatch.h has the
// pattern); the anonymous namespace keeps the copies apart at link time. See
// activation.cpp for the math and the measured accuracy and speed.
//
// float32 GELU (both forms) runs on whole vectors of doubles (GCC vector
// extensions, nerve::kVecBytes wide: 2 lanes generic/SSE2, 4 AVX2, 8 AVX-512):
// each float is widened, the result computed to ~1e-9 relative and rounded
// once, so it is within ~0.5 ulp of the float64 formula. The family is built
// with -ffp-contract=off (no FMA contraction), so every ISA gives bitwise the
// same results. float64 and sigmoid use libm per element.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/dispatch.h"
#include "common/parallel.h"
#include "cpu/activation.h"

namespace {

using nerve::GeluMode;

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kTanhCoef = 0.044715;
constexpr int64_t kCostPerElement = 20;  // per element: a ~40-flop double polynomial on 2-8 lanes, or libm

typedef double vd __attribute__((vector_size(nerve::kVecBytes)));
typedef int64_t vl __attribute__((vector_size(nerve::kVecBytes)));
typedef float vh __attribute__((vector_size(nerve::kVecBytes / 2)));
constexpr int64_t kLanes = nerve::kVecBytes / sizeof(double);

inline vd splat(double v) { return vd{} + v; }

// exp(x) for x <= 0 (also -inf: 0, NaN: NaN): x = n ln2 + r, |r| <= ln2/2,
// Taylor polynomial of degree 9 (truncation < 1e-11 relative), 2^n built in
// the exponent bits (n from the 1.5 * 2^52 rounding trick, so no float->int
// conversion instruction is needed). Gives 0 below -708, where 2^n would be
// denormal; the callers only need e^x down to ~1e-45 (float's range).
inline vd exp_neg(vd x) {
  const vd lim = splat(-708.0);
  const vd xc = x < lim ? lim : x;  // NaN compares false and stays NaN
  const double kMagic = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer in the low bits
  const vd nm = xc * 1.4426950408889634074 + kMagic;
  const vd n = nm - kMagic;
  vd r = xc - n * 6.93147180369123816490e-01;  // ln2 hi (32 bits: n * hi is exact)
  r = r - n * 1.90821492927058770002e-10;      // ln2 lo
  // Estrin's scheme (independent pairs, then powers of r): half the latency of Horner's.
  const vd r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  const vd p01 = 1.0 + r, p23 = 0.5 + r * (1.0 / 6), p45 = (1.0 / 24) + r * (1.0 / 120);
  const vd p67 = (1.0 / 720) + r * (1.0 / 5040), p89 = (1.0 / 40320) + r * (1.0 / 362880);
  const vd p = ((p01 + p23 * r2) + (p45 + p67 * r2) * r4) + p89 * r8;
  const vl scale = ((vl)nm + 1023) << 52;  // the low bits of nm hold n (two's complement)
  const vd e = p * (vd)scale;
  return x < lim ? vd{} : e;
}

// Phi(x) (the normal CDF) and e = exp(-x^2/2), for float inputs widened to
// double (x^2 is then exact, so e has no error from rounding x^2). |x| < 0.75:
// Phi = 1/2 + x P(x^2) (degree 5, relative error 2.5e-11). Else, with a = |x|,
// Phi(-a) = e * t Q(t), t = 1 / (1 + a/2) (degree 12, relative error 1.5e-10
// over [0.75, 40]), and Phi(a) = 1 - Phi(-a): the negative tail is computed
// directly, never as 1 - something, so it keeps its relative accuracy down
// to float's smallest values. Coefficients: weighted least-squares fits
// iterated towards minimax relative error against scipy's erf/erfcx (float64).
inline vd normal_cdf(vd x, vd& e) {
  const vd a = x < 0 ? -x : x;
  const vd x2 = x * x;
  const vd x4 = x2 * x2, x8 = x4 * x4;  // Estrin's scheme, as in exp_neg
  const vd pc = ((0.39894228039153434 + x2 * -0.066490378820991083) +
                 (0.0099735314438079044 + x2 * -0.0011871353519093031) * x4) +
                (0.00011477274263532104 + x2 * -8.3842086538319609e-06) * x8;
  const vd central = 0.5 + x * pc;
  e = exp_neg(x2 * -0.5);
  const vd t = 1.0 / (1.0 + a * 0.5);
  const vd t2 = t * t, t4 = t2 * t2, t8 = t4 * t4;
  const vd q0 = (0.19947113149632753 + t * 0.19947167464803015) + (0.14959048571510908 + t * 0.050018990461472373) * t2;
  const vd q1 = (-0.063100468082479225 + t * -0.11382913164221752) + (0.014247058529677691 + t * -0.19321768897722921) * t2;
  const vd q2 = (1.4056022261272985 + t * -2.7335619457265388) + (2.6107815362593101 + t * -1.294441154232512) * t2;
  const vd q = (q0 + q1 * t4) + (q2 + t4 * 0.26908814800871861) * t8;
  const vd lower = e * (t * q);  // Phi(-a); 0 at a = inf (e = 0, t = 0), NaN at NaN
  const vd tail = x < 0 ? lower : 1.0 - lower;
  return a < 0.75 ? central : tail;
}

// x clamped to [lo, hi], NaN kept.
inline vd clamp(vd x, double lo, double hi) {
  x = x < lo ? splat(lo) : x;
  return x > hi ? splat(hi) : x;
}

// Beyond |x| = 40 both forms are exactly x or 0 (Phi and sigmoid(2u) round
// to 1 or 0), with derivative 1 or 0. Clamping x there avoids inf * 0 (at
// +-inf and where x^3 overflows) without a branch; the forward multiplies the
// unclamped x (bounded below only) so gelu(x) = x for large x and gelu(-inf) = -0.
inline vd gelu_vec(vd x, GeluMode mode) {
  const vd xl = x < -40.0 ? splat(-40.0) : x;
  if (mode == GeluMode::exact) {
    vd e;
    return xl * normal_cdf(x, e);
  }
  const vd xc = clamp(x, -40.0, 40.0);
  const vd v = (xc + xc * xc * xc * kTanhCoef) * (2 * kSqrt2OverPi);  // 0.5 (1 + tanh(v / 2)) = sigmoid(v)
  const vd ev = exp_neg(v < 0 ? v : -v);
  const vd r = 1.0 / (1.0 + ev);
  return xl * (v < 0 ? ev * r : r);
}

inline vd gelu_grad_vec(vd x, GeluMode mode) {
  const vd xc = clamp(x, -40.0, 40.0);
  if (mode == GeluMode::exact) {
    vd e;
    const vd cdf = normal_cdf(xc, e);
    return cdf + xc * (e * kInvSqrt2Pi);
  }
  const vd v = (xc + xc * xc * xc * kTanhCoef) * (2 * kSqrt2OverPi);
  const vd ev = exp_neg(v < 0 ? v : -v);
  const vd r = 1.0 / (1.0 + ev);
  const vd s = v < 0 ? ev * r : r;                              // sigmoid(v)
  const vd dv = (1.0 + xc * xc * (3 * kTanhCoef)) * (2 * kSqrt2OverPi);  // dv/dx
  return s + xc * (ev * r * r) * dv;                            // sigmoid' = e / (1 + e)^2, e = exp(-|v|)
}

// kLanes floats widened to doubles, and back. The _n forms take the last n < kLanes (padded with 0).
inline vd load_f(const float* p) {
  vh h;
  std::memcpy(&h, p, sizeof h);  // constant size: one unaligned vector load
  return __builtin_convertvector(h, vd);
}

inline void store_f(float* p, vd v) {
  const vh h = __builtin_convertvector(v, vh);
  std::memcpy(p, &h, sizeof h);
}

inline vd load_f(const float* p, int64_t n) {
  float buf[kLanes] = {};
  std::memcpy(buf, p, n * sizeof(float));
  return load_f(buf);
}

inline void store_f(float* p, vd v, int64_t n) {
  float buf[kLanes];
  store_f(buf, v);
  std::memcpy(p, buf, n * sizeof(float));
}

template <class F>
void for_each_block(int64_t n, F&& f) {
  nerve::parallel_for(n, n * kCostPerElement, [&](int64_t b, int64_t e) { f(b, e); });
}

// ------------------------------------------------------------- float32
void gelu_forward_f32(float* out, const float* x, int64_t n, GeluMode mode) {
  for_each_block(n, [&](int64_t b, int64_t e) {
    int64_t i = b;
    for (; i + kLanes <= e; i += kLanes) store_f(out + i, gelu_vec(load_f(x + i), mode));
    if (i < e) store_f(out + i, gelu_vec(load_f(x + i, e - i), mode), e - i);
  });
}

void gelu_backward_f32(float* grad_x, const float* grad, const float* x, int64_t n, GeluMode mode) {
  for_each_block(n, [&](int64_t b, int64_t e) {
    // grad * gelu'(x), multiplied (not selected) so a NaN or inf grad gives NaN where gelu' = 0
    int64_t i = b;
    for (; i + kLanes <= e; i += kLanes) store_f(grad_x + i, load_f(grad + i) * gelu_grad_vec(load_f(x + i), mode));
    if (i < e) {
      const int64_t m = e - i;
      store_f(grad_x + i, load_f(grad + i, m) * gelu_grad_vec(load_f(x + i, m), mode), m);
    }
  });
}

// ------------------------------------------------------------- float64 (libm)
// gelu(+inf) = +inf and gelu(-inf) = 0 (the formulas would give -inf * 0 = NaN).
void gelu_forward_f64(double* out, const double* x, int64_t n, GeluMode mode) {
  for_each_block(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const double v = x[i];
      if (std::isinf(v)) out[i] = std::max(v, 0.0);
      else if (mode == GeluMode::exact) out[i] = v * 0.5 * std::erfc(-v * kInvSqrt2);  // erfc: no 1 + erf cancellation
      else out[i] = v / (1 + std::exp(-2 * kSqrt2OverPi * (v + kTanhCoef * v * v * v)));  // x * sigmoid(2u): no cancellation
    }
  });
}

void gelu_backward_f64(double* grad_x, const double* grad, const double* x, int64_t n, GeluMode mode) {
  for_each_block(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const double v = x[i];
      double d;
      // Beyond |v| = 40 (and at +-inf) the derivative is exactly 1 or 0 (the
      // formulas would give inf * 0); multiplied, not selected, so a NaN grad stays NaN.
      if (std::abs(v) > 40) {
        d = v > 0 ? 1.0 : 0.0;
      } else if (mode == GeluMode::exact) {
        d = 0.5 * std::erfc(-v * kInvSqrt2) + v * kInvSqrt2Pi * std::exp(-0.5 * v * v);
      } else {
        const double s = 1 / (1 + std::exp(-2 * kSqrt2OverPi * (v + kTanhCoef * v * v * v)));
        d = s + 2 * v * s * (1 - s) * kSqrt2OverPi * (1 + 3 * kTanhCoef * v * v);
      }
      grad_x[i] = grad[i] * d;
    }
  });
}

template <class T>
void sigmoid(T* out, const T* x, int64_t n) {
  for_each_block(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T v = x[i];
      if (v >= 0) {
        out[i] = T(1) / (T(1) + std::exp(-v));
      } else {
        const T ev = std::exp(v);
        out[i] = ev / (T(1) + ev);
      }
    }
  });
}

using Kernels = nerve::Typed<nerve::cpu::ActivationKernels>;
constexpr Kernels kKernels{{gelu_forward_f32, gelu_backward_f32, sigmoid<float>},
                           {gelu_forward_f64, gelu_backward_f64, sigmoid<double>}};

}  // namespace
