// Batch normalization, forward (training and eval) and a fused backward.
//
// Layout: x (N, C, L) contiguous, statistics per channel c over the N rows
// x[n, c, 0:L]. Channels are split over OpenMP threads (each channel's
// statistics and outputs are independent, so no reduction across threads).
//
// Forward (training), per channel, two passes over x plus one write:
//   mean = sum x / M, var = sum (x - mean)^2 / M   (M = N*L; two-pass, not
//   E[x^2] - mean^2, which cancels catastrophically for large means)
//   y = x * scale + shift, scale = weight * invstd, shift = bias - mean * scale
// Sums accumulate in double even for float32 (the pass is memory-bound, so the
// wider accumulator costs little and keeps mean/var exact to float precision
// for large N*L).
// Backward (training), two passes:
//   sum_dy = sum dy, sum_dy_xhat = sum dy * (x - mean) * invstd
//   dx = weight * invstd * (dy - sum_dy / M - xhat * sum_dy_xhat / M)
//   dweight = sum_dy_xhat, dbias = sum_dy
// Eval backward: dx = dy * weight * invstd (the statistics are constants).
// A DenormalGuard is held by the caller thread and every worker.
// Small L (L < 16: BatchNorm1d on (N, C), short sequences) takes a
// channels-innermost path (batch_norm_impl.h): rows read as C*L contiguous
// columns in tiles of 256, per-column double accumulators folded per channel;
// the per-channel path walked x with stride C*L there and ran vector loops of
// length L (8-12x slower than PyTorch on (256, 1024)).
// The loops are compiled per ISA (batch_norm_impl.h, common/dispatch.h), so
// the double accumulations run on 8 AVX-512 lanes rather than 2 SSE2 ones.
// Measured (1 thread, float32, 32x64x32x32, ms; nerve / PyTorch 2.13):
// training forward 2.1 / 4.0, backward 3.0 / 2.4 (before the ISA variants).
// bench batch_norm (1 thread, CPU clock, loaded 2-vCPU Xeon AVX-512, ours/torch,
// train fwd / fwd+bwd / eval): (256, 1024) 0.08/0.12/0.10 before the column
// path, 0.85/1.25/1.1 with it (SSE2), 1.06-1.18/1.28-1.43/1.18-1.25 with AVX-512;
// BatchNorm2d training forward 1.8-2.2 -> 1.9-3.6 with AVX-512.
#include "cpu/batch_norm.h"

#include "common/dispatch.h"

namespace nerve::cpu {

template <class T>
void batch_norm_forward(int64_t N, int64_t C, int64_t L, T* y, T* save_mean, T* save_invstd, T* running_mean,
                        T* running_var, const T* x, const T* weight, const T* bias, bool training, double momentum,
                        double eps) {
  pick<BatchNormKernels, T>().forward(N, C, L, y, save_mean, save_invstd, running_mean, running_var, x, weight, bias,
                                      training, momentum, eps);
}

template <class T>
void batch_norm_backward(int64_t N, int64_t C, int64_t L, T* grad_input, T* grad_weight, T* grad_bias,
                         const T* grad_output, const T* x, const T* weight, const T* save_mean, const T* save_invstd,
                         bool training) {
  pick<BatchNormKernels, T>().backward(N, C, L, grad_input, grad_weight, grad_bias, grad_output, x, weight, save_mean,
                                       save_invstd, training);
}

#define NERVE_NORM_INSTANTIATE(T)                                                                             \
  template void batch_norm_forward<T>(int64_t, int64_t, int64_t, T*, T*, T*, T*, T*, const T*, const T*,      \
                                      const T*, bool, double, double);                                        \
  template void batch_norm_backward<T>(int64_t, int64_t, int64_t, T*, T*, T*, const T*, const T*, const T*,   \
                                       const T*, const T*, bool);
NERVE_NORM_INSTANTIATE(float)
NERVE_NORM_INSTANTIATE(double)

}  // namespace nerve::cpu
