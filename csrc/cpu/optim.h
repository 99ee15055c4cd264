// Optimizer update kernels: one fused pass over a parameter, its gradient and
// its state, updating param and state in place (PyTorch's documented rules).
// All arrays are contiguous with n elements of one dtype (float32/float64);
// optional state arrays are nullptr when the option that needs them is off.
// Hyper-parameters are validated by the binding; the step count t (>= 1) is
// the number of this step, counted by the Python optimizer.
#pragma once
#include <cstdint>

#include "contract/optim.h"  // SgdOptions ... AdadeltaOptions, the argument checks

namespace nerve::cpu {

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
