// bfloat16 and the float32 <-> bfloat16 conversions.
//
// bf16 is the top half of an IEEE float32 (1 sign, 8 exponent, 7 mantissa
// bits): NumPy holds it as ml_dtypes.bfloat16 (the dtype JAX uses), which
// common/view.h knows as DType kind 'E' ("bfloat16").
//
// float32 -> bf16 rounds to nearest, ties to even, on the bits:
//   bits + 0x7fff + ((bits >> 16) & 1), top 16 bits
// which also rounds overflow to +-Inf and keeps denormals (no flush); NaN
// becomes the quiet NaN 0x7fc0 with the input's sign: bit for bit what
// ml_dtypes (Eigen's float_to_bfloat16_rtne) produces. (VCVTNEPS2BF16 would be
// shorter but treats denormal inputs as zero, so it is not used.)
// bf16 -> float32 is exact: bits << 16.
// The loops (convert_impl.h) are compiled per ISA (common/dispatch.h) and are
// plain branch-free loops the compiler vectorizes; large arrays use threads.
#pragma once
#include <cstdint>
#include <cstring>

namespace nerve {

struct bf16 {
  uint16_t bits;
};
static_assert(sizeof(bf16) == 2);

// Scalar conversions (static inline: safe in per-ISA translation units).
static inline uint16_t bf16_bits_rne(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
  return static_cast<uint16_t>(nan ? ((u >> 16) & 0x8000u) | 0x7fc0u : rounded);
}
static inline float bf16_to_float(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

}  // namespace nerve

namespace nerve::cpu {

// out[i] = bf16(x[i]) / float(x[i]) for i < n (contiguous; the arrays must not overlap).
void bf16_from_float32(bf16* out, const float* x, int64_t n);
void float32_from_bf16(float* out, const bf16* x, int64_t n);

// The conversion loops of one ISA (convert_impl.h).
struct ConvertKernels {
  void (*to_bf16)(bf16* out, const float* x, int64_t n);
  void (*from_bf16)(float* out, const bf16* x, int64_t n);
};

}  // namespace nerve::cpu
