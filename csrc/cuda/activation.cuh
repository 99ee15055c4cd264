// Activation kernels: one grid-stride elementwise kernel, instantiated per
// element function. GELU follows csrc/cpu/activation_impl.h (see below), so
// both devices agree to rounding.
// Memory bound (one read, one write per element; grad: two reads); no shared
// memory. out may alias the inputs: each element is read before it is written.
#pragma once
#include "cuda/util.cuh"

namespace nerve::cuda::activation {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kTanhCoef = 0.044715;

// GELU as csrc/cpu/activation_impl.h computes it, so both devices agree to
// rounding: in double whatever T (float32 results are then correctly rounded
// but for ~0.5 ulp; the kernels stay memory bound), the erf form through erfc
// so the negative tail never cancels (1 + erf(x) would), the tanh form as
// x * sigmoid(2u). gelu(+inf) = +inf and gelu(-inf) = 0; the derivatives at
// the ends are 1 and 0, multiplied into g so that a NaN gradient stays NaN.
__device__ __forceinline__ double gelu_tail_grad(double v) { return v > 0 ? 1.0 : 0.0; }

__device__ __forceinline__ double tanh_gelu_u(double v) { return kSqrt2OverPi * (v + kTanhCoef * v * v * v); }

template <class T>
struct GeluExact {
  __device__ T operator()(T x) const {
    const double v = x;
    return T(d_isinf(v) ? (v > 0 ? v : 0.0) : 0.5 * v * erfc(-v * kInvSqrt2));
  }
};

template <class T>
struct GeluTanh {
  __device__ T operator()(T x) const {
    const double v = x;
    return T(d_isinf(v) ? (v > 0 ? v : 0.0) : v / (1.0 + exp(-2.0 * tanh_gelu_u(v))));
  }
};

template <class T>
struct GeluExactGrad {
  __device__ T operator()(T g, T x) const {
    const double v = x;
    if (d_isinf(v)) return T(g * gelu_tail_grad(v));  // v * pdf would be inf * 0
    const double cdf = 0.5 * erfc(-v * kInvSqrt2), pdf = kInvSqrt2Pi * exp(-0.5 * v * v);
    return T(g * (cdf + v * pdf));
  }
};

template <class T>
struct GeluTanhGrad {
  __device__ T operator()(T g, T x) const {
    const double v = x;
    // Beyond |v| = 40 (as the CPU kernel) the derivative is 1 or 0 to double precision.
    if (v > 40 || v < -40) return T(g * gelu_tail_grad(v));
    const double s = 1.0 / (1.0 + exp(-2.0 * tanh_gelu_u(v)));
    const double du = kSqrt2OverPi * (1.0 + 3 * kTanhCoef * v * v);
    return T(g * (s + 2.0 * v * s * (1.0 - s) * du));
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
