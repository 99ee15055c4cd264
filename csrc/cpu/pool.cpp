// Pooling 2-D (NCHW): max (with indices), average and adaptive average,
// forward and backward, PyTorch semantics (see pool.h).
//
// Algorithm: one (n, c) plane at a time, planes split over OpenMP threads
// (a plane is independent in every pass, so backward scatters need no
// atomics). Each output computes its clipped window bounds once and loops
// over it. Pooling is memory-bound (a 2x2/2 max pool reads 4 values per
// output), so the loops are plain C++ compiled with baseline flags; there are
// no per-ISA variants. Outputs are overwritten; backward zeroes dx first.
// Measured (1 thread, float32, 32x64x32x32, ms; nerve / PyTorch 2.13): max
// 2x2 9.9 / 11.3, max 3x3 s2 p1 14.4 / 16.0, avg 2x2 2.8 / 3.7, adaptive to
// 1x1 0.29 / 0.11 (1.64 before the SIMD row sums).
// A DenormalGuard is held by the caller thread and every worker.
#include "cpu/pool.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "common/denormal.h"
#include "common/parallel.h"

namespace nerve::cpu {
namespace {

// Runs f(plane) for every (n, c) plane in parallel; `per_plane` is its cost.
template <class F>
void for_planes(const Pool2dShape& s, int64_t per_plane, F&& f) {
  parallel_for(s.N * s.C, s.N * s.C * per_plane, [&](int64_t q0, int64_t q1) {
    DenormalGuard g;
    for (int64_t q = q0; q < q1; ++q) f(q);
  });
}

template <class T>
void zero(T* p, int64_t n) {
  if (n > 0) std::memset(p, 0, static_cast<size_t>(n) * sizeof(T));
}

// Window of output o along one axis, PyTorch's avg_pool2d rule: [lo, hi)
// clipped to the input, and `padded` = its length clipped to the padded input.
struct AvgWindow {
  int64_t lo, hi, padded;
};

AvgWindow avg_window(int64_t o, int64_t k, int64_t stride, int64_t pad, int64_t in) {
  int64_t lo = o * stride - pad, hi = std::min(lo + k, in + pad);
  const int64_t padded = hi - lo;
  return {std::max<int64_t>(lo, 0), std::min(hi, in), padded};
}

int64_t adaptive_start(int64_t o, int64_t out, int64_t in) { return (o * in) / out; }
int64_t adaptive_end(int64_t o, int64_t out, int64_t in) { return ((o + 1) * in + out - 1) / out; }

}  // namespace

template <class T>
void max_pool2d_forward(const Pool2dShape& s, T* y, int64_t* idx, const T* x) {
  DenormalGuard guard;
  const int64_t HW = s.H * s.W, P = s.OH * s.OW;
  for_planes(s, P * s.kh * s.kw, [&](int64_t q) {
    const T* xp = x + q * HW;
    T* yp = y + q * P;
    int64_t* ip = idx + q * P;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      int64_t h0 = oh * s.sh - s.ph;
      const int64_t h1 = std::min(h0 + (s.kh - 1) * s.dh + 1, s.H);
      while (h0 < 0) h0 += s.dh;
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        int64_t w0 = ow * s.sw - s.pw;
        const int64_t w1 = std::min(w0 + (s.kw - 1) * s.dw + 1, s.W);
        while (w0 < 0) w0 += s.dw;
        T best = -std::numeric_limits<T>::infinity();
        int64_t at = h0 * s.W + w0;
        for (int64_t h = h0; h < h1; h += s.dh) {
          for (int64_t w = w0; w < w1; w += s.dw) {
            // Selects, not a branch (`v > best` is random on random data); measured
            // the same as the branchy form here: the window loop itself dominates.
            const T v = xp[h * s.W + w];
            const bool take = v > best || v != v;  // v != v: NaN wins, as in PyTorch
            best = take ? v : best;
            at = take ? h * s.W + w : at;
          }
        }
        yp[oh * s.OW + ow] = best;
        ip[oh * s.OW + ow] = at;
      }
    }
  });
}

template <class T>
void max_pool2d_backward(const Pool2dShape& s, T* dx, const T* dy, const int64_t* idx) {
  DenormalGuard guard;
  const int64_t HW = s.H * s.W, P = s.OH * s.OW;
  for_planes(s, P + HW, [&](int64_t q) {
    T* dxp = dx + q * HW;
    zero(dxp, HW);
    const T* dyp = dy + q * P;
    const int64_t* ip = idx + q * P;
    for (int64_t p = 0; p < P; ++p) dxp[ip[p]] += dyp[p];
  });
}

