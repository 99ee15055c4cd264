"""nerve: a deep-learning library with hand-written CPU and CUDA kernels."""
__version__ = "0.1.0"

import os as _os

# Idle OpenMP threads sleep instead of spinning. On a machine with few,
# shared cores a spinning thread steals the core its partner needs: a digits
# MLP step measured 47 ms with spinning and 2 ms passive under load.
# libgomp reads this when nerve._C loads it; a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from nerve import _C  # noqa: E402
from nerve.autograd import (
    enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad, set_grad_enabled,
)
from nerve.device import device
from nerve.errors import DTypeError, ShapeError
from nerve.random import (
    Generator, default_generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state,
)
from nerve.tensor import (
    Size, Tensor, arange, as_tensor, bernoulli, bfloat16, bool_, cat, dtype, empty, empty_like, eye, finfo, float16,
    float32, float64, from_dlpack, from_numpy, full, full_like, get_default_dtype, iinfo, int8, int16, int32,
    int64, linspace, maximum, minimum, multinomial, normal, ones, ones_like, rand, rand_like, randint,
    randint_like, randn, randn_like, randperm, set_default_dtype, set_printoptions, stack, tensor, uint8, where,
    zeros, zeros_like,
)
from nerve.functions import (
    abs, add, addbmm, addcdiv, addcmul, addmm, addmv, all, allclose, amax, amin, any, argmax, argmin, argsort,
    argwhere, baddbmm, bitwise_not, block_diag, bmm, broadcast_tensors, broadcast_to, cdist, ceil, chunk, clamp,
    clamp_max, clamp_min, clip, clone, cos, cosh, count_nonzero, cumprod, cumsum, diag, diagonal, div, dot,
    einsum, eq, equal, exp, exp2, expm1, flatten, flip, fliplr, flipud, floor, floor_divide, fmod, frac, gather,
    ge, gt, hstack, index_add, index_select, is_floating_point, is_tensor, isclose, isfinite, isinf, isnan,
    kthvalue, le, lerp, log, log1p, log2, log10, log_softmax, logical_and, logical_not, logical_or, logical_xor,
    logsumexp, lt, masked_fill, masked_select, matmul, max, mean, meshgrid, min, mm, moveaxis, movedim, mul, mv,
    nan_to_num, narrow, ne, neg, nelement, nonzero, norm, numel, outer, permute, pow, prod, reciprocal, relu,
    remainder, repeat_interleave, reshape, roll, round, rsqrt, scatter, scatter_add, select, sgn, sigmoid, sign,
    sin, sinh, softmax, sort, split, sqrt, square, squeeze, std, sub, sum, swapaxes, swapdims, t,
    take_along_dim, tan, tanh, tile, topk, trace, transpose, tril, triu, true_divide, trunc, type_as, unbind,
    unflatten, unique, unsqueeze, var, vstack,
)
from nerve.kernels import get_num_threads, set_num_threads

# PyTorch's dtype aliases (they shadow builtins only inside this namespace).
half, float, double, long, int, short, bool = float16, float32, float64, int64, int32, int16, bool_  # noqa: A001
concat = concatenate = cat
from nerve import cuda
from nerve.info import info
from nerve import nn
from nerve.serialization import load, save
from nerve import amp
from nerve.amp import autocast, get_autocast_dtype, is_autocast_enabled
from nerve import cpu
from nerve import optim
from nerve import data
from nerve import distributed
from nerve import backends, kernels, testing, utils
