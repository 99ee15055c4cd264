// Fused cross-entropy compiled with the avx2 flags (CMake); called only when cpu_features allows it.
#define NERVE_LOSS_VEC_BYTES 32
#include "cpu/loss_impl.h"
#include "cpu/loss_isa.h"

NERVE_LOSS_DEFINE_ISA(avx2)
