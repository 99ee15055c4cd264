"""PyTorch's free-function forms of Tensor methods: ``nerve.exp(x)`` is
``x.exp()``. Kept apart from tensor.py because these names (sum, max, min,
abs, pow) shadow Python builtins."""
import builtins

import numpy as np

from nerve import ops
from nerve.tensor import Tensor, cat


def exp(input):
    return input.exp()


def log(input):
    return input.log()


def log1p(input):
    return input.log1p()


def sqrt(input):
    return input.sqrt()


def rsqrt(input):
    return input.rsqrt()


def abs(input):  # noqa: A001
    return input.abs()


def sin(input):
    return input.sin()


def cos(input):
    return input.cos()


def tanh(input):
    return input.tanh()


def sigmoid(input):
    return input.sigmoid()


def relu(input):
    return input.relu()


def square(input):
    return input.square()


def neg(input):
    return -input


def add(input, other, alpha=1):
    return input + (other if alpha == 1 else input._operand(other) * alpha)


def sub(input, other, alpha=1):
    return input - (other if alpha == 1 else input._operand(other) * alpha)


def mul(input, other):
    return input * other


def div(input, other):
    return input / other


def pow(input, exponent):  # noqa: A001
    return input ** exponent


def matmul(input, other):
    return input.matmul(other)


def mm(input, mat2):
    return input.mm(mat2)


def bmm(input, mat2):
    return input.bmm(mat2)


def dot(input, other):
    return input.dot(other)


def sum(input, dim=None, keepdim=False, dtype=None):  # noqa: A001
    return input.sum(dim, keepdim, dtype)


def mean(input, dim=None, keepdim=False):
    return input.mean(dim, keepdim)


def max(input, dim=None, keepdim=False):  # noqa: A001
    return input.max(dim, keepdim)


def min(input, dim=None, keepdim=False):  # noqa: A001
    return input.min(dim, keepdim)


def amax(input, dim=None, keepdim=False):
    return input.amax(dim, keepdim)


def amin(input, dim=None, keepdim=False):
    return input.amin(dim, keepdim)


def argmax(input, dim=None, keepdim=False):
    return input.argmax(dim, keepdim)


def argmin(input, dim=None, keepdim=False):
    return input.argmin(dim, keepdim)


def var(input, dim=None, unbiased=None, keepdim=False, correction=None):
    return input.var(dim, unbiased, keepdim, correction)


def std(input, dim=None, unbiased=None, keepdim=False, correction=None):
    return input.std(dim, unbiased, keepdim, correction)


def logsumexp(input, dim, keepdim=False):
    return input.logsumexp(dim, keepdim)


def norm(input, p=2, dim=None, keepdim=False):
    return input.norm(p, dim, keepdim)


def softmax(input, dim):
    return input.softmax(dim)


def log_softmax(input, dim):
    return input.log_softmax(dim)


def clamp(input, min=None, max=None):  # noqa: A002
    return input.clamp(min, max)


def reshape(input, shape):
    return input.reshape(shape)


def flatten(input, start_dim=0, end_dim=-1):
    return input.flatten(start_dim, end_dim)


def transpose(input, dim0, dim1):
    return input.transpose(dim0, dim1)


def permute(input, dims):
    return input.permute(dims)


def squeeze(input, dim=None):
    return input.squeeze(dim)


def unsqueeze(input, dim):
    return input.unsqueeze(dim)


def split(tensor, split_size_or_sections, dim=0):
    return tensor.split(split_size_or_sections, dim)


def chunk(input, chunks, dim=0):
    return input.chunk(chunks, dim)


def unbind(input, dim=0):
    return input.unbind(dim)


def narrow(input, dim, start, length):
    return input.narrow(dim, start, length)


def tril(input, diagonal=0):
    return input.tril(diagonal)


def triu(input, diagonal=0):
    return input.triu(diagonal)


def clone(input):
    return input.clone()


def numel(input):
    return input.numel()


