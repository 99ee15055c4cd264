// Flush-to-zero / denormals-are-zero for the duration of a kernel.
//
// A float32 operation that reads or produces a denormal (|x| < 1.2e-38) can
// take ~100 cycles instead of ~4 on x86 (microcode assist), so a layer whose
// weights decay towards zero or whose activations underflow can run 10-100x
// slower for no useful precision. DenormalGuard sets MXCSR.FTZ (bit 15: tiny
// results become 0) and MXCSR.DAZ (bit 6: tiny inputs read as 0) and puts the
// old MXCSR back when it goes out of scope, so Python code calling a kernel
// never sees the mode change.
//
// MXCSR is per thread: a kernel puts one guard at its entry and one at the top
// of every OpenMP parallel region body (worker threads have their own MXCSR).
// The x87 unit and non-x86 targets are untouched (the guard is a no-op there).
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace nerve {

class DenormalGuard {
 public:
#if defined(__x86_64__) || defined(__i386__)
  static constexpr unsigned kFtzDaz = 0x8040;  // FTZ | DAZ
  DenormalGuard() : saved_(_mm_getcsr()) {
    if ((saved_ & kFtzDaz) != kFtzDaz) _mm_setcsr(saved_ | kFtzDaz);
  }
  ~DenormalGuard() {
    if ((saved_ & kFtzDaz) != kFtzDaz) _mm_setcsr(saved_);
  }

 private:
  unsigned saved_;
#else
  DenormalGuard() {}
#endif

 public:
  DenormalGuard(const DenormalGuard&) = delete;
  DenormalGuard& operator=(const DenormalGuard&) = delete;
};

}  // namespace nerve
