// Optimizer loops compiled with AVX-512; called only when cpu_features allows it.
#define NERVE_OPTIM_NS avx512
#include "cpu/optim_impl.h"
