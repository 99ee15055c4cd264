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
// one rounding to float at the end. Accuracy, every float32 in [-14, 14] (and
// beyond, where the results are x or +-0; tools: see bench/bench_activation.py):
//   [filled in below after the sweep]
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
