// Flush-to-zero / denormals-are-zero for the current thread while in scope.
// Arithmetic on denormal floats can run ~100x slower on some x86 cores; a
// kernel that loops over float data opens one guard per thread (MXCSR is
// per thread) so its speed never depends on the data.
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace nerve {

class DenormalGuard {
 public:
#if defined(__x86_64__) || defined(__i386__)
  DenormalGuard() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }  // FTZ (bit 15) | DAZ (bit 6)
  ~DenormalGuard() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#endif
 public:
  DenormalGuard(const DenormalGuard&) = delete;
  DenormalGuard& operator=(const DenormalGuard&) = delete;
};

}  // namespace nerve
