// Bodies of the optimizer loops, compiled once per ISA (CMakeLists.txt
// generates one translation unit per ISA that includes this file;
// common/dispatch.h has the pattern), each copy with that ISA's flags and in
// an anonymous namespace. Each loop reads param, grad and state once and writes
// param and state once (memory bound: ~3-6 streams of n elements), so the
// option flags are tested outside the loops to leave plain vectorizable
// bodies; sqrt and division vectorize with -fno-math-errno.
#include <algorithm>
#include <cmath>

#include "common/denormal.h"
#include "common/dispatch.h"
#include "common/parallel.h"
#include "cpu/optim.h"

namespace nerve::cpu {
namespace {

// A step is memory bound (a few flops per 12-28 bytes moved), so a second
// thread only pays once the arrays stream from DRAM: one thread per 2M
// elements (8 MB per float32 array). Measured on 2 shared vCPUs: 1M-element
// Adam step 0.3 ms on one thread; with two threads under load, 24 ms (the
// second thread waited for a time slice).
constexpr int64_t kElementsPerThread = int64_t{1} << 21;

template <class F>
void for_chunks(int64_t n, F&& f) {
  DenormalGuard guard;
  parallel_for(n, n / kElementsPerThread * kWorkPerThread, [&](int64_t b, int64_t e) {
    DenormalGuard thread_guard;
    f(b, e);
  });
}

// The loop bodies take their constants by value and their arrays as
// __restrict (the binding rejects overlapping arrays): with the constants
// captured by reference, every store through p could alias them, and GCC
// reloaded them each iteration instead of vectorizing (2-3x slower than numpy).
template <class T>
void sgd_loop(T* __restrict p, T* __restrict buf, const T* __restrict grad, int64_t b, int64_t e, T lr, T wd, T mu,
              T keep, T sign, bool nesterov, bool first) {
  if (!buf) {
    for (int64_t i = b; i < e; ++i) p[i] -= lr * (sign * grad[i] + wd * p[i]);
  } else if (first) {  // the buffer starts as a copy of the gradient
    const T scale = nesterov ? 1 + mu : T(1);
    for (int64_t i = b; i < e; ++i) {
      const T g = sign * grad[i] + wd * p[i];
      buf[i] = g;
      p[i] -= lr * scale * g;
    }
  } else if (nesterov) {
    for (int64_t i = b; i < e; ++i) {
      const T g = sign * grad[i] + wd * p[i];
      const T m = mu * buf[i] + keep * g;
      buf[i] = m;
      p[i] -= lr * (g + mu * m);
    }
  } else {
    for (int64_t i = b; i < e; ++i) {
      const T m = mu * buf[i] + keep * (sign * grad[i] + wd * p[i]);
      buf[i] = m;
      p[i] -= lr * m;
    }
  }
}

template <class T>
void sgd_step(T* p, T* buf, const T* grad, int64_t n, const SgdOptions& o) {
  const T lr = T(o.lr), wd = T(o.weight_decay), mu = T(o.momentum), keep = T(1 - o.dampening);
  const T sign = o.maximize ? T(-1) : T(1);
  const bool nesterov = o.nesterov, first = o.first_step;
  for_chunks(n, [=](int64_t b, int64_t e) { sgd_loop(p, buf, grad, b, e, lr, wd, mu, keep, sign, nesterov, first); });
}

// Adam folds weight decay into the gradient (wd_grad), AdamW shrinks the
// parameter first (shrink = 1 - lr * wd); v_max is nullptr without amsgrad.
template <class T, bool kAmsgrad>
void adam_loop(T* __restrict p, T* __restrict m, T* __restrict v, T* __restrict v_max, const T* __restrict grad,
               int64_t b, int64_t e, T b1, T b2, T c1, T c2, T eps, T sign, T step_size, T inv_sqrt_bc2, T wd_grad,
               T shrink) {
  for (int64_t i = b; i < e; ++i) {
    const T g = sign * grad[i] + wd_grad * p[i];
    const T mi = b1 * m[i] + c1 * g, vi = b2 * v[i] + c2 * g * g;
    m[i] = mi;
    v[i] = vi;
    T denom_v = vi;
    if constexpr (kAmsgrad) {
      denom_v = std::max(v_max[i], vi);
      v_max[i] = denom_v;
    }
    p[i] = p[i] * shrink - step_size * mi / (std::sqrt(denom_v) * inv_sqrt_bc2 + eps);
  }
}

template <class T>
void adam_step(T* p, T* m, T* v, T* v_max, const T* grad, int64_t n, const AdamOptions& o) {
  const double bc1 = 1 - std::pow(o.beta1, double(o.step)), bc2 = 1 - std::pow(o.beta2, double(o.step));
  // 1 - beta in double: 1 - float(0.999) is off by 1e-5 relative.
  const T b1 = T(o.beta1), b2 = T(o.beta2), c1 = T(1 - o.beta1), c2 = T(1 - o.beta2);
  const T eps = T(o.eps), sign = o.maximize ? T(-1) : T(1);
  const T step_size = T(o.lr / bc1), inv_sqrt_bc2 = T(1 / std::sqrt(bc2));
  const T wd_grad = o.decoupled ? T(0) : T(o.weight_decay);
  const T shrink = o.decoupled ? T(1 - o.lr * o.weight_decay) : T(1);
  for_chunks(n, [=](int64_t b, int64_t e) {
    if (v_max)
      adam_loop<T, true>(p, m, v, v_max, grad, b, e, b1, b2, c1, c2, eps, sign, step_size, inv_sqrt_bc2, wd_grad, shrink);
    else
      adam_loop<T, false>(p, m, v, v_max, grad, b, e, b1, b2, c1, c2, eps, sign, step_size, inv_sqrt_bc2, wd_grad,
                          shrink);
  });
}

template <class T, bool kCentered, bool kMomentum>
void rmsprop_loop(T* __restrict p, T* __restrict sq, T* __restrict gavg, T* __restrict buf, const T* __restrict grad,
                  int64_t b, int64_t e, T lr, T a, T ca, T eps, T wd, T mu, T sign) {
  for (int64_t i = b; i < e; ++i) {
    const T g = sign * grad[i] + wd * p[i];
    const T s = a * sq[i] + ca * g * g;
    sq[i] = s;
    T var = s;
    if constexpr (kCentered) {
      const T ga = a * gavg[i] + ca * g;
      gavg[i] = ga;
      var = s - ga * ga;
    }
    T step = g / (std::sqrt(var) + eps);
    if constexpr (kMomentum) {
      step += mu * buf[i];
      buf[i] = step;
    }
    p[i] -= lr * step;
  }
}

template <class T>
void rmsprop_step(T* p, T* sq, T* gavg, T* buf, const T* grad, int64_t n, const RmspropOptions& o) {
  const T lr = T(o.lr), a = T(o.alpha), ca = T(1 - o.alpha), eps = T(o.eps), wd = T(o.weight_decay);
  const T mu = T(o.momentum), sign = o.maximize ? T(-1) : T(1);
  for_chunks(n, [=](int64_t b, int64_t e) {
    if (gavg && buf) rmsprop_loop<T, true, true>(p, sq, gavg, buf, grad, b, e, lr, a, ca, eps, wd, mu, sign);
    else if (gavg) rmsprop_loop<T, true, false>(p, sq, gavg, buf, grad, b, e, lr, a, ca, eps, wd, mu, sign);
    else if (buf) rmsprop_loop<T, false, true>(p, sq, gavg, buf, grad, b, e, lr, a, ca, eps, wd, mu, sign);
    else rmsprop_loop<T, false, false>(p, sq, gavg, buf, grad, b, e, lr, a, ca, eps, wd, mu, sign);
  });
}

template <class T>
void adagrad_loop(T* __restrict p, T* __restrict sum, const T* __restrict grad, int64_t b, int64_t e, T clr, T eps,
                  T wd, T sign) {
  for (int64_t i = b; i < e; ++i) {
    const T g = sign * grad[i] + wd * p[i];
    const T s = sum[i] + g * g;
    sum[i] = s;
    p[i] -= clr * g / (std::sqrt(s) + eps);
  }
}

template <class T>
void adagrad_step(T* p, T* sum, const T* grad, int64_t n, const AdagradOptions& o) {
  const T clr = T(o.lr / (1 + double(o.step - 1) * o.lr_decay));
  const T eps = T(o.eps), wd = T(o.weight_decay), sign = o.maximize ? T(-1) : T(1);
  for_chunks(n, [=](int64_t b, int64_t e) { adagrad_loop(p, sum, grad, b, e, clr, eps, wd, sign); });
}

template <class T>
void adadelta_loop(T* __restrict p, T* __restrict sq, T* __restrict acc, const T* __restrict grad, int64_t b,
                   int64_t e, T lr, T rho, T crho, T eps, T wd, T sign) {
  for (int64_t i = b; i < e; ++i) {
    const T g = sign * grad[i] + wd * p[i];
    const T s = rho * sq[i] + crho * g * g;
    const T dx = std::sqrt(acc[i] + eps) / std::sqrt(s + eps) * g;
    sq[i] = s;
    acc[i] = rho * acc[i] + crho * dx * dx;
    p[i] -= lr * dx;
  }
}

template <class T>
void adadelta_step(T* p, T* sq, T* acc, const T* grad, int64_t n, const AdadeltaOptions& o) {
  const T lr = T(o.lr), rho = T(o.rho), crho = T(1 - o.rho), eps = T(o.eps), wd = T(o.weight_decay);
  const T sign = o.maximize ? T(-1) : T(1);
  for_chunks(n, [=](int64_t b, int64_t e) { adadelta_loop(p, sq, acc, grad, b, e, lr, rho, crho, eps, wd, sign); });
}

template <class T>
constexpr OptimKernels<T> kKernelsOf{sgd_step<T>, adam_step<T>, rmsprop_step<T>, adagrad_step<T>, adadelta_step<T>};

using Kernels = Typed<OptimKernels>;
constexpr Kernels kKernels{kKernelsOf<float>, kKernelsOf<double>};

}  // namespace
}  // namespace nerve::cpu
