// Pooling 2-D kernel API (NCHW), PyTorch semantics. See pool.cpp.
//
//   x (N, C, H, W) -> y (N, C, OH, OW); max pooling also writes, per output,
//   the flat index ih * W + iw of the maximum inside its (H, W) plane, which
//   its backward scatters through.
//
// Kernels overwrite their outputs and assume checked, contiguous arrays
// (bind/pool.cpp checks, including that max-pool indices lie in [0, H*W)).
#pragma once
#include <cstdint>

namespace nerve::cpu {

struct Pool2dShape {
  int64_t N, C, H, W;  // input
  int64_t OH, OW;      // output
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;  // unused by the adaptive kernels
};

// PyTorch's pooling output length: floor (or ceil with ceil_mode) of the
// window count, where with ceil_mode the last window must start inside the
// input or its left padding. 0 when not even one window fits.
inline int64_t pool_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dilation, bool ceil_mode) {
  const int64_t span = in + 2 * pad - dilation * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  if (span < 0) return 0;
  int64_t out = span / stride + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// y = max over each window (NaN wins, as in PyTorch), idx = where it was.
template <class T>
void max_pool2d_forward(const Pool2dShape& s, T* y, int64_t* idx, const T* x);

// dx = 0, then dx[n, c, idx] += dy for every output.
template <class T>
void max_pool2d_backward(const Pool2dShape& s, T* dx, const T* dy, const int64_t* idx);

// y = mean over each window (dilation must be 1). The divisor is
// divisor_override when > 0, else the window size clipped to the padded input
// (count_include_pad) or to the input itself.
template <class T>
void avg_pool2d_forward(const Pool2dShape& s, T* y, const T* x, bool count_include_pad, int64_t divisor_override);

template <class T>
void avg_pool2d_backward(const Pool2dShape& s, T* dx, const T* dy, bool count_include_pad, int64_t divisor_override);

// Output (oh, ow) averages rows [floor(oh*H/OH), ceil((oh+1)*H/OH)) and the same for columns.
template <class T>
void adaptive_avg_pool2d_forward(const Pool2dShape& s, T* y, const T* x);

template <class T>
void adaptive_avg_pool2d_backward(const Pool2dShape& s, T* dx, const T* dy);

}  // namespace nerve::cpu
