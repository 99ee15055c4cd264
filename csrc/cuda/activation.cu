// Launchers of the activation kernels (cuda/activation.cuh) for nerve._cuda;
// API in cuda/activation.h. Zero elements launch nothing.
#include "cuda/activation.h"

#include "cuda/activation.cuh"

namespace nerve::cuda {

using namespace activation;

template <class T, class F>
static void launch_unary(const char* op, T* out, const T* x, int64_t n, F f, Stream stream) {
  if (n == 0) return;
  NERVE_LAUNCH(unary_kernel<T, F>, dim3(elementwise_blocks(n)), dim3(kElementwiseThreads), 0, to_cuda(stream), out,
               x, n, f);
  check_launch(op);
}

template <class T, class F>
static void launch_binary(const char* op, T* out, const T* a, const T* b, int64_t n, F f, Stream stream) {
  if (n == 0) return;
  NERVE_LAUNCH(binary_kernel<T, F>, dim3(elementwise_blocks(n)), dim3(kElementwiseThreads), 0, to_cuda(stream), out,
               a, b, n, f);
  check_launch(op);
}

template <class T>
void gelu_forward(T* out, const T* x, int64_t n, GeluMode mode, Stream stream) {
  if (mode == GeluMode::exact) launch_unary("gelu_forward", out, x, n, GeluExact<T>{}, stream);
  else launch_unary("gelu_forward", out, x, n, GeluTanh<T>{}, stream);
}

template <class T>
void gelu_backward(T* grad_x, const T* grad, const T* x, int64_t n, GeluMode mode, Stream stream) {
  if (mode == GeluMode::exact) launch_binary("gelu_backward", grad_x, grad, x, n, GeluExactGrad<T>{}, stream);
  else launch_binary("gelu_backward", grad_x, grad, x, n, GeluTanhGrad<T>{}, stream);
}

template <class T>
void sigmoid_forward(T* out, const T* x, int64_t n, Stream stream) {
  launch_unary("sigmoid_forward", out, x, n, Sigmoid<T>{}, stream);
}

template void gelu_forward<float>(float*, const float*, int64_t, GeluMode, Stream);
template void gelu_forward<double>(double*, const double*, int64_t, GeluMode, Stream);
template void gelu_backward<float>(float*, const float*, const float*, int64_t, GeluMode, Stream);
template void gelu_backward<double>(double*, const double*, const double*, int64_t, GeluMode, Stream);
template void sigmoid_forward<float>(float*, const float*, int64_t, Stream);
template void sigmoid_forward<double>(double*, const double*, int64_t, Stream);

}  // namespace nerve::cuda
