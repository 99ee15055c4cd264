// The fused cross-entropy row loops, compiled once per ISA (CMakeLists.txt
// generates one translation unit per ISA that includes this file;
// common/dispatch.h has the pattern), so the vector and `omp simd` loops
// below become SSE2, AVX2 or AVX-512 code; the anonymous namespace keeps the
// copies apart at link time. See loss.cpp for the math.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "common/denormal.h"
#include "common/dispatch.h"
#include "common/parallel.h"
#include "cpu/loss.h"

namespace {

constexpr int64_t kCostPerElement = 8;  // per logit and pass: a polynomial exp and a few flops
constexpr int64_t kBlock = 1024;        // float partial sums are flushed to double every kBlock logits

// exp for float on whole vectors (GCC vector extensions, nerve::kVecBytes
// wide: 16 generic/SSE2, 32 AVX2, 64 AVX-512): Cephes' polynomial on
// r = x - n ln2, |r| <= ln2 / 2, times 2^n built in the exponent bits; max
// relative error about 2 ulp. Below -87.3 (where 2^n would be denormal) it
// gives 0, and NaN stays NaN. A scalar exp_poly written for `omp simd` was
// vectorized by GCC 12 only for AVX-512 (masks); with AVX2 and SSE2 it stayed
// scalar, 15-25x slower, hence explicit vectors. double uses libm's exp.
typedef float vfloat __attribute__((vector_size(nerve::kVecBytes)));
typedef int32_t vint __attribute__((vector_size(nerve::kVecBytes)));
constexpr int64_t kLanes = nerve::kVecBytes / sizeof(float);

inline vfloat exp_poly(vfloat x) {
  const vfloat lo = vfloat{} - 87.3365447f, hi = vfloat{} + 88.3762626f;
  vfloat xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  const vfloat n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  vfloat r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  vfloat p = vfloat{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const vint bits = (__builtin_convertvector(n, vint) + 127) << 23;
  const vint keep = (x >= lo) | (x != x);  // all ones where the result stands, zeros where it underflows
  return (vfloat)((vint)(p * (vfloat)bits) & keep);
}

inline vfloat load(const float* x) {
  vfloat v;
  std::memcpy(&v, x, sizeof v);
  return v;
}

// The last n < kLanes elements, padded with -inf (whose exp is 0).
inline vfloat load_tail(const float* x, int64_t n) {
  vfloat v = vfloat{} - std::numeric_limits<float>::infinity();
  std::memcpy(&v, x, n * sizeof(float));
  return v;
}

template <class T>
T row_max(const T* x, int64_t C) {
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t c = 0; c < C; ++c) m = x[c] > m ? x[c] : m;
  return m;
}

// sum_c exp(x_c - shift), accumulated in double.
double row_sum_exp(const double* x, int64_t C, double shift) {
  double s = 0;
  for (int64_t c = 0; c < C; ++c) s += std::exp(x[c] - shift);
  return s;
}

// The same for float: one vector of float partial sums per block of kBlock
// logits, flushed to double (a 32000-class row stays within ~1e-7 of float64).
double row_sum_exp(const float* x, int64_t C, float shift) {
  double s = 0;
  int64_t c = 0;
  while (c < C) {
    vfloat part = vfloat{};
    const int64_t block_end = std::min(C, c + kBlock);
    for (; c + kLanes <= block_end; c += kLanes) part += exp_poly(load(x + c) - shift);
    if (block_end == C && c < C) {
      part += exp_poly(load_tail(x + c, C - c) - shift);
      c = C;
    }
    for (int64_t l = 0; l < kLanes; ++l) s += part[l];
  }
  return s;
}

// sum_c w_c (shift - x_c), every term >= 0 when shift is the row max.
template <class T>
double row_weighted_gap(const T* x, const T* weight, int64_t C, T shift) {
  double d = 0;
  if (weight) {
#pragma omp simd reduction(+ : d)
    for (int64_t c = 0; c < C; ++c) d += double(weight[c]) * double(shift - x[c]);
  } else {
#pragma omp simd reduction(+ : d)
    for (int64_t c = 0; c < C; ++c) d += double(shift - x[c]);
  }
  return d;
}

// gx_c = a exp(x_c - hi - lo) - b w_c (w = 1 when weight is null).
void row_grad(double* gx, const double* x, const double* weight, int64_t C, double a, double b, double hi, double lo) {
  for (int64_t c = 0; c < C; ++c) gx[c] = a * std::exp((x[c] - hi) - lo) - b * (weight ? weight[c] : 1.0);
}

void row_grad(float* gx, const float* x, const float* weight, int64_t C, float a, float b, float hi, float lo) {
  int64_t c = 0;
  for (; c + kLanes <= C; c += kLanes) {
    vfloat g = a * exp_poly((load(x + c) - hi) - lo) - b * (weight ? load(weight + c) : vfloat{} + 1.0f);
    std::memcpy(gx + c, &g, sizeof g);
  }
  if (c < C) {
    vfloat w = vfloat{} + 1.0f;
    if (weight) std::memcpy(&w, weight + c, (C - c) * sizeof(float));
    vfloat g = a * exp_poly((load_tail(x + c, C - c) - hi) - lo) - b * w;
    std::memcpy(gx + c, &g, (C - c) * sizeof(float));
  }
}

template <class T>
double weight_sum(const T* weight, int64_t C) {
  if (!weight) return double(C);
  double W = 0;
  for (int64_t c = 0; c < C; ++c) W += weight[c];
  return W;
}

template <class T>
void forward(T* loss, double* lse, const T* logits, const int64_t* target, const T* weight, int64_t N, int64_t C,
             int64_t ignore_index, double eps) {
  const double W = weight_sum(weight, C);
  nerve::parallel_for(N, N * C * kCostPerElement, [&](int64_t begin, int64_t end) {
    nerve::DenormalGuard guard;
    for (int64_t i = begin; i < end; ++i) {
      const T* x = logits + i * C;
      const T m = row_max(x, C);
      // A row without a finite max (all -inf, or +inf inside) gets shift 0 and log_s = m, so lse = m and the
      // loss is inf or nan, never garbage (exp_poly would clamp an exp(1e4) to a finite value).
      const T shift = std::isfinite(m) ? m : T(0);
      const double log_s = std::isfinite(m) ? std::log(row_sum_exp(x, C, shift)) : double(m);
      const double row_lse = double(shift) + log_s;
      lse[i] = row_lse;
      const int64_t t = target[i];
      if (t == ignore_index) {
        loss[i] = T(0);
        continue;
      }
      const double wt = weight ? double(weight[t]) : 1.0;
      const double nll = (double(shift) - double(x[t])) + log_s;
      double value = (1 - eps) * wt * nll;
      if (eps != 0) value += eps / double(C) * (W * log_s + row_weighted_gap(x, weight, C, shift));
      loss[i] = static_cast<T>(value);
    }
  });
}

template <class T>
void backward(T* grad_logits, const T* grad_loss, const T* logits, const double* lse, const int64_t* target,
              const T* weight, int64_t N, int64_t C, int64_t ignore_index, double eps) {
  const double W = weight_sum(weight, C);
  nerve::parallel_for(N, N * C * kCostPerElement, [&](int64_t begin, int64_t end) {
    nerve::DenormalGuard guard;
    for (int64_t i = begin; i < end; ++i) {
      T* gx = grad_logits + i * C;
      const int64_t t = target[i];
      if (t == ignore_index) {
        std::fill(gx, gx + C, T(0));
        continue;
      }
      const T* x = logits + i * C;
      const double g = grad_loss[i], row_lse = lse[i];
      const double wt = weight ? double(weight[t]) : 1.0;
      // d loss / d x_c = a p_c - b w_c, minus (1 - eps) w_t g at c = t.
      const T a = static_cast<T>(g * ((1 - eps) * wt + eps * W / double(C)));
      const T b = static_cast<T>(g * eps / double(C));
      // lse as hi + lo in T: x - hi is exact near the max, so p keeps T's precision even for logits of 1e4.
      const T hi = static_cast<T>(row_lse), lo = static_cast<T>(row_lse - double(hi));
      row_grad(gx, x, weight, C, a, b, hi, lo);
      // The target column again, in double: p_t is near 1 for a confident model.
      gx[t] = static_cast<T>(double(a) * std::exp(double(x[t]) - row_lse) - double(b) * wt - g * (1 - eps) * wt);
    }
  });
}

}  // namespace

namespace {

using Kernels = nerve::Typed<nerve::cpu::LossKernels>;
constexpr Kernels kKernels{{forward<float>, backward<float>}, {forward<double>, backward<double>}};

}  // namespace
