// Optimizer update kernels: the portable loops and the run-time choice of ISA.
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
#define NERVE_OPTIM_NS generic
#include "cpu/optim_impl.h"
#undef NERVE_OPTIM_NS

#include "common/cpu_features.h"

namespace nerve::cpu {

#define NERVE_OPTIM_DISPATCH(fn, ...)                    \
  switch (current_isa()) {                               \
    case Isa::avx512: return avx512::fn<T>(__VA_ARGS__); \
    case Isa::avx2: return avx2::fn<T>(__VA_ARGS__);     \
    default: return generic::fn<T>(__VA_ARGS__);         \
  }

template <class T>
void sgd_step(T* param, T* momentum_buffer, const T* grad, int64_t n, const SgdOptions& o) {
  NERVE_OPTIM_DISPATCH(sgd_step, param, momentum_buffer, grad, n, o)
}

template <class T>
void adam_step(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, int64_t n,
               const AdamOptions& o) {
  NERVE_OPTIM_DISPATCH(adam_step, param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, n, o)
}

template <class T>
void rmsprop_step(T* param, T* square_avg, T* grad_avg, T* momentum_buffer, const T* grad, int64_t n,
                  const RmspropOptions& o) {
  NERVE_OPTIM_DISPATCH(rmsprop_step, param, square_avg, grad_avg, momentum_buffer, grad, n, o)
}

template <class T>
void adagrad_step(T* param, T* state_sum, const T* grad, int64_t n, const AdagradOptions& o) {
  NERVE_OPTIM_DISPATCH(adagrad_step, param, state_sum, grad, n, o)
}

template <class T>
void adadelta_step(T* param, T* square_avg, T* acc_delta, const T* grad, int64_t n, const AdadeltaOptions& o) {
  NERVE_OPTIM_DISPATCH(adadelta_step, param, square_avg, acc_delta, grad, n, o)
}

#undef NERVE_OPTIM_DISPATCH

#define NERVE_OPTIM_INSTANTIATE(T)                                                                       \
  template void sgd_step<T>(T*, T*, const T*, int64_t, const SgdOptions&);                               \
  template void adam_step<T>(T*, T*, T*, T*, const T*, int64_t, const AdamOptions&);                     \
  template void rmsprop_step<T>(T*, T*, T*, T*, const T*, int64_t, const RmspropOptions&);               \
  template void adagrad_step<T>(T*, T*, const T*, int64_t, const AdagradOptions&);                       \
  template void adadelta_step<T>(T*, T*, T*, const T*, int64_t, const AdadeltaOptions&);
NERVE_OPTIM_INSTANTIATE(float)
NERVE_OPTIM_INSTANTIATE(double)
#undef NERVE_OPTIM_INSTANTIATE

}  // namespace nerve::cpu
