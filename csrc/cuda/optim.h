// The optimizer launchers of nerve._cuda (cuda/optim.cu): same arguments and
// semantics as cpu/optim.h (options: contract/optim.h), on device pointers,
// launched on `stream`. One fused kernel per parameter per step.
#pragma once
#include <cstdint>

#include "contract/optim.h"
#include "cuda/stream.h"

namespace nerve::cuda {

template <class T>
void sgd_step(T* param, T* momentum_buffer, const T* grad, int64_t n, const SgdOptions& o, Stream stream);

template <class T>
void adam_step(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, int64_t n,
               const AdamOptions& o, Stream stream);

template <class T>
void rmsprop_step(T* param, T* square_avg, T* grad_avg, T* momentum_buffer, const T* grad, int64_t n,
                  const RmspropOptions& o, Stream stream);

template <class T>
void adagrad_step(T* param, T* state_sum, const T* grad, int64_t n, const AdagradOptions& o, Stream stream);

template <class T>
void adadelta_step(T* param, T* square_avg, T* acc_delta, const T* grad, int64_t n, const AdadeltaOptions& o,
                   Stream stream);

}  // namespace nerve::cuda
