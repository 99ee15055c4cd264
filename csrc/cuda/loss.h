// The loss launchers of nerve._cuda (cuda/loss.cu): same arguments and
// semantics as cpu/loss.h, on device pointers, launched on `stream`; the
// problem (N, C, ignore_index, label_smoothing) is contract/loss.h's. A target
// outside [0, C) that is not ignore_index (the binding cannot read device
// memory to reject it) gives a NaN loss / NaN gradient row, never an
// out-of-bounds read.
#pragma once
#include <cstdint>

#include "contract/loss.h"
#include "cuda/stream.h"

namespace nerve::cuda {

template <class T>
void cross_entropy_forward(T* loss, double* lse, const T* logits, const int64_t* target, const T* weight,
                           const CrossEntropy& p, Stream stream);

template <class T>
void cross_entropy_backward(T* grad_logits, const T* grad_loss, const T* logits, const double* lse,
                            const int64_t* target, const T* weight, const CrossEntropy& p, Stream stream);

}  // namespace nerve::cuda
