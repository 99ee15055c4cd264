// Fused optimizer steps: one elementwise kernel per parameter per step that
// reads param, grad and state once and writes param and state once (memory
// bound). The constants are computed on the host in T exactly as
// csrc/cpu/optim_impl.h computes them (1 - beta in double, bias corrections
// folded into step_size and inv_sqrt_bc2), and each element's update is that
// file's loop body, term by term, so both devices agree to rounding (nvcc may
// contract a * b + c into an FMA: 1 ulp per step).
// Optional state pointers are null when their option is off; the branches on
// them are uniform across the grid.
#pragma once
#include "cuda/util.cuh"

namespace nerve::cuda::optim {

template <class T>
struct Sgd {
  T lr, wd, mu, keep, sign;
  bool nesterov, first;
};

template <class T>
__global__ void __launch_bounds__(kElementwiseThreads)
    sgd_kernel(T* __restrict__ p, T* __restrict__ buf, const T* __restrict__ grad, int64_t n, Sgd<T> o) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step) {
    if (!buf) {
      p[i] -= o.lr * (o.sign * grad[i] + o.wd * p[i]);
    } else if (o.first) {  // the buffer starts as a copy of the gradient
      const T g = o.sign * grad[i] + o.wd * p[i];
      buf[i] = g;
      p[i] -= o.lr * (o.nesterov ? 1 + o.mu : T(1)) * g;
    } else if (o.nesterov) {
      const T g = o.sign * grad[i] + o.wd * p[i];
      const T m = o.mu * buf[i] + o.keep * g;
      buf[i] = m;
      p[i] -= o.lr * (g + o.mu * m);
    } else {
      const T m = o.mu * buf[i] + o.keep * (o.sign * grad[i] + o.wd * p[i]);
      buf[i] = m;
      p[i] -= o.lr * m;
    }
  }
}

// Adam folds weight decay into the gradient (wd_grad), AdamW shrinks the
// parameter first (shrink = 1 - lr * wd); v_max is null without amsgrad.
template <class T>
struct Adam {
  T b1, b2, c1, c2, eps, sign, step_size, inv_sqrt_bc2, wd_grad, shrink;
};

template <class T>
__global__ void __launch_bounds__(kElementwiseThreads)
    adam_kernel(T* __restrict__ p, T* __restrict__ m, T* __restrict__ v, T* __restrict__ v_max,
                const T* __restrict__ grad, int64_t n, Adam<T> o) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step) {
    const T g = o.sign * grad[i] + o.wd_grad * p[i];
    const T mi = o.b1 * m[i] + o.c1 * g, vi = o.b2 * v[i] + o.c2 * g * g;
    m[i] = mi;
    v[i] = vi;
    T denom_v = vi;
    if (v_max) {
      denom_v = v_max[i] < vi ? vi : v_max[i];  // std::max(v_max, v), as the CPU: v_max when v is NaN
      v_max[i] = denom_v;
    }
    p[i] = p[i] * o.shrink - o.step_size * mi / (d_sqrt(denom_v) * o.inv_sqrt_bc2 + o.eps);
  }
}

template <class T>
struct Rmsprop {
  T lr, a, ca, eps, wd, mu, sign;
};

template <class T>
__global__ void __launch_bounds__(kElementwiseThreads)
    rmsprop_kernel(T* __restrict__ p, T* __restrict__ sq, T* __restrict__ gavg, T* __restrict__ buf,
                   const T* __restrict__ grad, int64_t n, Rmsprop<T> o) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step) {
    const T g = o.sign * grad[i] + o.wd * p[i];
    const T s = o.a * sq[i] + o.ca * g * g;
    sq[i] = s;
    T var = s;
    if (gavg) {
      const T ga = o.a * gavg[i] + o.ca * g;
      gavg[i] = ga;
      var = s - ga * ga;
    }
    T upd = g / (d_sqrt(var) + o.eps);
    if (buf) {
      upd += o.mu * buf[i];
      buf[i] = upd;
    }
    p[i] -= o.lr * upd;
  }
}

template <class T>
struct Adagrad {
  T clr, eps, wd, sign;
};

template <class T>
__global__ void __launch_bounds__(kElementwiseThreads)
    adagrad_kernel(T* __restrict__ p, T* __restrict__ sum, const T* __restrict__ grad, int64_t n, Adagrad<T> o) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step) {
    const T g = o.sign * grad[i] + o.wd * p[i];
    const T s = sum[i] + g * g;
    sum[i] = s;
    p[i] -= o.clr * g / (d_sqrt(s) + o.eps);
  }
}

template <class T>
struct Adadelta {
  T lr, rho, crho, eps, wd, sign;
};

template <class T>
__global__ void __launch_bounds__(kElementwiseThreads)
    adadelta_kernel(T* __restrict__ p, T* __restrict__ sq, T* __restrict__ acc, const T* __restrict__ grad, int64_t n,
                    Adadelta<T> o) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step) {
    const T g = o.sign * grad[i] + o.wd * p[i];
    const T s = o.rho * sq[i] + o.crho * g * g;
    const T dx = d_sqrt(acc[i] + o.eps) / d_sqrt(s + o.eps) * g;
    sq[i] = s;
    acc[i] = o.rho * acc[i] + o.crho * dx * dx;
    p[i] -= o.lr * dx;
  }
}

}  // namespace nerve::cuda::optim