def gather(input, dim, index):
    return input.gather(dim, index)


def masked_fill(input, mask, value):
    return input.masked_fill(mask, value)


def eq(input, other):
    return input.eq(other)


def ne(input, other):
    return input.ne(other)


def lt(input, other):
    return input.lt(other)


def le(input, other):
    return input.le(other)


def gt(input, other):
    return input.gt(other)


def ge(input, other):
    return input.ge(other)


def isnan(input):
    return input.isnan()


def isfinite(input):
    return input.isfinite()


def allclose(input, other, rtol=1e-5, atol=1e-8):
    return input.allclose(other, rtol, atol)


def equal(input, other):
    return input.equal(other)


def isinf(input):
    return input.isinf()


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    return input.nan_to_num(nan, posinf, neginf)


def any(input, dim=None, keepdim=False):  # noqa: A001
    return input.any(dim, keepdim)


def all(input, dim=None, keepdim=False):  # noqa: A001
    return input.all(dim, keepdim)


def prod(input, dim=None, keepdim=False):
    return input.prod(dim, keepdim)


def flip(input, dims):
    return input.flip(dims)


def fliplr(input):
    return input.fliplr()


def flipud(input):
    return input.flipud()


def roll(input, shifts, dims=None):
    return input.roll(shifts, dims)


def sort(input, dim=-1, descending=False, stable=False):
    return input.sort(dim, descending, stable)


def argsort(input, dim=-1, descending=False, stable=False):
    return input.argsort(dim, descending, stable)


def topk(input, k, dim=-1, largest=True, sorted=True):  # noqa: A002
    return input.topk(k, dim, largest, sorted)


def kthvalue(input, k, dim=-1, keepdim=False):
    return input.kthvalue(k, dim, keepdim)


def cumsum(input, dim, dtype=None):
    return input.cumsum(dim, dtype=dtype)


def cumprod(input, dim, dtype=None):
    return input.cumprod(dim, dtype=dtype)


def scatter(input, dim, index, src=None, value=None, reduce=None):
    return input.scatter(dim, index, src, value, reduce)


def scatter_add(input, dim, index, src):
    return input.scatter_add(dim, index, src)


def take_along_dim(input, indices, dim=None):
    return input.take_along_dim(indices, dim)


def index_select(input, dim, index):
    return input.index_select(dim, index)


def index_add(input, dim, index, source, alpha=1):
    return input.index_add(dim, index, source, alpha)


def masked_select(input, mask):
    return input.masked_select(mask)


def nonzero(input, as_tuple=False):
    return input.nonzero(as_tuple=as_tuple)


def argwhere(input):
    return input.argwhere()


def count_nonzero(input, dim=None):
    return input.count_nonzero(dim)


def tile(input, dims):
    return input.tile(dims)


def repeat_interleave(input, repeats, dim=None):
    return input.repeat_interleave(repeats, dim)


def movedim(input, source, destination):
    return input.movedim(source, destination)


moveaxis = movedim


def swapaxes(input, axis0, axis1):
    return input.transpose(axis0, axis1)


swapdims = swapaxes


def t(input):
    return input.t()


def select(input, dim, index):
    return input.select(dim, index)


def unflatten(input, dim, sizes):
    return input.unflatten(dim, sizes)


def broadcast_to(input, size):
    return input.expand(*size)


def diagonal(input, offset=0, dim1=0, dim2=1):
    return input.diagonal(offset, dim1, dim2)


def diag(input, diagonal=0):
    return input.diag(diagonal)


def trace(input):
    return input.trace()


def outer(input, vec2):
    return input.outer(vec2)


