// Normalization kernel API. See batch_norm.cpp.
//
// Batch norm: x is viewed as (N, C, L) (L = H*W for BatchNorm2d, 1 or the
// sequence length for BatchNorm1d); statistics are per channel over N*L.
// Kernels overwrite their outputs (running stats are updated in place) and
// assume checked, contiguous arrays (bind/batch_norm.cpp).
#pragma once
#include <cstdint>

namespace nerve::cpu {

// training: mean/var over (N, L) of this batch, saved as save_mean and
//   save_invstd = 1/sqrt(var + eps); when running_mean/var are not null they
//   become (1-momentum)*running + momentum*batch (var unbiased, as PyTorch).
// eval: running_mean/var (required) normalize; save_* get them for backward.
// y = (x - mean) * invstd * weight + bias; weight/bias may be null (1 and 0).
template <class T>
void batch_norm_forward(int64_t N, int64_t C, int64_t L, T* y, T* save_mean, T* save_invstd, T* running_mean,
                        T* running_var, const T* x, const T* weight, const T* bias, bool training, double momentum,
                        double eps);

// Gradients given save_mean/save_invstd from the forward. training: the
// statistics depend on x (the fused formula); eval: they are constants.
// grad_weight/grad_bias may be null (not wanted); weight may be null (1).
template <class T>
void batch_norm_backward(int64_t N, int64_t C, int64_t L, T* grad_input, T* grad_weight, T* grad_bias,
                         const T* grad_output, const T* x, const T* weight, const T* save_mean, const T* save_invstd,
                         bool training);

}  // namespace nerve::cpu

// The kernel table of the batch norm family (compiled per ISA: batch_norm_impl.h,
// common/dispatch.h); batch_norm.cpp calls through it.
namespace nerve::cpu {
template <class T>
struct BatchNormKernels {
  void (*forward)(int64_t, int64_t, int64_t, T*, T*, T*, T*, T*, const T*, const T*, const T*, bool, double, double);
  void (*backward)(int64_t, int64_t, int64_t, T*, T*, T*, const T*, const T*, const T*, const T*, const T*, bool);
};
}  // namespace nerve::cpu
