// The batch norm loops, compiled once per ISA (CMakeLists.txt generates one
// translation unit per ISA that includes this file; common/dispatch.h has the
// pattern), so the double accumulations of the statistics passes run on 2
// (generic), 4 (AVX2) or 8 (AVX-512) lanes. No std:: templates here (weak
// symbols, see dispatch.h). The math and the measurements: batch_norm.cpp.
#include <cmath>
#include <cstdint>

#include "common/denormal.h"
#include "common/dispatch.h"
#include "common/parallel.h"
#include "cpu/batch_norm.h"

namespace {



// ---- channels-innermost path: small L (BatchNorm1d on (N, C), short sequences).
// With L small the per-channel loops above walk x with stride C*L and run
// vector loops of length L: 8-12x slower than PyTorch on (256, 1024). Here a
// row n is read as K = C*L contiguous columns; each thread takes a range of
// channels and walks it in tiles of <= kTile columns, doing every pass of the
// tile (sums, squared deviations, output) over all N rows before the next, so
// the tile (N * kTile * sizeof(T) bytes) is read from memory once and the
// per-column double accumulators stay in L1. Per-column sums are folded
// into the per-channel sum (over its L columns) in double: the same two-pass
// double-accumulated statistics as the per-channel path, only summed in a
// different order.
constexpr int64_t kColsMaxL = 16;  // L below this takes the column path
constexpr int64_t kTile = 256;     // columns per tile

template <class T>
void forward_columns(int64_t N, int64_t C, int64_t L, T* y, T* save_mean, T* save_invstd, T* running_mean,
                     T* running_var, const T* x, const T* weight, const T* bias, bool training, double momentum,
                     double eps) {
  const int64_t K = C * L, M = N * L;
  nerve::parallel_for(C, 3 * N * K, [&](int64_t c0, int64_t c1) {
    nerve::DenormalGuard g;
    const int64_t tile_c = (L < kTile ? kTile / L : 1);
    alignas(64) double s[kTile], q[kTile];
    alignas(64) T sc[kTile], sh[kTile];
    for (int64_t cb = c0; cb < c1; cb += tile_c) {
      const int64_t ce = (cb + tile_c < c1 ? cb + tile_c : c1), k0 = cb * L, kw = (ce - cb) * L;
      if (training) {
        for (int64_t k = 0; k < kw; ++k) s[k] = 0;
        int64_t n = 0;
        for (; n + 4 <= N; n += 4) {  // 4 rows a step: one load/store of the accumulator per 4 values
          const T* __restrict x0 = x + n * K + k0;
#pragma omp simd
          for (int64_t k = 0; k < kw; ++k)
            s[k] += (static_cast<double>(x0[k]) + static_cast<double>(x0[K + k])) +
                    (static_cast<double>(x0[2 * K + k]) + static_cast<double>(x0[3 * K + k]));
        }
        for (; n < N; ++n) {
          const T* __restrict xr = x + n * K + k0;
#pragma omp simd
          for (int64_t k = 0; k < kw; ++k) s[k] += static_cast<double>(xr[k]);
        }
        for (int64_t c = cb; c < ce; ++c) {  // the channel's mean, in every one of its columns
          double sum = 0;
          for (int64_t l = 0; l < L; ++l) sum += s[(c - cb) * L + l];
          const double mean = M > 0 ? sum / static_cast<double>(M) : 0.0;
          for (int64_t l = 0; l < L; ++l) s[(c - cb) * L + l] = mean;
        }
        for (int64_t k = 0; k < kw; ++k) q[k] = 0;
        for (n = 0; n + 4 <= N; n += 4) {
          const T* __restrict x0 = x + n * K + k0;
#pragma omp simd
          for (int64_t k = 0; k < kw; ++k) {
            const double m = s[k];
            const double d0 = static_cast<double>(x0[k]) - m, d1 = static_cast<double>(x0[K + k]) - m;
            const double d2 = static_cast<double>(x0[2 * K + k]) - m, d3 = static_cast<double>(x0[3 * K + k]) - m;
            q[k] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3);
          }
        }
        for (; n < N; ++n) {
          const T* __restrict xr = x + n * K + k0;
#pragma omp simd
          for (int64_t k = 0; k < kw; ++k) {
            const double d = static_cast<double>(xr[k]) - s[k];
            q[k] += d * d;
          }
        }
      }
      for (int64_t c = cb; c < ce; ++c) {
        const int64_t j = (c - cb) * L;
        double mean, var;
        if (training) {
          mean = s[j];
          double ss = 0;
          for (int64_t l = 0; l < L; ++l) ss += q[j + l];
          var = M > 0 ? ss / static_cast<double>(M) : 0.0;
          if (running_mean && M > 0) {
            running_mean[c] = static_cast<T>((1 - momentum) * running_mean[c] + momentum * mean);
            const double unbiased = M > 1 ? ss / static_cast<double>(M - 1) : var;
            running_var[c] = static_cast<T>((1 - momentum) * running_var[c] + momentum * unbiased);
          }
        } else {
          mean = running_mean[c];
          var = running_var[c];
        }
        const double invstd = 1.0 / std::sqrt(var + eps);
        save_mean[c] = static_cast<T>(mean);
        save_invstd[c] = static_cast<T>(invstd);
        const double scd = (weight ? static_cast<double>(weight[c]) : 1.0) * invstd;
        const T scale = static_cast<T>(scd);
        const T shift = static_cast<T>((bias ? static_cast<double>(bias[c]) : 0.0) - mean * scd);
        for (int64_t l = 0; l < L; ++l) {
          sc[j + l] = scale;
          sh[j + l] = shift;
        }
      }
      for (int64_t n = 0; n < N; ++n) {
        const T* __restrict xr = x + n * K + k0;
        T* __restrict yr = y + n * K + k0;
#pragma omp simd
        for (int64_t k = 0; k < kw; ++k) yr[k] = xr[k] * sc[k] + sh[k];
      }
    }
  });
}

