// The loss family's contract, shared by both devices: the cross-entropy
// problem and its argument checks (bind/loss.cpp for nerve._C,
// bind/loss_cuda.cpp for nerve._cuda). The math is in cpu/loss.h.
// Arrays are C-contiguous: logits (N, C) float32/float64, target (N,) int64,
// weight (C,) or None (logits' dtype), lse (N,) float64 whatever the logits'
// dtype, loss / grad_loss (N,) logits' dtype, grad_logits (N, C).
#pragma once
#include <initializer_list>

#include "common/view.h"

namespace nerve {

struct CrossEntropy {
  int64_t N = 0, C = 0;
  int64_t ignore_index = -100;
  double label_smoothing = 0;
};

// Checks logits, target, weight, lse, label_smoothing in [0, 1], and every
// (N,) array in `rows` (logits' dtype). Target values (in [0, C) or
// ignore_index) are checked here only when the target is in host memory; a
// device kernel reads a target outside that range as a NaN loss / gradient
// row, never out of bounds.
inline CrossEntropy check_cross_entropy(const Arg& logits, const Arg& target, const Arg& weight, const Arg& lse,
                                        int64_t ignore_index, double label_smoothing,
                                        std::initializer_list<const Arg*> rows) {
  logits.floating().ndim(2);
  CrossEntropy p{logits.dim(0), logits.dim(1), ignore_index, label_smoothing};
  if (p.C < 1 && p.N != 0) logits.fail("needs at least one class, got shape ", logits.shape_str());
  NERVE_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, logits.op(),
              ": argument 'label_smoothing' expected a value in [0, 1], got ", label_smoothing);
  for (const Arg* a : rows) a->dtype(logits.dtype()).shape({{"N", p.N}});
  weight.dtype(logits.dtype()).shape({{"C", p.C}});
  lse.dtype(dtype_of<double>()).shape({{"N", p.N}});
  target.dtype(dtype_of<int64_t>()).shape({{"N", p.N}});
  if (target.view().device == Device::cpu) {
    const int64_t* t = target.in<int64_t>();
    const int64_t bad = first_outside(t, p.N, 0, p.C, ignore_index);
    if (bad >= 0)
      target.fail("has class index ", t[bad], " at position ", bad, ", expected a value in [0, ", p.C,
                  ") or ignore_index=", ignore_index);
  }
  return p;
}

// cross_entropy_forward(loss, lse, logits, target, weight, ...)
inline CrossEntropy check_cross_entropy_forward(const Arg& loss, const Arg& lse, const Arg& logits, const Arg& target,
                                                const Arg& weight, int64_t ignore_index, double label_smoothing) {
  const CrossEntropy p = check_cross_entropy(logits, target, weight, lse, ignore_index, label_smoothing, {&loss});
  apart({&loss, &lse}, {&logits, &target, &weight});
  return p;
}

// cross_entropy_backward(grad_logits, grad_loss, logits, lse, target, weight, ...)
inline CrossEntropy check_cross_entropy_backward(const Arg& grad_logits, const Arg& grad_loss, const Arg& logits,
                                                 const Arg& lse, const Arg& target, const Arg& weight,
                                                 int64_t ignore_index, double label_smoothing) {
  const CrossEntropy p = check_cross_entropy(logits, target, weight, lse, ignore_index, label_smoothing, {&grad_loss});
  grad_logits.dtype(logits.dtype()).shape({{"N", p.N}, {"C", p.C}});
  apart({&grad_logits}, {&logits, &target, &weight, &grad_loss, &lse});
  return p;
}

}  // namespace nerve
