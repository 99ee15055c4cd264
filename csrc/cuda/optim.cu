// Launchers of the fused optimizer steps (cuda/optim.cuh) for nerve._cuda; API
// in cuda/optim.h. The per-step constants are computed here, in T, as
// csrc/cpu/optim_impl.h computes them. Zero elements launch nothing.
#include "cuda/optim.h"

#include <cmath>

#include "cuda/optim.cuh"

namespace nerve::cuda {

using namespace optim;

#define NERVE_OPTIM_LAUNCH(op, kernel, n, stream, ...)                                                         \
  do {                                                                                                         \
    if ((n) == 0) return;                                                                                      \
    NERVE_LAUNCH(kernel, dim3(elementwise_blocks(n)), dim3(kElementwiseThreads), 0, to_cuda(stream), __VA_ARGS__); \
    check_launch(op);                                                                                          \
  } while (0)

template <class T>
void sgd_step(T* p, T* buf, const T* grad, int64_t n, const SgdOptions& o, Stream stream) {
  const Sgd<T> k{T(o.lr), T(o.weight_decay), T(o.momentum), T(1 - o.dampening), o.maximize ? T(-1) : T(1),
                 o.nesterov, o.first_step};
  NERVE_OPTIM_LAUNCH("sgd_step", sgd_kernel<T>, n, stream, p, buf, grad, n, k);
}

template <class T>
void adam_step(T* p, T* m, T* v, T* v_max, const T* grad, int64_t n, const AdamOptions& o, Stream stream) {
  const double bc1 = 1 - std::pow(o.beta1, double(o.step)), bc2 = 1 - std::pow(o.beta2, double(o.step));
  const Adam<T> k{T(o.beta1), T(o.beta2), T(1 - o.beta1), T(1 - o.beta2), T(o.eps), o.maximize ? T(-1) : T(1),
                  T(o.lr / bc1), T(1 / std::sqrt(bc2)), o.decoupled ? T(0) : T(o.weight_decay),
                  o.decoupled ? T(1 - o.lr * o.weight_decay) : T(1)};
  NERVE_OPTIM_LAUNCH(o.decoupled ? "adamw_step" : "adam_step", adam_kernel<T>, n, stream, p, m, v, v_max, grad, n, k);
}

template <class T>
void rmsprop_step(T* p, T* sq, T* gavg, T* buf, const T* grad, int64_t n, const RmspropOptions& o, Stream stream) {
  const Rmsprop<T> k{T(o.lr), T(o.alpha), T(1 - o.alpha), T(o.eps), T(o.weight_decay), T(o.momentum),
                     o.maximize ? T(-1) : T(1)};
  NERVE_OPTIM_LAUNCH("rmsprop_step", rmsprop_kernel<T>, n, stream, p, sq, gavg, buf, grad, n, k);
}

template <class T>
void adagrad_step(T* p, T* sum, const T* grad, int64_t n, const AdagradOptions& o, Stream stream) {
  const Adagrad<T> k{T(o.lr / (1 + double(o.step - 1) * o.lr_decay)), T(o.eps), T(o.weight_decay),
                     o.maximize ? T(-1) : T(1)};
  NERVE_OPTIM_LAUNCH("adagrad_step", adagrad_kernel<T>, n, stream, p, sum, grad, n, k);
}

template <class T>
void adadelta_step(T* p, T* sq, T* acc, const T* grad, int64_t n, const AdadeltaOptions& o, Stream stream) {
  const Adadelta<T> k{T(o.lr), T(o.rho), T(1 - o.rho), T(o.eps), T(o.weight_decay), o.maximize ? T(-1) : T(1)};
  NERVE_OPTIM_LAUNCH("adadelta_step", adadelta_kernel<T>, n, stream, p, sq, acc, grad, n, k);
}

#undef NERVE_OPTIM_LAUNCH

#define NERVE_OPTIM_INSTANTIATE(T)                                                                          \
  template void sgd_step<T>(T*, T*, const T*, int64_t, const SgdOptions&, Stream);                          \
  template void adam_step<T>(T*, T*, T*, T*, const T*, int64_t, const AdamOptions&, Stream);                \
  template void rmsprop_step<T>(T*, T*, T*, T*, const T*, int64_t, const RmspropOptions&, Stream);          \
  template void adagrad_step<T>(T*, T*, const T*, int64_t, const AdagradOptions&, Stream);                  \
  template void adadelta_step<T>(T*, T*, T*, const T*, int64_t, const AdadeltaOptions&, Stream);
NERVE_OPTIM_INSTANTIATE(float)
NERVE_OPTIM_INSTANTIATE(double)
#undef NERVE_OPTIM_INSTANTIATE

}  // namespace nerve::cuda
