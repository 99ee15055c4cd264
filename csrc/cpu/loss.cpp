// Fused softmax cross-entropy (forward and backward) over rows of (N, C)
// contiguous logits, float32 or float64, one row per loop iteration,
// OpenMP over rows via parallel_for (a small batch stays on one thread).
//
// Forward, per row, two passes over the C logits:
//   1. m = max_c x_c
//   2. s = sum_c exp(x_c - m) and, for label smoothing, d = sum_c w_c (m - x_c)
//   lse = m + log s; nll = lse - x_t;
//   smooth = sum_c w_c (lse - x_c) = W log s + d   (every term >= 0: no
//   cancellation, so logits of +-1e4 give exact, finite losses).
// exp runs in T (expf for float32); sums accumulate in double, so a
// 50k-class row in float32 loses no more than one rounding per element.
// Backward recomputes p_c = exp(x_c - lse) from the saved lse (one pass, no
// (N, C) softmax kept between forward and backward). lse is saved in double:
// a float32 lse of 1e4 is off by up to 5e-4, which made p (and the gradient
// of logits of +-1e4) off by as much. Backward writes
//   g ((1 - eps) w_t (p_c - [c == t]) + eps / C (W p_c - w_c)).
// The exp calls are scalar libm (no -ffast-math, so no libmvec); one build
// for every ISA: bench/bench_loss.py measures it against numpy and torch.
#include "cpu/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/denormal.h"
#include "common/parallel.h"

namespace nerve::cpu {
namespace {

constexpr int64_t kCostPerElement = 24;  // an exp and a few flops per logit, per pass

template <class T>
double weight_sum(const T* weight, int64_t C) {
  if (!weight) return static_cast<double>(C);
  double W = 0;
  for (int64_t c = 0; c < C; ++c) W += weight[c];
  return W;
}

}  // namespace

template <class T>
void cross_entropy_forward(T* loss, double* lse, const T* logits, const int64_t* target, const T* weight, int64_t N,
                           int64_t C, int64_t ignore_index, double label_smoothing) {
  const double eps = label_smoothing, W = weight_sum(weight, C);
  parallel_for(N, N * C * kCostPerElement, [&](int64_t begin, int64_t end) {
    DenormalGuard guard;
    for (int64_t i = begin; i < end; ++i) {
      const T* x = logits + i * C;
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t c = 0; c < C; ++c) m = std::max(m, x[c]);
      // A row of -inf (or all +inf) has no finite max: shift by 0 so the result is nan/inf, never garbage.
      const double shift = std::isfinite(m) ? double(m) : 0.0;
      const T shift_t = static_cast<T>(shift);
      double s = 0, d = 0;
      for (int64_t c = 0; c < C; ++c) {
        s += std::exp(x[c] - shift_t);
        if (eps != 0) d += (weight ? double(weight[c]) : 1.0) * (shift - double(x[c]));
      }
      const double log_s = std::log(s), row_lse = shift + log_s;
      lse[i] = row_lse;
      const int64_t t = target[i];
      if (t == ignore_index) {
        loss[i] = T(0);
        continue;
      }
      const double wt = weight ? double(weight[t]) : 1.0;
      const double nll = row_lse - double(x[t]);
      loss[i] = static_cast<T>((1 - eps) * wt * nll + (eps != 0 ? eps / double(C) * (W * log_s + d) : 0.0));
    }
  });
}

template <class T>
void cross_entropy_backward(T* grad_logits, const T* grad_loss, const T* logits, const double* lse, const int64_t* target,
                            const T* weight, int64_t N, int64_t C, int64_t ignore_index, double label_smoothing) {
  const double eps = label_smoothing, W = weight_sum(weight, C);
  parallel_for(N, N * C * kCostPerElement, [&](int64_t begin, int64_t end) {
    DenormalGuard guard;
    for (int64_t i = begin; i < end; ++i) {
      T* gx = grad_logits + i * C;
      const int64_t t = target[i];
      if (t == ignore_index) {
        std::fill(gx, gx + C, T(0));
        continue;
      }
      const T* x = logits + i * C;
      const double g = grad_loss[i], row_lse = lse[i];
      const double wt = weight ? double(weight[t]) : 1.0;
      // d loss / d x_c = a p_c - b_c with a = (1 - eps) w_t + eps W / C, b_c = eps w_c / C (+ (1 - eps) w_t at c = t).
      const double a = g * ((1 - eps) * wt + eps * W / double(C));
      const double b = g * eps / double(C);
      for (int64_t c = 0; c < C; ++c) {
        // x - lse is exact in double; exp of its rounding to T errs by |x - lse| ulp, tiny wherever p matters.
        const double p = std::exp(static_cast<T>(double(x[c]) - row_lse));
        gx[c] = static_cast<T>(a * p - b * (weight ? double(weight[c]) : 1.0));
      }
      // The target column again, all in double: p_t is near 1 for a confident model.
      gx[t] = static_cast<T>(a * std::exp(double(x[t]) - row_lse) - b * wt - g * (1 - eps) * wt);
    }
  });
}

template void cross_entropy_forward<float>(float*, double*, const float*, const int64_t*, const float*, int64_t, int64_t,
                                           int64_t, double);
template void cross_entropy_forward<double>(double*, double*, const double*, const int64_t*, const double*, int64_t,
                                            int64_t, int64_t, double);
template void cross_entropy_backward<float>(float*, const float*, const float*, const double*, const int64_t*,
                                            const float*, int64_t, int64_t, int64_t, double);
template void cross_entropy_backward<double>(double*, const double*, const double*, const double*, const int64_t*,
                                             const double*, int64_t, int64_t, int64_t, double);

}  // namespace nerve::cpu
