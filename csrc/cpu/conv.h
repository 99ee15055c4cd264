// Convolution kernel API (NCHW, PyTorch layouts). See conv.cpp for the algorithm.
//
//   x  (N, C, H, W)          input
//   w  (K, C/groups, kh, kw) weight
//   b  (K,)                  bias, may be null
//   y  (N, K, OH, OW)        output, OH = (H + 2*ph - dh*(kh-1) - 1) / sh + 1
//
// Every kernel overwrites its outputs (nothing is accumulated into them) and
// assumes contiguous, correctly sized, non-overlapping arrays: bind/conv.cpp
// checks that. A transposed convolution is these same kernels with the roles
// swapped (python/nerve/backend/cpu.py): its forward is conv2d_backward_input.
#pragma once
#include <cstdint>

namespace nerve::cpu {

struct Conv2dShape {
  int64_t N, C, H, W;   // input
  int64_t K, kh, kw;    // weight: (K, C / groups, kh, kw)
  int64_t OH, OW;       // output
  int64_t sh, sw, ph, pw, dh, dw;
  int64_t groups;
};

// Output length of a convolution along one axis (0 when the kernel does not fit).
inline int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dilation) {
  const int64_t span = in + 2 * pad - dilation * (k - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

// y = conv(x, w) + b
template <class T>
void conv2d_forward(const Conv2dShape& s, T* y, const T* x, const T* w, const T* b);

// dx = d(sum(dy * y)) / dx
template <class T>
void conv2d_backward_input(const Conv2dShape& s, T* dx, const T* dy, const T* w);

// dw = d(sum(dy * y)) / dw, db = sum of dy over (N, OH, OW) when db is not null
template <class T>
void conv2d_backward_weight(const Conv2dShape& s, T* dw, T* db, const T* x, const T* dy);

// The direct (depthwise) convolution loops of one ISA (conv_impl.h, compiled
// per ISA; conv.cpp picks one with common/dispatch.h). Each works on one
// (image, output channel) plane against a zero-padded input plane of
// (H + 2*ph, W + 2*pw); see conv_impl.h for what each computes.
template <class T>
struct ConvKernels {
  void (*depthwise_forward)(const Conv2dShape& s, T* y, const T* xp, const T* w, T bias);
  void (*depthwise_backward_input)(const Conv2dShape& s, T* dxp, const T* dy, const T* w);
  void (*depthwise_backward_weight)(const Conv2dShape& s, T* dw, const T* xp, const T* dyp);
};

}  // namespace nerve::cpu