template <class T>
void backward_columns(int64_t N, int64_t C, int64_t L, T* grad_input, T* grad_weight, T* grad_bias,
                      const T* grad_output, const T* x, const T* weight, const T* save_mean, const T* save_invstd,
                      bool training) {
  const int64_t K = C * L, M = N * L;
  const bool need_sums = grad_weight || grad_bias || (training && grad_input);
  nerve::parallel_for(C, 3 * N * K, [&](int64_t c0, int64_t c1) {
    nerve::DenormalGuard g;
    const int64_t tile_c = (L < kTile ? kTile / L : 1);
    alignas(64) double sdy[kTile], sdx[kTile], mcol[kTile];
    alignas(64) T ta[kTile], tb[kTile], td[kTile];
    for (int64_t cb = c0; cb < c1; cb += tile_c) {
      const int64_t ce = (cb + tile_c < c1 ? cb + tile_c : c1), k0 = cb * L, kw = (ce - cb) * L;
      for (int64_t c = cb; c < ce; ++c)
        for (int64_t l = 0; l < L; ++l) mcol[(c - cb) * L + l] = save_mean[c];
      for (int64_t k = 0; k < kw; ++k) sdy[k] = sdx[k] = 0;
      if (need_sums) {
        int64_t n = 0;
        for (; n + 2 <= N; n += 2) {  // 2 rows a step: one load/store of the accumulators per 2 values
          const T* __restrict x0 = x + n * K + k0;
          const T* __restrict dy0 = grad_output + n * K + k0;
#pragma omp simd
          for (int64_t k = 0; k < kw; ++k) {
            const double a0 = static_cast<double>(dy0[k]), a1 = static_cast<double>(dy0[K + k]);
            sdy[k] += a0 + a1;
            sdx[k] += a0 * (static_cast<double>(x0[k]) - mcol[k]) + a1 * (static_cast<double>(x0[K + k]) - mcol[k]);
          }
        }
        for (; n < N; ++n) {
          const T* __restrict xr = x + n * K + k0;
          const T* __restrict dyr = grad_output + n * K + k0;
#pragma omp simd
          for (int64_t k = 0; k < kw; ++k) {
            const double dy = static_cast<double>(dyr[k]);
            sdy[k] += dy;
            sdx[k] += dy * (static_cast<double>(xr[k]) - mcol[k]);
          }
        }
      }
      for (int64_t c = cb; c < ce; ++c) {
        const int64_t j = (c - cb) * L;
        double sum_dy = 0, sum_dy_xc = 0;
        for (int64_t l = 0; l < L; ++l) {
          sum_dy += sdy[j + l];
          sum_dy_xc += sdx[j + l];
        }
        const double mean = save_mean[c], invstd = save_invstd[c];
        if (grad_weight) grad_weight[c] = static_cast<T>(sum_dy_xc * invstd);
        if (grad_bias) grad_bias[c] = static_cast<T>(sum_dy);
        const double a = (weight ? static_cast<double>(weight[c]) : 1.0) * invstd;
        double b = 0, d = 0;
        if (training && M > 0) {
          b = -a * invstd * invstd * sum_dy_xc / static_cast<double>(M);
          d = -a * sum_dy / static_cast<double>(M) - b * mean;
        }
        for (int64_t l = 0; l < L; ++l) {
          ta[j + l] = static_cast<T>(a);
          tb[j + l] = static_cast<T>(b);
          td[j + l] = static_cast<T>(d);
        }
      }
      if (!grad_input) continue;
      for (int64_t n = 0; n < N; ++n) {
        const T* __restrict xr = x + n * K + k0;
        const T* __restrict dyr = grad_output + n * K + k0;
        T* __restrict dxr = grad_input + n * K + k0;
        if (training) {
#pragma omp simd
          for (int64_t k = 0; k < kw; ++k) dxr[k] = ta[k] * dyr[k] + tb[k] * xr[k] + td[k];
        } else {  // eval: x not read (see batch_norm_backward)
#pragma omp simd
          for (int64_t k = 0; k < kw; ++k) dxr[k] = ta[k] * dyr[k];
        }
      }
    }
  });
}

