"""nerve: a deep-learning library with hand-written CPU and CUDA kernels."""
__version__ = "0.1.0"

import os as _os

# Idle OpenMP threads sleep instead of spinning. On a machine with few,
# shared cores a spinning thread steals the core its partner needs: a digits
# MLP step measured 47 ms with spinning and 2 ms passive under load.
# libgomp reads this when nerve._C loads it; a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# NERVE_ISA is read by a C++ static initializer while _C loads, which aborts the
# process on a name it does not know: accept any case here, and ignore (with a
# warning) anything else, before _C sees it. An empty value means "best".
if "NERVE_ISA" in _os.environ:
    _isa = _os.environ["NERVE_ISA"].strip().lower()
    if _isa not in ("", "avx512", "avx2", "generic"):
        import warnings as _warnings
        _warnings.warn(f"NERVE_ISA={_os.environ['NERVE_ISA']!r} is not one of avx512, avx2, generic (any case); "
                       "ignored, using the best variant this CPU supports", RuntimeWarning, stacklevel=2)
        _isa = ""
    _os.environ["NERVE_ISA"] = _isa

from nerve import _C  # noqa: E402
from nerve.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from nerve.device import device
from nerve.random import initial_seed, manual_seed
from nerve.tensor import (
    Size, Tensor, arange, as_tensor, bool_, cat, empty, empty_like, eye, float16, float32, float64,
    from_dlpack, from_numpy, full, full_like, get_default_dtype, int8, int16, int32, int64, linspace,
    maximum, minimum, ones, ones_like, rand, rand_like, randint, randn, randn_like, randperm,
    set_default_dtype, stack, tensor, uint8, where, zeros, zeros_like,
)
from nerve.functions import (
    abs, add, allclose, amax, amin, argmax, argmin, bmm, chunk, clamp, clone, cos, div, dot, eq, equal, exp,
    flatten, gather, ge, gt, isfinite, isnan, le, log, log1p, log_softmax, logsumexp, lt, masked_fill, matmul,
    max, mean, min, mm, mul, narrow, ne, neg, norm, numel, permute, pow, relu, reshape, rsqrt, sigmoid, sin,
    softmax, split, sqrt, square, squeeze, std, sub, sum, tanh, transpose, tril, triu, unbind, unsqueeze, var,
)

# PyTorch's dtype aliases (they shadow builtins only inside this namespace).
half, float, double, long, int, bool = float16, float32, float64, int64, int32, bool_  # noqa: A001
from nerve import cuda
from nerve.info import info
from nerve import nn
from nerve.serialization import load, save
from nerve import optim
from nerve import data
from nerve import distributed
