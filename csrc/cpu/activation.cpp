// Elementwise activations: plain loops over contiguous arrays, split across
// threads only when the array is large enough to pay for the wake-up.
// GELU exact: x * Phi(x) with Phi(x) = (1 + erf(x / sqrt 2)) / 2,
// derivative Phi(x) + x * phi(x). Tanh form: 0.5 x (1 + tanh(u)),
// u = sqrt(2/pi) (x + 0.044715 x^3).
#include "cpu/activation.h"

#include <algorithm>
#include <cmath>

#include "common/parallel.h"

namespace nerve::cpu {
namespace {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kTanhCoef = 0.044715;
constexpr int64_t kCostPerElement = 20;  // erf/tanh/exp are ~20 flops

template <class F>
void for_each(int64_t n, F&& f) {
  parallel_for(n, n * kCostPerElement, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) f(i);
  });
}

}  // namespace

// gelu(+inf) = +inf and gelu(-inf) = 0 (the formulas would give -inf * 0 = NaN).
template <class T>
void gelu_forward(T* out, const T* x, int64_t n, GeluMode mode) {
  if (mode == GeluMode::exact) {
    for_each(n, [&](int64_t i) {
      const T v = x[i];
      out[i] = std::isinf(v) ? std::max(v, T(0)) : v * T(0.5) * (T(1) + std::erf(v * T(kInvSqrt2)));
    });
  } else {
    for_each(n, [&](int64_t i) {
      const T v = x[i];
      out[i] = std::isinf(v) ? std::max(v, T(0))
                             : T(0.5) * v * (T(1) + std::tanh(T(kSqrt2OverPi) * (v + T(kTanhCoef) * v * v * v)));
    });
  }
}

template <class T>
void gelu_backward(T* grad_x, const T* grad, const T* x, int64_t n, GeluMode mode) {
  if (mode == GeluMode::exact) {
    for_each(n, [&](int64_t i) {
      const T v = x[i];
      if (std::isinf(v)) {  // v * pdf would be inf * 0; grad * 0 keeps a NaN/inf grad NaN, as PyTorch
        grad_x[i] = grad[i] * (v > 0 ? T(1) : T(0));
        return;
      }
      const T cdf = T(0.5) * (T(1) + std::erf(v * T(kInvSqrt2)));
      const T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * v * v);
      grad_x[i] = grad[i] * (cdf + v * pdf);
    });
  } else {
    for_each(n, [&](int64_t i) {
      const T v = x[i];
      // Beyond |v| = 20, tanh(u) is +-1 exactly (float and double) and the
      // derivative is exactly 1 or 0; the formula would overflow v^3 into inf * 0.
      if (std::abs(v) > T(20)) {  // multiply, not select: a NaN grad stays NaN (PyTorch)
        grad_x[i] = grad[i] * (v > 0 ? T(1) : T(0));
        return;
      }
      const T t = std::tanh(T(kSqrt2OverPi) * (v + T(kTanhCoef) * v * v * v));
      const T du = T(kSqrt2OverPi) * (T(1) + T(3 * kTanhCoef) * v * v);
      grad_x[i] = grad[i] * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * du);
    });
  }
}

template <class T>
void sigmoid_forward(T* out, const T* x, int64_t n) {
  for_each(n, [&](int64_t i) {
    const T v = x[i];
    if (v >= 0) {
      out[i] = T(1) / (T(1) + std::exp(-v));
    } else {
      const T e = std::exp(v);
      out[i] = e / (T(1) + e);
    }
  });
}

template void gelu_forward<float>(float*, const float*, int64_t, GeluMode);
template void gelu_forward<double>(double*, const double*, int64_t, GeluMode);
template void gelu_backward<float>(float*, const float*, const float*, int64_t, GeluMode);
template void gelu_backward<double>(double*, const double*, const double*, int64_t, GeluMode);
template void sigmoid_forward<float>(float*, const float*, int64_t);
template void sigmoid_forward<double>(double*, const double*, int64_t);

}  // namespace nerve::cpu
