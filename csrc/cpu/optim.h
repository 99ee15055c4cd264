// Optimizer update kernels: one fused pass over a parameter, its gradient and
// its state, updating param and state in place (PyTorch's documented rules).
// All arrays are contiguous with n elements of one dtype (float32/float64);
// optional state arrays are nullptr when the option that needs them is off.
// Hyper-parameters are validated by the binding; the step count t (>= 1) is
// the number of this step, counted by the Python optimizer.
#pragma once
#include <cstdint>

namespace nerve::cpu {

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

template <class T>
void sgd_step(T* param, T* momentum_buffer, const T* grad, int64_t n, const SgdOptions& o);

template <class T>
void adam_step(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, int64_t n,
               const AdamOptions& o);

template <class T>
void rmsprop_step(T* param, T* square_avg, T* grad_avg, T* momentum_buffer, const T* grad, int64_t n,
                  const RmspropOptions& o);

template <class T>
void adagrad_step(T* param, T* state_sum, const T* grad, int64_t n, const AdagradOptions& o);

template <class T>
void adadelta_step(T* param, T* square_avg, T* acc_delta, const T* grad, int64_t n, const AdadeltaOptions& o);

// The optimizer kernels of one ISA for element type T (optim_impl.h, compiled
// per ISA; optim.cpp picks one with common/dispatch.h).
template <class T>
struct OptimKernels {
  decltype(&sgd_step<T>) sgd;
  decltype(&adam_step<T>) adam;
  decltype(&rmsprop_step<T>) rmsprop;
  decltype(&adagrad_step<T>) adagrad;
  decltype(&adadelta_step<T>) adadelta;
};

}  // namespace nerve::cpu
