// ISA dispatch: how a kernel family runs the copy of its loops compiled for
// the best SIMD variant (ISA) the CPU has. One pattern for every family F
// with ISA variants (gemm, loss, optim, rnn, conv, attention):
//
//   cpu/F.h       the API, and F's kernel table: a struct of function
//                 pointers (Typed<Table> when it has a float and a double one).
//   cpu/F_impl.h  the kernels, in an anonymous namespace, written once for
//                 every ISA (vector width: kVecBytes, or __AVX512F__ /
//                 __AVX2__ for intrinsics); it ends with `using Kernels = ...`
//                 and `constexpr Kernels kKernels{...}` pointing at them.
//   cpu/F.cpp     the entry points: pick<Table>() and call through it.
//
// CMakeLists.txt holds the one list of ISAs (nerve_isa(): name, CPUID
// features, an optional CHECK function for what CPUID cannot tell (AMX's OS
// permission), flags) and of families. For every ISA and family it generates a
// tiny translation unit, isa/<isa>/F_<isa>.cpp, compiled with that ISA's
// flags, that includes F_impl.h and defines
// nerve::cpu::<isa>::Compiled<Kernels>::table = kKernels; and it generates
// isa_list.h (the Isa enum, names, CPUID tests, the Compiled templates and
// kIsaTables). So adding an ISA is one nerve_isa() line, and a family never
// names an ISA.
//
// Fallback rule: an ISA marked EXTENSION (avx512_bf16, amx: new instructions
// for a few families, nothing new for the float32 loops) is compiled only for
// the families that list it in NERVE_<family>_ISAS (gemm, convert). For every
// other family the generated file of its best lower ISA (avx512) also defines
// the extension ISA's Compiled<Kernels>::table as a copy of its own, so
// kIsaTables<Table>[isa] is always valid, pick() is one load for every family
// and ISA, and an EXTENSION needs no code in the families that ignore it.
//
// Code compiled with an ISA's flags must keep every symbol in an anonymous
// namespace (or inline it away): a weak symbol such as std::vector<float>'s
// members could be kept by the linker for portable code too and crash a CPU
// without that ISA; tools/check_isa_symbols.py (CI) fails on any.
#pragma once
#include <type_traits>

#include "common/cpu_features.h"
#include "isa_list.h"

namespace nerve {

// The table of a kernel family compiled for `isa` (default: the ISA the
// kernels use now, from cpu_features: CPUID, NERVE_ISA, set_isa). One load
// per call, so set_isa takes effect at the next call, downwards and back up.
template <class Table>
const Table& pick(Isa isa = current_isa()) {
  return *kIsaTables<Table>[static_cast<int>(isa)];
}

// A family's table with one instance per element type.
template <template <class> class Table>
struct Typed {
  Table<float> f32;
  Table<double> f64;
  template <class T>
  const Table<T>& of() const {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
    if constexpr (std::is_same_v<T, float>) return f32;
    else return f64;
  }
};

// pick() for a Typed family: pick<LossKernels, T>().cross_entropy_forward(...).
template <template <class> class Table, class T>
const Table<T>& pick(Isa isa = current_isa()) {
  return pick<Typed<Table>>(isa).template of<T>();
}

// Bytes of one SIMD register in the ISA this file is compiled for (the
// flags of its nerve_isa() line): the width of GCC vector types in kernels
// (also 64 for avx512_bf16 and amx, which include AVX-512).
// Not inline: each translation unit has its own value.
#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#elif defined(__AVX2__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;
#endif

}  // namespace nerve
