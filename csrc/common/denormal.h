// Flush denormals to zero while a kernel runs. MXCSR is per thread, so the
// guard goes inside each OpenMP region (one per thread), not around it.
// Denormal inputs and results (e.g. exp of a very negative logit) otherwise
// take a microcode assist each, which has slowed loops by 10-100x.
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
#else
  DenormalGuard() = default;
#endif
  DenormalGuard(const DenormalGuard&) = delete;
  DenormalGuard& operator=(const DenormalGuard&) = delete;
};

}  // namespace nerve
