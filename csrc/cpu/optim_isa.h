// Per-ISA optimizer loops (bodies in optim_impl.h, compiled once per ISA in
// optim.cpp, optim_avx2.cpp and optim_avx512.cpp).
#pragma once
#include "cpu/optim.h"

#define NERVE_OPTIM_DECLARE_ISA(ns)                                                                           \
  namespace nerve::cpu::ns {                                                                                  \
  template <class T>                                                                                          \
  void sgd_step(T* param, T* momentum_buffer, const T* grad, int64_t n, const SgdOptions& o);                 \
  template <class T>                                                                                          \
  void adam_step(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, int64_t n,            \
                 const AdamOptions& o);                                                                       \
  template <class T>                                                                                          \
  void rmsprop_step(T* param, T* square_avg, T* grad_avg, T* momentum_buffer, const T* grad, int64_t n,       \
                    const RmspropOptions& o);                                                                 \
  template <class T>                                                                                          \
  void adagrad_step(T* param, T* state_sum, const T* grad, int64_t n, const AdagradOptions& o);               \
  template <class T>                                                                                          \
  void adadelta_step(T* param, T* square_avg, T* acc_delta, const T* grad, int64_t n, const AdadeltaOptions& o); \
  }

NERVE_OPTIM_DECLARE_ISA(generic)
NERVE_OPTIM_DECLARE_ISA(avx2)
NERVE_OPTIM_DECLARE_ISA(avx512)
