// Activation kernels: one grid-stride elementwise kernel, instantiated per
// element function. The functions are csrc/cpu/activation.cpp's, term by term
// (same special cases for infinities, same cut-off at |x| > 20 for the tanh
// form's derivative), so both devices agree to rounding.
// Memory bound (one read, one write per element; grad: two reads); no shared
// memory. out may alias the inputs: each element is read before it is written.
#pragma once
#include "cuda/util.cuh"

namespace nerve::cuda::activation {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kTanhCoef = 0.044715;

// gelu(+inf) = +inf and gelu(-inf) = 0 (the formulas would give -inf * 0 = NaN).
template <class T>
struct GeluExact {
  __device__ T operator()(T v) const {
    return d_isinf(v) ? (v > T(0) ? v : T(0)) : v * T(0.5) * (T(1) + d_erf(v * T(kInvSqrt2)));
  }
};

template <class T>
struct GeluTanh {
  __device__ T operator()(T v) const {
    return d_isinf(v) ? (v > T(0) ? v : T(0))
                      : T(0.5) * v * (T(1) + d_tanh(T(kSqrt2OverPi) * (v + T(kTanhCoef) * v * v * v)));
  }
};

template <class T>
struct GeluExactGrad {
  __device__ T operator()(T g, T v) const {
    if (d_isinf(v)) return v > T(0) ? g : T(0);  // v * pdf would be inf * 0
    const T cdf = T(0.5) * (T(1) + d_erf(v * T(kInvSqrt2)));
    const T pdf = T(kInvSqrt2Pi) * d_exp(T(-0.5) * v * v);
    return g * (cdf + v * pdf);
  }
};

template <class T>
struct GeluTanhGrad {
  __device__ T operator()(T g, T v) const {
    // Beyond |v| = 20, tanh(u) is +-1 exactly: the derivative is 1 or 0 (v^3 would overflow into inf * 0).
    if (v > T(20) || v < T(-20)) return v > T(0) ? g : T(0);
    const T t = d_tanh(T(kSqrt2OverPi) * (v + T(kTanhCoef) * v * v * v));
    const T du = T(kSqrt2OverPi) * (T(1) + T(3 * kTanhCoef) * v * v);
    return g * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * du);
  }
};

template <class T>
struct Sigmoid {
  __device__ T operator()(T v) const {
    if (v >= T(0)) return T(1) / (T(1) + d_exp(-v));
    const T e = d_exp(v);
    return e / (T(1) + e);
  }
};

// out[i] = f(x[i]) for i < n.
template <class T, class F>
__global__ void __launch_bounds__(kElementwiseThreads) unary_kernel(T* out, const T* x, int64_t n, F f) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step) out[i] = f(x[i]);
}

// out[i] = f(a[i], b[i]) for i < n.
template <class T, class F>
__global__ void __launch_bounds__(kElementwiseThreads) binary_kernel(T* out, const T* a, const T* b, int64_t n, F f) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step) out[i] = f(a[i], b[i]);
}

}  // namespace nerve::cuda::activation
