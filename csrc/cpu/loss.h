// Fused softmax cross-entropy on rows of logits. Shapes: logits (N, C)
// row-major contiguous, target (N,) class indices, weight (C,) or null.
// Rows whose target equals ignore_index get loss 0 and gradient 0; the
// bindings check every other target lies in [0, C) before these run.
#pragma once
#include <cstdint>

#include "contract/loss.h"  // CrossEntropy, the argument checks

namespace nerve::cpu {

// Per row i with t = target[i], w = weight (or all ones), W = sum_c w_c,
// eps = label_smoothing, lse_i = log sum_c exp(x_ic):
//   loss[i] = (1 - eps) w_t (lse_i - x_it) + eps / C * sum_c w_c (lse_i - x_ic)
// Writes (overwrites) loss[N] and lse[N]; lse is what backward needs, kept in
// double for every T so that p = exp(x - lse) stays accurate when logits are
// large (a float32 lse of 1e4 would be off by 5e-4, and so would p).
template <class T>
void cross_entropy_forward(T* loss, double* lse, const T* logits, const int64_t* target, const T* weight, int64_t N,
                           int64_t C, int64_t ignore_index, double label_smoothing);

// grad_logits[i, c] = grad_loss[i] * ((1 - eps) w_t (p_ic - [c == t]) + eps / C (W p_ic - w_c)),
// p_ic = exp(x_ic - lse_i). Overwrites grad_logits (N, C); ignored rows get 0.
template <class T>
void cross_entropy_backward(T* grad_logits, const T* grad_loss, const T* logits, const double* lse, const int64_t* target,
                            const T* weight, int64_t N, int64_t C, int64_t ignore_index, double label_smoothing);

// The loss kernels of one ISA for element type T (loss_impl.h, compiled per
// ISA; loss.cpp picks one with common/dispatch.h).
template <class T>
struct LossKernels {
  decltype(&cross_entropy_forward<T>) forward;
  decltype(&cross_entropy_backward<T>) backward;
};

}  // namespace nerve::cpu
