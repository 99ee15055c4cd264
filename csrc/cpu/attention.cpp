// Attention: the entry points, which run the ISA's kernels (attention_impl.h,
// compiled per ISA; common/dispatch.h).
#include "cpu/attention.h"

#include "common/dispatch.h"

namespace nerve::cpu {

template <class T>
void attention_forward(T* out, T* lse, HeadsView<T> q, HeadsView<T> k, HeadsView<T> v, const AttentionMask& mask,
                       const AttentionSizes& n) {
  pick<AttentionKernels, T>().forward(out, lse, q, k, v, mask, n);
}

template <class T>
void attention_backward(T* dq, T* dk, T* dv, HeadsView<T> dout, HeadsView<T> q, HeadsView<T> k, HeadsView<T> v,
                        const T* out, const T* lse, const AttentionMask& mask, const AttentionSizes& n) {
  pick<AttentionKernels, T>().backward(dq, dk, dv, dout, q, k, v, out, lse, mask, n);
}

template void attention_forward<float>(float*, float*, HeadsView<float>, HeadsView<float>, HeadsView<float>,
                                       const AttentionMask&, const AttentionSizes&);
template void attention_forward<double>(double*, double*, HeadsView<double>, HeadsView<double>, HeadsView<double>,
                                        const AttentionMask&, const AttentionSizes&);
template void attention_backward<float>(float*, float*, float*, HeadsView<float>, HeadsView<float>, HeadsView<float>,
                                        HeadsView<float>, const float*, const float*, const AttentionMask&,
                                        const AttentionSizes&);
template void attention_backward<double>(double*, double*, double*, HeadsView<double>, HeadsView<double>,
                                         HeadsView<double>, HeadsView<double>, const double*, const double*,
                                         const AttentionMask&, const AttentionSizes&);

}  // namespace nerve::cpu