template <class T>
void forward(int64_t N, int64_t C, int64_t L, T* y, T* save_mean, T* save_invstd, T* running_mean,
                        T* running_var, const T* x, const T* weight, const T* bias, bool training, double momentum,
                        double eps) {
  nerve::DenormalGuard guard;
  if (L < kColsMaxL) {
    forward_columns(N, C, L, y, save_mean, save_invstd, running_mean, running_var, x, weight, bias, training,
                    momentum, eps);
    return;
  }
  const int64_t M = N * L;
  nerve::parallel_for(C, 3 * N * C * L, [&](int64_t c0, int64_t c1) {
    nerve::DenormalGuard g;
    for (int64_t c = c0; c < c1; ++c) {
      double mean, var;
      if (training) {
        double sum = 0;
        for (int64_t n = 0; n < N; ++n) {
          const T* xr = x + (n * C + c) * L;
#pragma omp simd reduction(+ : sum)
          for (int64_t l = 0; l < L; ++l) sum += static_cast<double>(xr[l]);
        }
        mean = M > 0 ? sum / static_cast<double>(M) : 0.0;
        double ss = 0;
        for (int64_t n = 0; n < N; ++n) {
          const T* xr = x + (n * C + c) * L;
#pragma omp simd reduction(+ : ss)
          for (int64_t l = 0; l < L; ++l) {
            const double d = static_cast<double>(xr[l]) - mean;
            ss += d * d;
          }
        }
        var = M > 0 ? ss / static_cast<double>(M) : 0.0;
        if (running_mean && M > 0) {
          running_mean[c] = static_cast<T>((1 - momentum) * running_mean[c] + momentum * mean);
          const double unbiased = M > 1 ? ss / static_cast<double>(M - 1) : var;
          running_var[c] = static_cast<T>((1 - momentum) * running_var[c] + momentum * unbiased);
        }
      } else {
        mean = running_mean[c];
        var = running_var[c];
      }
      const double invstd = 1.0 / std::sqrt(var + eps);
      save_mean[c] = static_cast<T>(mean);
      save_invstd[c] = static_cast<T>(invstd);
      const double sc = (weight ? static_cast<double>(weight[c]) : 1.0) * invstd;
      const T scale = static_cast<T>(sc);
      const T shift = static_cast<T>((bias ? static_cast<double>(bias[c]) : 0.0) - mean * sc);
      for (int64_t n = 0; n < N; ++n) {
        const T* __restrict xr = x + (n * C + c) * L;
        T* __restrict yr = y + (n * C + c) * L;
        for (int64_t l = 0; l < L; ++l) yr[l] = xr[l] * scale + shift;
      }
    }
  });
}