template <class T>
void avg_pool2d_forward(const Pool2dShape& s, T* y, const T* x, bool count_include_pad, int64_t divisor_override) {
  DenormalGuard guard;
  const int64_t HW = s.H * s.W, P = s.OH * s.OW;
  for_planes(s, P * s.kh * s.kw, [&](int64_t q) {
    const T* xp = x + q * HW;
    T* yp = y + q * P;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const AvgWindow wh = avg_window(oh, s.kh, s.sh, s.ph, s.H);
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const AvgWindow ww = avg_window(ow, s.kw, s.sw, s.pw, s.W);
        T sum = 0;
        for (int64_t h = wh.lo; h < wh.hi; ++h)
          for (int64_t w = ww.lo; w < ww.hi; ++w) sum += xp[h * s.W + w];
        const int64_t count = (wh.hi - wh.lo) * (ww.hi - ww.lo);
        const int64_t div = divisor_override > 0 ? divisor_override : count_include_pad ? wh.padded * ww.padded : count;
        yp[oh * s.OW + ow] = count > 0 ? sum / static_cast<T>(div) : T(0);
      }
    }
  });
}

template <class T>
void avg_pool2d_backward(const Pool2dShape& s, T* dx, const T* dy, bool count_include_pad, int64_t divisor_override) {
  DenormalGuard guard;
  const int64_t HW = s.H * s.W, P = s.OH * s.OW;
  for_planes(s, P * s.kh * s.kw + HW, [&](int64_t q) {
    T* dxp = dx + q * HW;
    zero(dxp, HW);
    const T* dyp = dy + q * P;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const AvgWindow wh = avg_window(oh, s.kh, s.sh, s.ph, s.H);
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const AvgWindow ww = avg_window(ow, s.kw, s.sw, s.pw, s.W);
        const int64_t count = (wh.hi - wh.lo) * (ww.hi - ww.lo);
        if (count == 0) continue;
        const int64_t div = divisor_override > 0 ? divisor_override : count_include_pad ? wh.padded * ww.padded : count;
        const T g = dyp[oh * s.OW + ow] / static_cast<T>(div);
        for (int64_t h = wh.lo; h < wh.hi; ++h)
          for (int64_t w = ww.lo; w < ww.hi; ++w) dxp[h * s.W + w] += g;
      }
    }
  });
}

template <class T>
void adaptive_avg_pool2d_forward(const Pool2dShape& s, T* y, const T* x) {
  DenormalGuard guard;
  const int64_t HW = s.H * s.W, P = s.OH * s.OW;
  for_planes(s, P + HW, [&](int64_t q) {
    const T* xp = x + q * HW;
    T* yp = y + q * P;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, s.OH, s.H), h1 = adaptive_end(oh, s.OH, s.H);
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, s.OW, s.W), w1 = adaptive_end(ow, s.OW, s.W);
        T sum = 0;
        for (int64_t h = h0; h < h1; ++h) {
          const T* xr = xp + h * s.W;
#pragma omp simd reduction(+ : sum)
          for (int64_t w = w0; w < w1; ++w) sum += xr[w];  // SIMD partial sums: global pooling reads whole rows
        }
        yp[oh * s.OW + ow] = sum / static_cast<T>((h1 - h0) * (w1 - w0));
      }
    }
  });
}

template <class T>
void adaptive_avg_pool2d_backward(const Pool2dShape& s, T* dx, const T* dy) {
  DenormalGuard guard;
  const int64_t HW = s.H * s.W, P = s.OH * s.OW;
  for_planes(s, P + 2 * HW, [&](int64_t q) {
    T* dxp = dx + q * HW;
    zero(dxp, HW);
    const T* dyp = dy + q * P;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, s.OH, s.H), h1 = adaptive_end(oh, s.OH, s.H);
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, s.OW, s.W), w1 = adaptive_end(ow, s.OW, s.W);
        const T g = dyp[oh * s.OW + ow] / static_cast<T>((h1 - h0) * (w1 - w0));
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) dxp[h * s.W + w] += g;
      }
    }
  });
}

#define NERVE_POOL_INSTANTIATE(T)                                                                        \
  template void max_pool2d_forward<T>(const Pool2dShape&, T*, int64_t*, const T*);                      \
  template void max_pool2d_backward<T>(const Pool2dShape&, T*, const T*, const int64_t*);               \
  template void avg_pool2d_forward<T>(const Pool2dShape&, T*, const T*, bool, int64_t);                 \
  template void avg_pool2d_backward<T>(const Pool2dShape&, T*, const T*, bool, int64_t);                \
  template void adaptive_avg_pool2d_forward<T>(const Pool2dShape&, T*, const T*);                       \
  template void adaptive_avg_pool2d_backward<T>(const Pool2dShape&, T*, const T*);
NERVE_POOL_INSTANTIATE(float)
NERVE_POOL_INSTANTIATE(double)

}  // namespace nerve::cpu
