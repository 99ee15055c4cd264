// Optimizer loops compiled with -mavx2 -mfma; called only when cpu_features allows it.
#define NERVE_OPTIM_NS avx2
#include "cpu/optim_impl.h"
