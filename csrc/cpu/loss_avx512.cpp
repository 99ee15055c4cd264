// Fused cross-entropy compiled with the avx512 flags (CMake); called only when cpu_features allows it.
#define NERVE_LOSS_VEC_BYTES 64
#include "cpu/loss_impl.h"
#include "cpu/loss_isa.h"

NERVE_LOSS_DEFINE_ISA(avx512)
