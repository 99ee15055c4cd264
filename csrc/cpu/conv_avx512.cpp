// Depthwise convolution loops compiled for AVX512; called only when cpu_features allows it.
#include "cpu/conv_isa.h"
#include "cpu/conv_impl.h"
NERVE_CONV_DEFINE_ISA(avx512)