template <class T>
void backward(int64_t N, int64_t C, int64_t L, T* grad_input, T* grad_weight, T* grad_bias,
                         const T* grad_output, const T* x, const T* weight, const T* save_mean, const T* save_invstd,
                         bool training) {
  nerve::DenormalGuard guard;
  if (L < kColsMaxL) {
    backward_columns(N, C, L, grad_input, grad_weight, grad_bias, grad_output, x, weight, save_mean, save_invstd,
                     training);
    return;
  }
  const int64_t M = N * L;
  nerve::parallel_for(C, 3 * N * C * L, [&](int64_t c0, int64_t c1) {
    nerve::DenormalGuard g;
    for (int64_t c = c0; c < c1; ++c) {
      const double mean = save_mean[c], invstd = save_invstd[c];
      double sum_dy = 0, sum_dy_xc = 0;  // sum dy, sum dy * (x - mean)
      for (int64_t n = 0; n < N; ++n) {
        const T* xr = x + (n * C + c) * L;
        const T* dyr = grad_output + (n * C + c) * L;
#pragma omp simd reduction(+ : sum_dy, sum_dy_xc)
        for (int64_t l = 0; l < L; ++l) {
          sum_dy += static_cast<double>(dyr[l]);
          sum_dy_xc += static_cast<double>(dyr[l]) * (static_cast<double>(xr[l]) - mean);
        }
      }
      if (grad_weight) grad_weight[c] = static_cast<T>(sum_dy_xc * invstd);
      if (grad_bias) grad_bias[c] = static_cast<T>(sum_dy);
      if (!grad_input) continue;
      const double w = weight ? static_cast<double>(weight[c]) : 1.0;
      // dx = a * dy + b * x + d, with a = w * invstd and, in training,
      // b = -a * invstd^2 * sum_dy_xc / M, d = -a * sum_dy / M - b * mean.
      const double a = w * invstd;
      double b = 0, d = 0;
      if (training && M > 0) {
        b = -a * invstd * invstd * sum_dy_xc / static_cast<double>(M);
        d = -a * sum_dy / static_cast<double>(M) - b * mean;
      }
      const T ta = static_cast<T>(a), tb = static_cast<T>(b), td = static_cast<T>(d);
      for (int64_t n = 0; n < N; ++n) {
        const T* __restrict xr = x + (n * C + c) * L;
        const T* __restrict dyr = grad_output + (n * C + c) * L;
        T* __restrict dxr = grad_input + (n * C + c) * L;
        if (training) {
          for (int64_t l = 0; l < L; ++l) dxr[l] = ta * dyr[l] + tb * xr[l] + td;
        } else {  // x not read: 0 * NaN/Inf would poison the eval gradient (PyTorch: dy * w * invstd)
          for (int64_t l = 0; l < L; ++l) dxr[l] = ta * dyr[l];
        }
      }
    }
  });
}

using Kernels = nerve::Typed<nerve::cpu::BatchNormKernels>;
constexpr Kernels kKernels{{forward<float>, backward<float>}, {forward<double>, backward<double>}};

}  // namespace
