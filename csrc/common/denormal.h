// Flush-to-zero / denormals-are-zero for the current thread while a kernel
// runs: float loops that meet denormals (exp of very negative numbers,
// tiny gradients) otherwise slow down by 10-100x. Restores MXCSR on exit.
#pragma once
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace nerve {

class DenormalGuard {
 public:
#if defined(__SSE__) || defined(__x86_64__)
  DenormalGuard() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040); }  // FTZ (bit 15) | DAZ (bit 6)
  ~DenormalGuard() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#else
  DenormalGuard() {}
#endif
  DenormalGuard(const DenormalGuard&) = delete;
  DenormalGuard& operator=(const DenormalGuard&) = delete;
};

}  // namespace nerve
