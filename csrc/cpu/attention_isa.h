// Per-ISA attention entry points (attention.cpp, attention_avx2.cpp, attention_avx512.cpp).
#pragma once
#include "cpu/attention.h"

#define NERVE_ATTENTION_DECLARE_ISA(ns)                                                                          \
  namespace nerve::cpu::ns {                                                                                     \
  template <class T>                                                                                             \
  void attention_forward(T* out, T* lse, HeadsView<T> q, HeadsView<T> k, HeadsView<T> v,                        \
                         const AttentionMask& mask, const AttentionSizes& n);                                    \
  template <class T>                                                                                             \
  void attention_backward(T* dq, T* dk, T* dv, HeadsView<T> dout, HeadsView<T> q, HeadsView<T> k,               \
                          HeadsView<T> v, const T* out, const T* lse, const AttentionMask& mask,                 \
                          const AttentionSizes& n);                                                              \
  }

NERVE_ATTENTION_DECLARE_ISA(generic)
NERVE_ATTENTION_DECLARE_ISA(avx2)
NERVE_ATTENTION_DECLARE_ISA(avx512)
