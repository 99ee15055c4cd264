#include "common/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "common/check.h"

namespace nerve {

Isa best_isa() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("fma"))
    return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::generic;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "generic";
  }
}

Isa isa_from_name(const char* name) {
  if (!std::strcmp(name, "avx512")) return Isa::avx512;
  if (!std::strcmp(name, "avx2")) return Isa::avx2;
  if (!std::strcmp(name, "generic")) return Isa::generic;
  NERVE_CHECK(false, "set_isa: argument 'isa' expected one of 'avx512', 'avx2', 'generic', got '", name, "'");
  return Isa::generic;
}

namespace {
Isa initial_isa() {
  Isa best = best_isa();
  const char* env = std::getenv("NERVE_ISA");
  if (env && *env) {
    Isa want = isa_from_name(env);
    if (static_cast<int>(want) < static_cast<int>(best)) return want;
  }
  return best;
}
std::atomic<int> g_isa{static_cast<int>(initial_isa())};
}  // namespace

Isa current_isa() { return static_cast<Isa>(g_isa.load(std::memory_order_relaxed)); }

void set_isa(Isa isa) {
  NERVE_CHECK(static_cast<int>(isa) <= static_cast<int>(best_isa()), "set_isa: this CPU does not support '",
              isa_name(isa), "' (best is '", isa_name(best_isa()), "')");
  g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace nerve
