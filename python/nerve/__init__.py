"""nerve: a deep-learning library with hand-written CPU and CUDA kernels."""
__version__ = "0.1.0"

from nerve import _C
from nerve.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from nerve.device import device
from nerve.random import initial_seed, manual_seed
from nerve.tensor import (
    Size, Tensor, arange, as_tensor, bool_, cat, empty, empty_like, eye, float16, float32, float64,
    from_dlpack, from_numpy, full, full_like, get_default_dtype, int8, int16, int32, int64, linspace,
    maximum, minimum, ones, ones_like, rand, rand_like, randint, randn, randn_like, randperm,
    set_default_dtype, stack, tensor, uint8, where, zeros, zeros_like,
)

# PyTorch's dtype aliases (they shadow builtins only inside this namespace).
half, float, double, long, int, bool = float16, float32, float64, int64, int32, bool_  # noqa: A001
from nerve import cuda
from nerve.info import info
from nerve import nn
