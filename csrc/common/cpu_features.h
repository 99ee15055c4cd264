// Which SIMD instruction set the CPU kernels use. Detected once from CPUID at
// import; NERVE_ISA=amx|avx512_bf16|avx512|avx2|generic in the environment or set_isa() from
// Python forces a lower level (tests use it to run every variant). The ISAs
// themselves (the Isa enum, names, CPUID features) come from the nerve_isa()
// lines of CMakeLists.txt, through the generated isa_list.h.
#pragma once
#include "isa_list.h"

namespace nerve {

Isa best_isa();              // what this CPU supports
Isa current_isa();           // what kernels dispatch to now
void set_isa(Isa isa);       // throws if the CPU lacks it
const char* isa_name(Isa isa);
// AMX (the `amx` ISA's CHECK): CPUID, XCR0 and the process's permission for
// the tile state, requested once (cpu_features.cpp). amx_status() says why
// not ("granted" when usable); amx_permission_requests() counts the
// arch_prctl calls (0 or 1).
bool amx_usable();
const char* amx_status();
int amx_permission_requests();
Isa isa_from_name(const char* name);  // throws on an unknown name

}  // namespace nerve