def mv(input, vec):
    return input.mv(vec)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    return input.addmm(mat1, mat2, beta=beta, alpha=alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    return input.addbmm(batch1, batch2, beta=beta, alpha=alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    return input.baddbmm(batch1, batch2, beta=beta, alpha=alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):
    return input.addmv(mat, vec, beta=beta, alpha=alpha)


def addcmul(input, tensor1, tensor2, *, value=1):
    return input.addcmul(tensor1, tensor2, value=value)


def addcdiv(input, tensor1, tensor2, *, value=1):
    return input.addcdiv(tensor1, tensor2, value=value)


def lerp(input, end, weight):
    return input.lerp(end, weight)


def clip(input, min=None, max=None):  # noqa: A002
    return input.clamp(min, max)


def clamp_min(input, min):  # noqa: A002
    return input.clamp(min=min)


def clamp_max(input, max):  # noqa: A002
    return input.clamp(max=max)


def sign(input):
    return input.sign()


def sgn(input):
    return input.sign()


def floor(input):
    return input.floor()


def ceil(input):
    return input.ceil()


def round(input):  # noqa: A001
    return input.round()


def trunc(input):
    return input.trunc()


def frac(input):
    return input.frac()


def reciprocal(input):
    return input.reciprocal()


def log2(input):
    return input.log2()


def log10(input):
    return input.log10()


def exp2(input):
    return input.exp2()


def expm1(input):
    return input.expm1()


def tan(input):
    return input.tan()


def sinh(input):
    return input.sinh()


def cosh(input):
    return input.cosh()


def logical_not(input):
    return input.logical_not()


def logical_and(input, other):
    return input.logical_and(other)


def logical_or(input, other):
    return input.logical_or(other)


def logical_xor(input, other):
    return input.logical_xor(other)


def bitwise_not(input):
    return input.bitwise_not()


def true_divide(input, other):
    return input / other


def floor_divide(input, other):
    return input // other


def remainder(input, other):
    return input % other


def fmod(input, other):
    return input.fmod(other)


def isclose(input, other, rtol=1e-5, atol=1e-8, equal_nan=False):
    return input._compare(other, lambda a, b: input._xp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    return input.unique(sorted, return_inverse, return_counts, dim)


def type_as(input, other):
    return input.type_as(other)


def nelement(input):
    return input.numel()


def is_tensor(obj):
    return isinstance(obj, Tensor)


def is_floating_point(input):
    return input.is_floating_point()


def einsum(equation, *operands):
    """Einstein summation, with gradients: ``einsum('bij,bjk->bik', a, b)`` (operands may also be one list)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    return ops.gemm.Einsum.apply(equation, *operands)


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids; ``indexing`` 'ij' (matrix, PyTorch's default) or 'xy' (Cartesian)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = list(tensors)
    shape = [t.numel() for t in ts]
    out = []
    for i, x in enumerate(ts):
        view = [1] * len(ts)
        view[i] = -1
        out.append(x.reshape(*view).expand(*shape))
    if indexing == "xy" and len(out) >= 2:  # Cartesian: the first two axes swap
        out = [o.transpose(0, 1) for o in out]
    return tuple(out)


def broadcast_tensors(*tensors):
    shape = np.broadcast_shapes(*[tuple(t.shape) for t in tensors])
    return tuple(t.expand(*shape) for t in tensors)


def cdist(x1, x2, p=2.0):
    """Pairwise p-norm distances between the rows of x1 (..., P, M) and x2 (..., R, M)."""
    return (x1.unsqueeze(-2) - x2.unsqueeze(-3)).norm(p, dim=-1)


def hstack(tensors):
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    return cat([t.reshape(1, -1) if t.ndim == 1 else t for t in tensors], 0)


def block_diag(*tensors):
    mats = [t.reshape(1, -1) if t.ndim == 1 else t.reshape(1, 1) if t.ndim == 0 else t for t in tensors]
    cols = builtins.sum(m.shape[1] for m in mats)
    rows, c = [], 0
    for m in mats:
        rows.append(cat([m.new_zeros(m.shape[0], c), m, m.new_zeros(m.shape[0], cols - c - m.shape[1])], 1))
        c += m.shape[1]
    return cat(rows, 0)
