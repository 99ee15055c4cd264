// Bodies of the optimizer loops, compiled once per ISA: the including file
// defines NERVE_OPTIM_NS (generic, avx2 or avx512) and gets its own copy with
// that ISA's flags. Each loop reads param, grad and state once and writes
// param and state once (memory bound: ~3-6 streams of n elements), so the
// option flags are tested outside the loops to leave plain vectorizable
// bodies; sqrt and division vectorize with -fno-math-errno.
#include <algorithm>
#include <cmath>

#include "common/denormal.h"
#include "common/parallel.h"
#include "cpu/optim_isa.h"

#ifndef NERVE_OPTIM_NS
#error "define NERVE_OPTIM_NS before including optim_impl.h"
#endif

namespace nerve::cpu::NERVE_OPTIM_NS {
namespace {

// A parameter update touches ~5 arrays per element; split across threads only
// for large parameters (see parallel.h).
constexpr int64_t kCostPerElement = 4;

template <class F>
void for_chunks(int64_t n, F&& f) {
  DenormalGuard guard;
  parallel_for(n, n * kCostPerElement, [&](int64_t b, int64_t e) {
    DenormalGuard thread_guard;
    f(b, e);
  });
}

}  // namespace

template <class T>
void sgd_step(T* p, T* buf, const T* grad, int64_t n, const SgdOptions& o) {
  const T lr = T(o.lr), wd = T(o.weight_decay), mu = T(o.momentum), keep = T(1 - o.dampening);
  const T sign = o.maximize ? T(-1) : T(1);
  const bool nesterov = o.nesterov;
  for_chunks(n, [&](int64_t b, int64_t e) {
    if (!buf) {
      for (int64_t i = b; i < e; ++i) p[i] -= lr * (sign * grad[i] + wd * p[i]);
    } else if (o.first_step) {  // the buffer starts as a copy of the gradient
      for (int64_t i = b; i < e; ++i) {
        const T g = sign * grad[i] + wd * p[i];
        buf[i] = g;
        p[i] -= lr * (nesterov ? g + mu * g : g);
      }
    } else {
      for (int64_t i = b; i < e; ++i) {
        const T g = sign * grad[i] + wd * p[i];
        const T m = mu * buf[i] + keep * g;
        buf[i] = m;
        p[i] -= lr * (nesterov ? g + mu * m : m);
      }
    }
  });
}

template <class T>
void adam_step(T* p, T* m, T* v, T* v_max, const T* grad, int64_t n, const AdamOptions& o) {
  const double bc1 = 1 - std::pow(o.beta1, double(o.step)), bc2 = 1 - std::pow(o.beta2, double(o.step));
  // 1 - beta in double: 1 - float(0.999) is off by 1e-5 relative.
  const T b1 = T(o.beta1), b2 = T(o.beta2), c1 = T(1 - o.beta1), c2 = T(1 - o.beta2);
  const T eps = T(o.eps), sign = o.maximize ? T(-1) : T(1);
  const T step_size = T(o.lr / bc1), inv_sqrt_bc2 = T(1 / std::sqrt(bc2));
  // Adam folds weight decay into the gradient, AdamW shrinks the parameter.
  const T wd_grad = o.decoupled ? T(0) : T(o.weight_decay);
  const T shrink = o.decoupled ? T(1 - o.lr * o.weight_decay) : T(1);
  for_chunks(n, [&](int64_t b, int64_t e) {
    if (v_max) {
      for (int64_t i = b; i < e; ++i) {
        const T pi = p[i] * shrink, g = sign * grad[i] + wd_grad * p[i];
        const T mi = b1 * m[i] + c1 * g, vi = b2 * v[i] + c2 * g * g;
        const T vm = std::max(v_max[i], vi);
        m[i] = mi, v[i] = vi, v_max[i] = vm;
        p[i] = pi - step_size * mi / (std::sqrt(vm) * inv_sqrt_bc2 + eps);
      }
    } else {
      for (int64_t i = b; i < e; ++i) {
        const T pi = p[i] * shrink, g = sign * grad[i] + wd_grad * p[i];
        const T mi = b1 * m[i] + c1 * g, vi = b2 * v[i] + c2 * g * g;
        m[i] = mi, v[i] = vi;
        p[i] = pi - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
      }
    }
  });
}

template <class T>
void rmsprop_step(T* p, T* sq, T* gavg, T* buf, const T* grad, int64_t n, const RmspropOptions& o) {
  const T lr = T(o.lr), a = T(o.alpha), ca = T(1 - o.alpha), eps = T(o.eps), wd = T(o.weight_decay), mu = T(o.momentum);
  const T sign = o.maximize ? T(-1) : T(1);
  for_chunks(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T g = sign * grad[i] + wd * p[i];
      const T s = a * sq[i] + ca * g * g;
      sq[i] = s;
      T var = s;
      if (gavg) {
        const T ga = a * gavg[i] + ca * g;
        gavg[i] = ga;
        var = s - ga * ga;
      }
      const T step = g / (std::sqrt(var) + eps);
      if (buf) {
        const T bi = mu * buf[i] + step;
        buf[i] = bi;
        p[i] -= lr * bi;
      } else {
        p[i] -= lr * step;
      }
    }
  });
}

template <class T>
void adagrad_step(T* p, T* sum, const T* grad, int64_t n, const AdagradOptions& o) {
  const T clr = T(o.lr / (1 + double(o.step - 1) * o.lr_decay));
  const T eps = T(o.eps), wd = T(o.weight_decay), sign = o.maximize ? T(-1) : T(1);
  for_chunks(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T g = sign * grad[i] + wd * p[i];
      const T s = sum[i] + g * g;
      sum[i] = s;
      p[i] -= clr * g / (std::sqrt(s) + eps);
    }
  });
}

template <class T>
void adadelta_step(T* p, T* sq, T* acc, const T* grad, int64_t n, const AdadeltaOptions& o) {
  const T lr = T(o.lr), rho = T(o.rho), crho = T(1 - o.rho), eps = T(o.eps), wd = T(o.weight_decay);
  const T sign = o.maximize ? T(-1) : T(1);
  for_chunks(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T g = sign * grad[i] + wd * p[i];
      const T s = rho * sq[i] + crho * g * g;
      const T dx = std::sqrt(acc[i] + eps) / std::sqrt(s + eps) * g;
      sq[i] = s;
      acc[i] = rho * acc[i] + crho * dx * dx;
      p[i] -= lr * dx;
    }
  });
}

#define NERVE_OPTIM_INSTANTIATE(T)                                                                       \
  template void sgd_step<T>(T*, T*, const T*, int64_t, const SgdOptions&);                               \
  template void adam_step<T>(T*, T*, T*, T*, const T*, int64_t, const AdamOptions&);                     \
  template void rmsprop_step<T>(T*, T*, T*, T*, const T*, int64_t, const RmspropOptions&);               \
  template void adagrad_step<T>(T*, T*, const T*, int64_t, const AdagradOptions&);                       \
  template void adadelta_step<T>(T*, T*, T*, const T*, int64_t, const AdadeltaOptions&);
NERVE_OPTIM_INSTANTIATE(float)
NERVE_OPTIM_INSTANTIATE(double)
#undef NERVE_OPTIM_INSTANTIATE

}  // namespace nerve::cpu::NERVE_OPTIM_NS
