// Embedding: forward gathers rows (one memcpy each, rows split over
// threads); backward scatter-adds gradient rows into dweight.
//
// The scatter-add must not race when two indices hit the same row, and
// should be deterministic. Each thread owns a contiguous range of dweight
// rows and scans all indices, adding only those in its range, in index
// order. The scan costs n reads per thread, small next to n * dim adds; no
// atomics, no sort, and the sum order is fixed (bitwise reproducible).
// Memory-bound; the inner add loop vectorizes at the baseline ISA.
#include "cpu/embedding.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "common/denormal.h"
#include "common/parallel.h"

namespace nerve::cpu {

template <class T>
void embedding_forward(T* out, const T* weight, const int64_t* indices, int64_t n, int64_t /*num*/, int64_t dim) {
  parallel_for(n, n * dim, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      std::memcpy(out + i * dim, weight + indices[i] * dim, static_cast<size_t>(dim) * sizeof(T));
  });
}

template <class T>
void embedding_backward(T* dweight, const T* dout, const int64_t* indices, int64_t n, int64_t num, int64_t dim,
                        int64_t padding_idx) {
  parallel_for(num, num * dim + n * dim, [&](int64_t r0, int64_t r1) {
    DenormalGuard guard;
    std::fill(dweight + r0 * dim, dweight + r1 * dim, T(0));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = indices[i];
      if (r < r0 || r >= r1 || r == padding_idx) continue;
      T* __restrict dst = dweight + r * dim;
      const T* __restrict src = dout + i * dim;
      for (int64_t d = 0; d < dim; ++d) dst[d] += src[d];
    }
  });
}

template void embedding_forward<float>(float*, const float*, const int64_t*, int64_t, int64_t, int64_t);
template void embedding_forward<double>(double*, const double*, const int64_t*, int64_t, int64_t, int64_t);
template void embedding_backward<float>(float*, const float*, const int64_t*, int64_t, int64_t, int64_t, int64_t);
template void embedding_backward<double>(double*, const double*, const int64_t*, int64_t, int64_t, int64_t,
                                         int64_t);

}  // namespace nerve::cpu
