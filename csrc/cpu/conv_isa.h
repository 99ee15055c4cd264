// Per-ISA direct (depthwise) convolution loops, defined by conv_impl.h in
// conv.cpp, conv_avx2.cpp and conv_avx512.cpp; conv.cpp picks one at run time.
// Each works on one (image, output channel) plane against a zero-padded
// input plane of (H + 2*ph, W + 2*pw); see conv_impl.h for what each computes.
#pragma once
#include "cpu/conv.h"

#define NERVE_CONV_DECLARE_ISA_T(ns, T)                                                                  \
  namespace nerve::cpu::ns {                                                                             \
  void depthwise_forward_plane(const Conv2dShape& s, T* y, const T* xp, const T* w, T bias);             \
  void depthwise_backward_input_plane(const Conv2dShape& s, T* dxp, const T* dy, const T* w);            \
  void depthwise_backward_weight_plane(const Conv2dShape& s, T* dw, const T* xp, const T* dyp);          \
  }
#define NERVE_CONV_DECLARE_ISA(ns)      \
  NERVE_CONV_DECLARE_ISA_T(ns, float)   \
  NERVE_CONV_DECLARE_ISA_T(ns, double)

NERVE_CONV_DECLARE_ISA(generic)
NERVE_CONV_DECLARE_ISA(avx2)
NERVE_CONV_DECLARE_ISA(avx512)
