// OpenMP helpers. On a machine with few, shared cores, waking a second thread
// for a small loop can cost far more than the loop itself, so every parallel
// region asks threads_for(work) how many threads its work deserves.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace nerve {

// Roughly the number of flops (or touched elements) below which one more
// thread does not pay for its wake-up.
constexpr int64_t kWorkPerThread = 1 << 17;

inline int threads_for(int64_t work, int64_t work_per_thread = kWorkPerThread) {
  int64_t want = work / std::max<int64_t>(work_per_thread, 1);
  return static_cast<int>(std::clamp<int64_t>(want, 1, omp_get_max_threads()));
}

// Calls f(begin, end) over [0, n) split into contiguous chunks, one per
// thread, using as many threads as `work` (total cost) deserves.
template <class F>
void parallel_for(int64_t n, int64_t work, F&& f) {
  if (n <= 0) return;
  int nt = static_cast<int>(std::min<int64_t>(threads_for(work), n));
  if (nt <= 1) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    int t = omp_get_thread_num(), T = omp_get_num_threads();
    int64_t chunk = (n + T - 1) / T;
    int64_t b = std::min<int64_t>(n, t * chunk), e = std::min<int64_t>(n, b + chunk);
    if (b < e) f(b, e);
  }
}

}  // namespace nerve
