// float32 <-> bfloat16 entry points: the ISA's loops (convert_impl.h) over
// contiguous chunks, on as many threads as the size deserves.
#include "cpu/convert.h"

#include "common/dispatch.h"
#include "common/parallel.h"

namespace nerve::cpu {

// A conversion moves 6 bytes per element: a thread pays off from ~256K elements.
constexpr int64_t kConvertPerThread = int64_t{1} << 18;

void bf16_from_float32(bf16* out, const float* x, int64_t n) {
  const auto f = pick<ConvertKernels>().to_bf16;
  parallel_for(n, n * kWorkPerThread / kConvertPerThread, [&](int64_t b, int64_t e) { f(out + b, x + b, e - b); });
}

void float32_from_bf16(float* out, const bf16* x, int64_t n) {
  const auto f = pick<ConvertKernels>().from_bf16;
  parallel_for(n, n * kWorkPerThread / kConvertPerThread, [&](int64_t b, int64_t e) { f(out + b, x + b, e - b); });
}

}  // namespace nerve::cpu
