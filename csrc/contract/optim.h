// The optimizer family's contract, shared by both devices: the options of each
// update rule (PyTorch's documented rules; the math is in cpu/optim_impl.h and
// cuda/optim.cuh) and the argument checks of the *_step kernels, which both
// bindings run (bind/optim.cpp for nerve._C, bind/optim_cuda.cpp for
// nerve._cuda). Every array is C-contiguous with param's shape and dtype
// (float32/float64); param and the state arrays are writable; optional state
// (momentum buffers, amsgrad's max, RMSprop's grad_avg) is None exactly when
// the option is off; no two arrays overlap (the kernels take __restrict
// pointers). The step count t (>= 1) is the number of this step, counted by
// the Python optimizer.
#pragma once
#include <cmath>
#include <vector>

#include "common/view.h"

namespace nerve {

// g = grad (+ weight_decay * p); with momentum: b = g on the first step,
// else b = momentum * b + (1 - dampening) * g; g = nesterov ? g + momentum * b
// : b. Then p -= lr * g. maximize flips the sign of grad.
struct SgdOptions {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize, first_step;
};

// Adam (decoupled = false: g += wd * p) and AdamW (decoupled = true:
// p *= 1 - lr * wd). m, v moving averages; with amsgrad, v_max = max(v_max, v)
// replaces v in the denominator. p -= lr * m_hat / (sqrt(v_hat) + eps).
struct AdamOptions {
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step;
  bool amsgrad, decoupled, maximize;
};

// v = alpha * v + (1 - alpha) * g^2; centered: a = alpha * a + (1 - alpha) * g,
// v~ = v - a^2; with momentum: b = momentum * b + g / (sqrt(v~) + eps),
// p -= lr * b; else p -= lr * g / (sqrt(v~) + eps).
struct RmspropOptions {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
};

// s += g^2; p -= lr / (1 + (step - 1) * lr_decay) * g / (sqrt(s) + eps).
struct AdagradOptions {
  double lr, lr_decay, eps, weight_decay;
  int64_t step;
  bool maximize;
};

// v = rho * v + (1 - rho) * g^2; dx = sqrt(u + eps) / sqrt(v + eps) * g;
// u = rho * u + (1 - rho) * dx^2; p -= lr * dx.
struct AdadeltaOptions {
  double lr, rho, eps, weight_decay;
  bool maximize;
};

namespace optim_check {

// a: param first, then its state arrays (absent = None), grad_param last.
inline void arrays(const std::vector<Arg>& a) {
  a.front().floating();
  for (const Arg& x : a) x.dtype(a.front().dtype()).same_shape(a.front());
  std::vector<const Arg*> all;
  for (const Arg& x : a) all.push_back(&x);
  all_apart(all);
}

inline void state(const Arg& a, bool needed, const char* why) {
  if (a.present() != needed) a.fail("must be ", needed ? "an array" : "None", " when ", why);
}

inline void range(const char* op, const char* name, double v, double lo, double hi, bool hi_open = false) {
  const bool ok = v >= lo && (hi_open ? v < hi : v <= hi);
  NERVE_CHECK(ok, op, ": argument '", name, "' expected a value in [", lo, ", ", hi, hi_open ? ")" : "]", ", got ", v);
}

inline void nonneg(const char* op, const char* name, double v) {
  NERVE_CHECK(v >= 0 && std::isfinite(v), op, ": argument '", name, "' expected a finite value >= 0, got ", v);
}

}  // namespace optim_check

// Each check_<rule>: a = {param, state..., grad_param} in the kernel's
// argument order; returns the options the kernel takes.
inline SgdOptions check_sgd(const std::vector<Arg>& a, double lr, double momentum, double dampening,
                            double weight_decay, bool nesterov, bool maximize, bool first_step) {
  const char* op = a.front().op();
  optim_check::arrays(a);
  optim_check::nonneg(op, "lr", lr);
  optim_check::nonneg(op, "momentum", momentum);
  optim_check::range(op, "dampening", dampening, 0, 1);
  optim_check::nonneg(op, "weight_decay", weight_decay);
  NERVE_CHECK(!nesterov || (momentum > 0 && dampening == 0), op,
              ": nesterov momentum requires momentum > 0 and dampening = 0, got momentum ", momentum,
              " and dampening ", dampening);
  optim_check::state(a[1], momentum != 0, momentum != 0 ? "momentum != 0" : "momentum == 0");
  return {lr, momentum, dampening, weight_decay, nesterov, maximize, first_step};
}

inline AdamOptions check_adam(const std::vector<Arg>& a, double lr, double beta1, double beta2, double eps,
                              double weight_decay, int64_t step, bool decoupled, bool maximize) {
  const char* op = a.front().op();
  optim_check::arrays(a);
  optim_check::state(a[1], true, "running Adam");
  optim_check::state(a[2], true, "running Adam");
  optim_check::nonneg(op, "lr", lr);
  optim_check::range(op, "beta1", beta1, 0, 1, true);
  optim_check::range(op, "beta2", beta2, 0, 1, true);
  optim_check::nonneg(op, "eps", eps);
  optim_check::nonneg(op, "weight_decay", weight_decay);
  NERVE_CHECK(step >= 1, op, ": argument 'step' expected >= 1, got ", step);
  return {lr, beta1, beta2, eps, weight_decay, step, a[3].present(), decoupled, maximize};
}

inline RmspropOptions check_rmsprop(const std::vector<Arg>& a, double lr, double alpha, double eps,
                                    double weight_decay, double momentum, bool maximize) {
  const char* op = a.front().op();
  optim_check::arrays(a);
  optim_check::state(a[1], true, "running RMSprop");
  optim_check::nonneg(op, "lr", lr);
  optim_check::range(op, "alpha", alpha, 0, 1);
  optim_check::nonneg(op, "eps", eps);
  optim_check::nonneg(op, "weight_decay", weight_decay);
  optim_check::nonneg(op, "momentum", momentum);
  optim_check::state(a[3], momentum != 0, momentum != 0 ? "momentum != 0" : "momentum == 0");
  return {lr, alpha, eps, weight_decay, momentum, a[2].present(), maximize};
}

inline AdagradOptions check_adagrad(const std::vector<Arg>& a, double lr, double lr_decay, double eps,
                                    double weight_decay, int64_t step, bool maximize) {
  const char* op = a.front().op();
  optim_check::arrays(a);
  optim_check::state(a[1], true, "running Adagrad");
  optim_check::nonneg(op, "lr", lr);
  optim_check::nonneg(op, "lr_decay", lr_decay);
  optim_check::nonneg(op, "eps", eps);
  optim_check::nonneg(op, "weight_decay", weight_decay);
  NERVE_CHECK(step >= 1, op, ": argument 'step' expected >= 1, got ", step);
  return {lr, lr_decay, eps, weight_decay, step, maximize};
}

inline AdadeltaOptions check_adadelta(const std::vector<Arg>& a, double lr, double rho, double eps,
                                      double weight_decay, bool maximize) {
  const char* op = a.front().op();
  optim_check::arrays(a);
  optim_check::state(a[1], true, "running Adadelta");
  optim_check::state(a[2], true, "running Adadelta");
  optim_check::nonneg(op, "lr", lr);
  optim_check::range(op, "rho", rho, 0, 1);
  optim_check::nonneg(op, "eps", eps);
  optim_check::nonneg(op, "weight_decay", weight_decay);
  return {lr, rho, eps, weight_decay, maximize};
}

}  // namespace nerve
