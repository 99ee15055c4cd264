#include "common/cpu_features.h"

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#endif

#include "common/check.h"

namespace nerve {

// AMX: the CPU must have the tile unit (CPUID.7.0:EDX AMX-TILE bit 24,
// AMX-BF16 bit 22), the OS must save the tile state (XCR0 bits 17 XTILECFG and
// 18 XTILEDATA), and Linux (>= 5.16) must grant this process the 8 KiB
// XTILEDATA state: arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), asked
// once per process (a function-local static: thread-safe, before any tile
// instruction, since dispatch asks cpu_has(amx) when it first picks an ISA).
// The permission covers every thread of the process, later ones included.
// Refused (an old kernel, a seccomp filter): AMX is unusable and dispatch
// falls back to the best lower ISA.
namespace {
struct AmxState {
  bool usable = false;
  std::string status;
};
std::atomic<int> g_amx_requests{0};

AmxState query_amx() {
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << 22)))
    return {false, "no AMX-TILE/AMX-BF16 in CPUID"};
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return {false, "no OSXSAVE"};
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & 0x60000u) != 0x60000u) return {false, "the OS does not enable XTILECFG/XTILEDATA in XCR0"};
  constexpr int kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  g_amx_requests.fetch_add(1, std::memory_order_relaxed);
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0)
    return {false, concat("arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) refused (errno ", errno, ")")};
  return {true, "granted"};
#else
  return {false, "not x86-64"};
#endif
}

const AmxState& amx_state() {
  static const AmxState s = query_amx();
  return s;
}
}  // namespace

bool amx_usable() { return amx_state().usable; }
const char* amx_status() { return amx_state().status.c_str(); }
int amx_permission_requests() { return g_amx_requests.load(std::memory_order_relaxed); }

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
// NERVE_ISA is read while the module loads, where an exception would abort
// the interpreter: any case and surrounding blanks are accepted, and an
// unknown name only warns (on stderr) and leaves the best variant.
Isa initial_isa() {
  Isa best = best_isa();
  const char* env = std::getenv("NERVE_ISA");
  std::string name;
  for (const char* c = env ? env : ""; *c; ++c)
    if (!std::isspace(static_cast<unsigned char>(*c))) name += static_cast<char>(std::tolower(static_cast<unsigned char>(*c)));
  if (name.empty()) return best;
  try {
    Isa want = isa_from_name(name.c_str());
    return static_cast<int>(want) < static_cast<int>(best) ? want : best;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nerve: NERVE_ISA ignored (%s); using '%s'\n", e.what(), isa_name(best));
    return best;
  }
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
