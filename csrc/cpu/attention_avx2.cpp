// Attention compiled with -mavx2 -mfma (256-bit vectors); called only when cpu_features allows it.
#define NERVE_VEC_BYTES 32
#include "cpu/attention_isa.h"
#include "cpu/attention_impl.h"
NERVE_ATTENTION_DEFINE_ISA(avx2)
