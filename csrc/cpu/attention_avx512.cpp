// Attention compiled with -mavx512f (512-bit vectors); called only when cpu_features allows it.
#define NERVE_VEC_BYTES 64
#include "cpu/attention_isa.h"
#include "cpu/attention_impl.h"
NERVE_ATTENTION_DEFINE_ISA(avx512)
