// Embedding kernel API: a row gather and its scatter-add gradient.
// weight, dweight: (num, dim) C-contiguous; indices: (n,) int64, each in
// [0, num) (the binding checks before calling); out, dout: (n, dim).
#pragma once
#include <cstdint>

namespace nerve::cpu {

// out[i, :] = weight[indices[i], :]
template <class T>
void embedding_forward(T* out, const T* weight, const int64_t* indices, int64_t n, int64_t num, int64_t dim);

// dweight = 0, then dweight[indices[i], :] += dout[i, :] for every i whose
// index is not padding_idx (padding_idx < 0: none). Overwrites dweight.
template <class T>
void embedding_backward(T* dweight, const T* dout, const int64_t* indices, int64_t n, int64_t num, int64_t dim,
                        int64_t padding_idx);

}  // namespace nerve::cpu
