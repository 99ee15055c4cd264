// Optimizer update kernels: the entry points, which run the ISA's copy of the
// loops (optim_impl.h, compiled per ISA; common/dispatch.h).
//
// One pass per parameter replaces numpy's chain of ~6-10 temporaries per
// update (e.g. Adam: m, v, sqrt, add, div, mul each a full array). The loops
// are the same source for every ISA (optim_impl.h); wider vectors mostly
// speed up the sqrt/div of Adam/RMSprop/Adagrad/Adadelta, since the rest is
// memory bound. bench/bench_optim.py, one thread, AVX-512, float32, vs the
// same update as numpy expressions: 1M elements: SGD+momentum 0.17 ms (2.2x
// faster), Adam 0.30 ms (21x), RMSprop 0.29 ms (13x), Adagrad 0.29 ms (5x);
// 10k elements: 2.3-4.3 us (2-5x). The first version captured its constants
// by reference in the loop lambdas: GCC then could not vectorize (stores
// through p might alias them) and it ran 2-3x slower than numpy.
#include "cpu/optim.h"

#include "common/dispatch.h"

namespace nerve::cpu {

template <class T>
void sgd_step(T* param, T* momentum_buffer, const T* grad, int64_t n, const SgdOptions& o) {
  pick<OptimKernels, T>().sgd(param, momentum_buffer, grad, n, o);
}

template <class T>
void adam_step(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, int64_t n,
               const AdamOptions& o) {
  pick<OptimKernels, T>().adam(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, n, o);
}

template <class T>
void rmsprop_step(T* param, T* square_avg, T* grad_avg, T* momentum_buffer, const T* grad, int64_t n,
                  const RmspropOptions& o) {
  pick<OptimKernels, T>().rmsprop(param, square_avg, grad_avg, momentum_buffer, grad, n, o);
}

template <class T>
void adagrad_step(T* param, T* state_sum, const T* grad, int64_t n, const AdagradOptions& o) {
  pick<OptimKernels, T>().adagrad(param, state_sum, grad, n, o);
}

template <class T>
void adadelta_step(T* param, T* square_avg, T* acc_delta, const T* grad, int64_t n, const AdadeltaOptions& o) {
  pick<OptimKernels, T>().adadelta(param, square_avg, acc_delta, grad, n, o);
}

template void sgd_step<float>(float*, float*, const float*, int64_t, const SgdOptions&);
template void sgd_step<double>(double*, double*, const double*, int64_t, const SgdOptions&);
template void adam_step<float>(float*, float*, float*, float*, const float*, int64_t, const AdamOptions&);
template void adam_step<double>(double*, double*, double*, double*, const double*, int64_t, const AdamOptions&);
template void rmsprop_step<float>(float*, float*, float*, float*, const float*, int64_t, const RmspropOptions&);
template void rmsprop_step<double>(double*, double*, double*, double*, const double*, int64_t,
                                   const RmspropOptions&);
template void adagrad_step<float>(float*, float*, const float*, int64_t, const AdagradOptions&);
template void adagrad_step<double>(double*, double*, const double*, int64_t, const AdagradOptions&);
template void adadelta_step<float>(float*, float*, float*, const float*, int64_t, const AdadeltaOptions&);
template void adadelta_step<double>(double*, double*, double*, const double*, int64_t, const AdadeltaOptions&);

}  // namespace nerve::cpu
