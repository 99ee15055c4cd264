// The activation launchers of nerve._cuda (cuda/activation.cu): same
// arguments and semantics as cpu/activation.h, on device pointers, launched
// on `stream`. Contiguous arrays of n elements; out may alias x.
#pragma once
#include <cstdint>

#include "contract/activation.h"
#include "cuda/stream.h"

namespace nerve::cuda {

template <class T>
void gelu_forward(T* out, const T* x, int64_t n, GeluMode mode, Stream stream);

// grad_x = grad * gelu'(x)
template <class T>
void gelu_backward(T* grad_x, const T* grad, const T* x, int64_t n, GeluMode mode, Stream stream);

// out = 1 / (1 + exp(-x)), without overflow for large |x|.
template <class T>
void sigmoid_forward(T* out, const T* x, int64_t n, Stream stream);

}  // namespace nerve::cuda
