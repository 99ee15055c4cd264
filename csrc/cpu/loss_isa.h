// Per-ISA fused cross-entropy entry points (defined in loss.cpp,
// loss_avx2.cpp and loss_avx512.cpp from loss_impl.h); loss.cpp dispatches.
#pragma once
#include <cstdint>

#define NERVE_LOSS_DECLARE_TYPED(ns, T)                                                                          \
  namespace nerve::cpu::ns {                                                                                     \
  void cross_entropy_forward(T* loss, double* lse, const T* logits, const int64_t* target, const T* weight,      \
                             int64_t N, int64_t C, int64_t ignore_index, double label_smoothing);                \
  void cross_entropy_backward(T* grad_logits, const T* grad_loss, const T* logits, const double* lse,            \
                              const int64_t* target, const T* weight, int64_t N, int64_t C, int64_t ignore_index, \
                              double label_smoothing);                                                           \
  }

#define NERVE_LOSS_DECLARE_ISA(ns)   \
  NERVE_LOSS_DECLARE_TYPED(ns, float) \
  NERVE_LOSS_DECLARE_TYPED(ns, double)

NERVE_LOSS_DECLARE_ISA(generic)
NERVE_LOSS_DECLARE_ISA(avx2)
NERVE_LOSS_DECLARE_ISA(avx512)
