// Elementwise activations over contiguous arrays, split across threads only
// when the array is large enough to pay for the wake-up. The loops live in
// activation_impl.h, compiled per ISA (common/dispatch.h); this file picks the
// ISA's copy.
//
// GELU exact: x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2 (the normal CDF),
// derivative Phi(x) + x phi(x). Tanh form: 0.5 x (1 + tanh(u)) = x sigmoid(2u),
// u = sqrt(2/pi) (x + 0.044715 x^3), derivative sigmoid(2u) + x sigmoid'(2u) 2u'.
// At +-inf (and beyond |x| = 40) gelu is x or 0 and gelu' exactly 1 or 0;
// gelu_backward multiplies grad by gelu' (never selects), so NaN/inf grads
// propagate as in PyTorch (grad * 0 = NaN).
//
// float32 (activation_impl.h): vector polynomial Phi and exp in double lanes,
// one rounding to float at the end. Accuracy, max error in ulp of the result
// against float64 (scipy's ndtr; the tanh form as x sigmoid(2u), which has no
// cancellation), every 64th float32 in [-14, 14] (beyond, results are x or -0;
// results below float's normal range not compared), every ISA bitwise equal:
//   erf form  forward 0.502 (also relative in the negative tail, e.g. [-8, -3]
//             where 1 + erf cancels: PyTorch's float32 formula is off by up to
//             1.7e7 ulp there), backward 0.50, except next to the root of
//             gelu' (x = -0.7518) where Phi + x phi cancels: 2.4e-10 absolute
//             (a float evaluation of the same sum would be off by ~1.5e-8).
//   tanh form forward 0.50, backward 0.50.
// Speed (bench activation, (4096, 1536) float32, 1 thread, AVX-512 Xeon,
// GB/s, before -> after, PyTorch 2.13 in the same run): erf forward 0.51 ->
// 2.28 (torch 4.7-9), fwd+bwd 0.59 -> 2.90 (torch 9.0); tanh forward 0.41 ->
// 2.74 (torch 3.5), fwd+bwd 0.50 -> 4.10 (torch 4.5). The double lanes cost
// about 2x against float lanes: a float32-lane version (e^-x2/2 from an exact
// split of x^2) measured 4.6-5.4 ulp in the negative tail in a prototype.
// float64: libm's erfc (exact form; erfc, not 1 + erf, keeps the negative
// tail's relative accuracy), tanh and exp per element.
#include "cpu/activation.h"

#include "common/dispatch.h"

namespace nerve::cpu {

template <class T>
void gelu_forward(T* out, const T* x, int64_t n, GeluMode mode) {
  pick<ActivationKernels, T>().gelu_forward(out, x, n, mode);
}

template <class T>
void gelu_backward(T* grad_x, const T* grad, const T* x, int64_t n, GeluMode mode) {
  pick<ActivationKernels, T>().gelu_backward(grad_x, grad, x, n, mode);
}

template <class T>
void sigmoid_forward(T* out, const T* x, int64_t n) {
  pick<ActivationKernels, T>().sigmoid_forward(out, x, n);
}

template void gelu_forward<float>(float*, const float*, int64_t, GeluMode);
template void gelu_forward<double>(double*, const double*, int64_t, GeluMode);
template void gelu_backward<float>(float*, const float*, const float*, int64_t, GeluMode);
template void gelu_backward<double>(double*, const double*, const double*, int64_t, GeluMode);
template void sigmoid_forward<float>(float*, const float*, int64_t);
template void sigmoid_forward<double>(double*, const double*, int64_t);

}  // namespace nerve::cpu
