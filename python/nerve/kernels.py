"""Raw kernels on arrays, no autograd: for microbenchmarks and for users who
want just a fast GEMM, conv, LSTM step or attention. Outputs are allocated
here and filled by the native kernels in ``nerve._C``."""
import numpy as np

from nerve import _C

get_num_threads = _C.get_num_threads
set_num_threads = _C.set_num_threads
isa = _C.isa
set_isa = _C.set_isa


def gelu(x, approximate="none"):
    """GELU of a float32/float64 array (exact erf form, or approximate='tanh')."""
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    _C.gelu_forward(out, x, approximate)
    return out
