// Fused softmax cross-entropy (forward and backward) over rows of (N, C)
// contiguous logits, float32 or float64, OpenMP over rows via parallel_for (a
// small batch stays on one thread). The row loops live in loss_impl.h and
// are compiled per ISA (common/dispatch.h); this file picks the ISA's copy.
//
// Forward, per row, two passes over the C logits (three with smoothing):
//   1. m = max_c x_c
//   2. s = sum_c exp(x_c - m)
//   3. (eps > 0) d = sum_c w_c (m - x_c)
//   lse = m + log s; nll = (m - x_t) + log s;
//   smooth = sum_c w_c (lse - x_c) = W log s + d   (every term >= 0: no
//   cancellation, so logits of +-1e4 give exact, finite losses).
// Backward recomputes p_c = exp(x_c - lse) from the saved lse in one pass (no
// (N, C) softmax is kept between forward and backward) and writes
//   g ((1 - eps) w_t (p_c - [c == t]) + eps / C (W p_c - w_c)).
// lse is saved in double for every T: a float32 lse of 1e4 is off by up to
// 5e-4, and p (the gradient of logits of +-1e4) was off by as much.
//
// Precision: float32 exps come from a vectorizable polynomial (2 ulp); sums
// accumulate in float per block of 1024 logits, then in double, so a
// 32000-class row in float32 matches float64 to ~1e-7.
//
// Measured (bench/bench_loss.py, float32, one thread; more in its header):
// the first version called libm expf per element and accumulated in double:
// 16 ms for a (1024, 1000) forward on every ISA, slower than numpy's SIMD exp
// (1.3 ms for the log-sum-exp alone). The vector polynomial exp in
// loss_impl.h: 0.43 ms AVX-512, 0.58 ms AVX2, 2.7 ms generic; PyTorch 2.13
// CPU takes 0.62 ms for the same forward.
#include "cpu/loss.h"

#include "common/dispatch.h"

namespace nerve::cpu {

template <class T>
void cross_entropy_forward(T* loss, double* lse, const T* logits, const int64_t* target, const T* weight, int64_t N,
                           int64_t C, int64_t ignore_index, double label_smoothing) {
  pick<LossKernels, T>().forward(loss, lse, logits, target, weight, N, C, ignore_index, label_smoothing);
}

template <class T>
void cross_entropy_backward(T* grad_logits, const T* grad_loss, const T* logits, const double* lse,
                            const int64_t* target, const T* weight, int64_t N, int64_t C, int64_t ignore_index,
                            double label_smoothing) {
  pick<LossKernels, T>().backward(grad_logits, grad_loss, logits, lse, target, weight, N, C, ignore_index,
                                  label_smoothing);
}

template void cross_entropy_forward<float>(float*, double*, const float*, const int64_t*, const float*, int64_t,
                                           int64_t, int64_t, double);
template void cross_entropy_forward<double>(double*, double*, const double*, const int64_t*, const double*, int64_t,
                                            int64_t, int64_t, double);
template void cross_entropy_backward<float>(float*, const float*, const float*, const double*, const int64_t*,
                                            const float*, int64_t, int64_t, int64_t, double);
template void cross_entropy_backward<double>(double*, const double*, const double*, const double*, const int64_t*,
                                             const double*, int64_t, int64_t, int64_t, double);

}  // namespace nerve::cpu
