// float32 <-> bfloat16 loops, compiled once per ISA (common/dispatch.h); the
// rounding is explained in convert.h. Plain loops over the bits with no
// branches, so GCC vectorizes them for this file's ISA (AVX-512: 16 floats
// per iteration: add, shift, compare, blend, narrowing store).
#include <cstdint>
#include <cstring>

#include "common/dispatch.h"
#include "cpu/convert.h"

namespace {

void to_bf16(nerve::bf16* __restrict out, const float* __restrict x, int64_t n) {
  const uint32_t* __restrict u = reinterpret_cast<const uint32_t*>(x);
  uint16_t* __restrict o = reinterpret_cast<uint16_t*>(out);
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t v = u[i];
    const uint32_t rounded = (v + 0x7fffu + ((v >> 16) & 1u)) >> 16;
    const uint32_t nan = ((v >> 16) & 0x8000u) | 0x7fc0u;
    o[i] = static_cast<uint16_t>((v & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
  }
}

void from_bf16(float* __restrict out, const nerve::bf16* __restrict x, int64_t n) {
  const uint16_t* __restrict b = reinterpret_cast<const uint16_t*>(x);
  uint32_t* __restrict o = reinterpret_cast<uint32_t*>(out);
  for (int64_t i = 0; i < n; ++i) o[i] = static_cast<uint32_t>(b[i]) << 16;
}

using Kernels = nerve::cpu::ConvertKernels;
constexpr Kernels kKernels{to_bf16, from_bf16};

}  // namespace
