// Elementwise activations whose math numpy lacks or does slowly (erf, a
// numerically stable sigmoid). Contiguous arrays of n elements; out may alias x.
#pragma once
#include <cstdint>

#include "contract/activation.h"  // GeluMode, the argument checks

namespace nerve::cpu {

template <class T>
void gelu_forward(T* out, const T* x, int64_t n, GeluMode mode);

// grad_x = grad * gelu'(x)
template <class T>
void gelu_backward(T* grad_x, const T* grad, const T* x, int64_t n, GeluMode mode);

// out = 1 / (1 + exp(-x)), computed without overflow for large |x|.
template <class T>
void sigmoid_forward(T* out, const T* x, int64_t n);

}  // namespace nerve::cpu

// The kernel table of the activation family (compiled per ISA: activation_impl.h,
// common/dispatch.h); activation.cpp calls through it.
namespace nerve::cpu {
template <class T>
struct ActivationKernels {
  void (*gelu_forward)(T*, const T*, int64_t, GeluMode);
  void (*gelu_backward)(T*, const T*, const T*, int64_t, GeluMode);
  void (*sigmoid_forward)(T*, const T*, int64_t);
};
}  // namespace nerve::cpu
