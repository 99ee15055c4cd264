// Recurrent cells compiled with -mavx2 -mfma; called only when cpu_features allows it.
#include "cpu/rnn_impl.h"
NERVE_RNN_DEFINE_ISA(avx2)
