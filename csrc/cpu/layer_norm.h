// Layer norm kernel API. x, y, dy, dx: (N, C) C-contiguous, normalized over C.
// mean, rstd: (N,), written by the forward, read by the backward.
// weight, bias, dweight, dbias: (C,) or null (elementwise_affine=False).
// Every output is overwritten (never read).
#pragma once
#include <cstdint>

namespace nerve::cpu {

// y = (x - mean) * rstd * weight + bias, rstd = 1 / sqrt(var + eps) (biased var).
template <class T>
void layer_norm_forward(T* y, T* mean, T* rstd, const T* x, const T* weight, const T* bias, int64_t N, int64_t C,
                        double eps);

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * weight;
// dweight = sum_n dy * xhat, dbias = sum_n dy. dx, dweight, dbias may be null.
template <class T>
void layer_norm_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const T* mean, const T* rstd,
                         const T* weight, int64_t N, int64_t C);

}  // namespace nerve::cpu
