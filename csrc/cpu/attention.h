// Attention kernel API (fused, flash-style; see attention_impl.h for the algorithm).
//
// Layout (PyTorch's): q (B, H, L, D), k and v (B, H, S, D), out (B, H, L, D),
// lse (B, H, L). q, k, v may be strided views whose last dim is contiguous;
// every output is C-contiguous and overwritten (never read). The mask is an
// optional (B, H, L, S) view whose broadcast dims have stride 0.
#pragma once
#include <cstdint>

namespace nerve::cpu {

// A (B, H, *, D) operand: element (b, h, i, d) at data[b*sb + h*sh + i*sl + d].
template <class T>
struct HeadsView {
  const T* data = nullptr;
  int64_t sb = 0, sh = 0, sl = 0;
};

enum class MaskKind { none = 0, boolean = 1, additive = 2 };

// Element (b, h, i, j) of the mask at data[b*sb + h*sh + i*sl + j*ss]; for
// `boolean` data is uint8 (nonzero = take part), for `additive` it is T.
struct AttentionMask {
  MaskKind kind = MaskKind::none;
  const void* data = nullptr;
  int64_t sb = 0, sh = 0, sl = 0, ss = 0;
};

struct AttentionSizes {
  int64_t B = 0, H = 0, L = 0, S = 0, D = 0;
  double scale = 1.0;
  bool causal = false;  // query i sees keys j <= i (top-left aligned, as PyTorch)
};

// out = softmax(q k^T * scale + mask) v; lse = log-sum-exp of each row's logits.
// A row whose keys are all masked gets out = 0 and lse = -inf.
template <class T>
void attention_forward(T* out, T* lse, HeadsView<T> q, HeadsView<T> k, HeadsView<T> v, const AttentionMask& mask,
                       const AttentionSizes& n);

// Gradients of attention_forward: dq (B, H, L, D), dk and dv (B, H, S, D),
// overwritten. Needs the forward's out and lse; dout may be strided like q.
// Rows with lse = -inf (fully masked) contribute nothing.
template <class T>
void attention_backward(T* dq, T* dk, T* dv, HeadsView<T> dout, HeadsView<T> q, HeadsView<T> k, HeadsView<T> v,
                        const T* out, const T* lse, const AttentionMask& mask, const AttentionSizes& n);

}  // namespace nerve::cpu
