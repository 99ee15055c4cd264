// Direct convolution loops for one (image, channel) plane, compiled once per
// ISA: conv.cpp (baseline flags), conv_avx2.cpp and conv_avx512.cpp include
// this file, so the compiler vectorizes the row loops for that ISA, and the
// anonymous namespace keeps the copies apart at link time. No standard-library
// templates here: an instantiation compiled with AVX-512 flags could otherwise
// be picked by the linker for the baseline path.
//
// Used for depthwise convolution (one input channel per group), where
// im2col + GEMM would be a GEMM with M = channel multiplier and K = kh*kw,
// i.e. all packing overhead. Each (i, j) kernel tap is an axpy over output
// rows: y[oh, ow] += w[i, j] * x[oh*sh + i*dh - ph, ow*sw + j*dw - pw], with
// the valid (oh, ow) range computed up front so the inner loop has no
// branches and, for stride 1, unit-stride loads the compiler turns into SIMD.
#pragma once
#include <cstdint>

#include "cpu/conv.h"

namespace {

using nerve::cpu::Conv2dShape;

// Output positions o in [lo, hi) with input position o * stride + off in [0, in).
inline void valid_range(int64_t off, int64_t stride, int64_t in, int64_t out, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  hi = in - 1 - off < 0 ? 0 : (in - 1 - off) / stride + 1;
  if (hi > out) hi = out;
  if (lo > hi) lo = hi;
}

// y (OH, OW) = bias + sum_ij w[i, j] * shifted x (H, W)
template <class T>
void dw_forward_plane(const Conv2dShape& s, T* __restrict y, const T* __restrict x, const T* __restrict w, T bias) {
  for (int64_t p = 0; p < s.OH * s.OW; ++p) y[p] = bias;
  for (int64_t i = 0; i < s.kh; ++i) {
    int64_t oh0, oh1;
    valid_range(i * s.dh - s.ph, s.sh, s.H, s.OH, oh0, oh1);
    for (int64_t j = 0; j < s.kw; ++j) {
      const int64_t off = j * s.dw - s.pw;
      int64_t ow0, ow1;
      valid_range(off, s.sw, s.W, s.OW, ow0, ow1);
      const T wv = w[i * s.kw + j];
      for (int64_t oh = oh0; oh < oh1; ++oh) {
        const T* __restrict xr = x + (oh * s.sh + i * s.dh - s.ph) * s.W + off;
        T* __restrict yr = y + oh * s.OW;
        if (s.sw == 1) {
          for (int64_t ow = ow0; ow < ow1; ++ow) yr[ow] += wv * xr[ow];
        } else {
          for (int64_t ow = ow0; ow < ow1; ++ow) yr[ow] += wv * xr[ow * s.sw];
        }
      }
    }
  }
}

// dx (H, W) += the transpose of the above applied to dy (OH, OW) (accumulates:
// with a channel multiplier several output planes feed one input plane).
template <class T>
void dw_backward_input_plane(const Conv2dShape& s, T* __restrict dx, const T* __restrict dy, const T* __restrict w) {
  for (int64_t i = 0; i < s.kh; ++i) {
    int64_t oh0, oh1;
    valid_range(i * s.dh - s.ph, s.sh, s.H, s.OH, oh0, oh1);
    for (int64_t j = 0; j < s.kw; ++j) {
      const int64_t off = j * s.dw - s.pw;
      int64_t ow0, ow1;
      valid_range(off, s.sw, s.W, s.OW, ow0, ow1);
      const T wv = w[i * s.kw + j];
      for (int64_t oh = oh0; oh < oh1; ++oh) {
        T* __restrict xr = dx + (oh * s.sh + i * s.dh - s.ph) * s.W + off;
        const T* __restrict yr = dy + oh * s.OW;
        if (s.sw == 1) {
          for (int64_t ow = ow0; ow < ow1; ++ow) xr[ow] += wv * yr[ow];
        } else {
          for (int64_t ow = ow0; ow < ow1; ++ow) xr[ow * s.sw] += wv * yr[ow];
        }
      }
    }
  }
}

// dw (kh, kw) += correlation of x (H, W) with dy (OH, OW) (accumulates over images).
template <class T>
void dw_backward_weight_plane(const Conv2dShape& s, T* __restrict dw, const T* __restrict x, const T* __restrict dy) {
  for (int64_t i = 0; i < s.kh; ++i) {
    int64_t oh0, oh1;
    valid_range(i * s.dh - s.ph, s.sh, s.H, s.OH, oh0, oh1);
    for (int64_t j = 0; j < s.kw; ++j) {
      const int64_t off = j * s.dw - s.pw;
      int64_t ow0, ow1;
      valid_range(off, s.sw, s.W, s.OW, ow0, ow1);
      T acc = 0;
      for (int64_t oh = oh0; oh < oh1; ++oh) {
        const T* __restrict xr = x + (oh * s.sh + i * s.dh - s.ph) * s.W + off;
        const T* __restrict yr = dy + oh * s.OW;
        if (s.sw == 1) {
#pragma omp simd reduction(+ : acc)
          for (int64_t ow = ow0; ow < ow1; ++ow) acc += yr[ow] * xr[ow];
        } else {
#pragma omp simd reduction(+ : acc)
          for (int64_t ow = ow0; ow < ow1; ++ow) acc += yr[ow] * xr[ow * s.sw];
        }
      }
      dw[i * s.kw + j] += acc;
    }
  }
}

}  // namespace

#define NERVE_CONV_DEFINE_ISA_T(ns, T)                                                                     \
  namespace nerve::cpu::ns {                                                                               \
  void depthwise_forward_plane(const Conv2dShape& s, T* y, const T* x, const T* w, T bias) {               \
    dw_forward_plane(s, y, x, w, bias);                                                                    \
  }                                                                                                        \
  void depthwise_backward_input_plane(const Conv2dShape& s, T* dx, const T* dy, const T* w) {              \
    dw_backward_input_plane(s, dx, dy, w);                                                                 \
  }                                                                                                        \
  void depthwise_backward_weight_plane(const Conv2dShape& s, T* dw, const T* x, const T* dy) {             \
    dw_backward_weight_plane(s, dw, x, dy);                                                                \
  }                                                                                                        \
  }
#define NERVE_CONV_DEFINE_ISA(ns)      \
  NERVE_CONV_DEFINE_ISA_T(ns, float)   \
  NERVE_CONV_DEFINE_ISA_T(ns, double)
