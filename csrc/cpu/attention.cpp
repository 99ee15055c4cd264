// Attention: the portable variant (128-bit SSE2 vectors) and the run-time choice of ISA.
#define NERVE_VEC_BYTES 16
#include "cpu/attention.h"

#include "common/cpu_features.h"
#include "cpu/attention_impl.h"
#include "cpu/attention_isa.h"

NERVE_ATTENTION_DEFINE_ISA(generic)

namespace nerve::cpu {

template <class T>
void attention_forward(T* out, T* lse, HeadsView<T> q, HeadsView<T> k, HeadsView<T> v, const AttentionMask& mask,
                       const AttentionSizes& n) {
  switch (current_isa()) {
    case Isa::avx512: return avx512::attention_forward(out, lse, q, k, v, mask, n);
    case Isa::avx2: return avx2::attention_forward(out, lse, q, k, v, mask, n);
    default: return generic::attention_forward(out, lse, q, k, v, mask, n);
  }
}

template <class T>
void attention_backward(T* dq, T* dk, T* dv, HeadsView<T> dout, HeadsView<T> q, HeadsView<T> k, HeadsView<T> v,
                        const T* out, const T* lse, const AttentionMask& mask, const AttentionSizes& n) {
  switch (current_isa()) {
    case Isa::avx512: return avx512::attention_backward(dq, dk, dv, dout, q, k, v, out, lse, mask, n);
    case Isa::avx2: return avx2::attention_backward(dq, dk, dv, dout, q, k, v, out, lse, mask, n);
    default: return generic::attention_backward(dq, dk, dv, dout, q, k, v, out, lse, mask, n);
  }
}

NERVE_ATTENTION_INSTANTIATE(float)
NERVE_ATTENTION_INSTANTIATE(double)

}  // namespace nerve::cpu
