// GEMM compiled with AVX-512 (F, BW, VL, DQ); called only when cpu_features allows it.
#include "cpu/gemm_isa.h"
#include "cpu/gemm_impl.h"
NERVE_GEMM_DEFINE_ISA(avx512)
