// The activation family's contract, shared by both devices: the GELU mode and
// the argument checks of gelu_forward / gelu_backward / sigmoid_forward.
// Included by cpu/activation.h, cuda/activation.h and both bindings
// (bind/activation.cpp for nerve._C, bind/activation_cuda.cpp for nerve._cuda).
// Every array is C-contiguous with x's shape and dtype (float32/float64); an
// output may be exactly an input (in place): each element is read before it
// is written.
#pragma once
#include <initializer_list>
#include <string>

#include "common/view.h"

namespace nerve {

enum class GeluMode { exact, tanh };

inline GeluMode gelu_mode(const std::string& approximate, const char* op) {
  if (approximate == "none") return GeluMode::exact;
  NERVE_CHECK(approximate == "tanh", op, ": argument 'approximate' expected 'none' or 'tanh', got '", approximate,
              "'");
  return GeluMode::tanh;
}

// x float32/float64; every other argument x's dtype and shape; outputs may be
// exactly an input, never a partial overlap.
inline void check_elementwise(const Arg& x, std::initializer_list<const Arg*> others,
                              std::initializer_list<const Arg*> outputs) {
  x.floating();
  for (const Arg* a : others) a->dtype(x.dtype()).same_shape(x);
  for (const Arg* o : outputs) {
    no_overlap(*o, x, true);
    for (const Arg* a : others)
      if (a != o) no_overlap(*o, *a, true);
  }
}

}  // namespace nerve
