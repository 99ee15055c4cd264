#include "common/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/check.h"

namespace nerve {

Isa best_isa() {
  for (int i = kIsaCount - 1; i > 0; --i)
    if (cpu_has(static_cast<Isa>(i))) return static_cast<Isa>(i);
  return static_cast<Isa>(0);
}

const char* isa_name(Isa isa) { return kIsaNames[static_cast<int>(isa)]; }

Isa isa_from_name(const char* name) {
  std::string expected;
  for (int i = kIsaCount - 1; i >= 0; --i) {
    if (!std::strcmp(name, kIsaNames[i])) return static_cast<Isa>(i);
    expected += std::string(expected.empty() ? "'" : ", '") + kIsaNames[i] + "'";
  }
  NERVE_CHECK(false, "set_isa: argument 'isa' expected one of ", expected, ", got '", name, "'");
  return Isa{};
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
