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
// key_keep (optional): uint8 (B, S) view, key j of batch b takes part iff
// key_keep[b*kb + j*ks] != 0; applied on top of the mask above, so a key
// padding mask never has to be merged into an (B, L, S) array.
struct AttentionMask {
  MaskKind kind = MaskKind::none;
  const void* data = nullptr;
  int64_t sb = 0, sh = 0, sl = 0, ss = 0;
  const uint8_t* key_keep = nullptr;
  int64_t kb = 0, ks = 0;
};

struct AttentionSizes {
  int64_t B = 0, H = 0, L = 0, S = 0, D = 0;
  double scale = 1.0;
  bool causal = false;  // query i sees keys j <= i (top-left aligned, as PyTorch)
  // Dropout on the probabilities: P[i, j] is kept (and scaled by 1/(1-p))
  // iff dropout_hash(seed, (b*H + h)*L + i, j) >= dropout_p * 2^32; the
  // backward replays the same mask from the seed (nothing is stored).
  double dropout_p = 0.0;
  uint64_t seed = 0;
};

// The counter-based hash behind the dropout mask (exposed for tests):
// splitmix64 of the row id gives a row key, lowbias32 mixes in the column.
inline uint32_t dropout_row_key(uint64_t seed, uint64_t row) {
  uint64_t z = seed + row * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return static_cast<uint32_t>(z ^ (z >> 31));
}
inline uint32_t dropout_hash(uint32_t row_key, uint32_t col) {
  uint32_t x = (col * 0x9E3779B1u) ^ row_key;
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  return x ^ (x >> 16);
}

// out = dropout(softmax(q k^T * scale + mask)) v; lse = log-sum-exp of each
// row's logits (before dropout).
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

// The attention kernels of one ISA for element type T (attention_impl.h,
// compiled per ISA; attention.cpp picks one with common/dispatch.h).
template <class T>
struct AttentionKernels {
  decltype(&attention_forward<T>) forward;
  decltype(&attention_backward<T>) backward;
};

}  // namespace nerve::cpu
