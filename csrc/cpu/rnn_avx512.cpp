// Recurrent cells compiled with AVX-512 flags; called only when cpu_features allows it.
#include "cpu/rnn_impl.h"
NERVE_RNN_DEFINE_ISA(avx512)
