"""Tensor: an array (numpy on the CPU, cupy on a GPU) with autograd.

Every method is a thin call into ``nerve.ops``; the math lives there. Views
(reshape, permute, basic indexing, detach...) share their base's version
counter, so an in-place change through any of them is seen by backward.
"""
import numbers
import weakref

import numpy as np

from nerve import autograd, backend, ops
from nerve import random as _random
from nerve.amp import bfloat16, kind as _kind  # bfloat16: ml_dtypes' dtype, NumPy kind 'V'; _kind says 'f'
from nerve.autograd import VersionCounter, is_grad_enabled
from nerve.device import CPU, device as Device
from nerve.errors import DTypeError, ShapeError

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)

_default_dtype = float32


dtype = np.dtype  # the type of nerve.float32 & co: isinstance(x, nerve.dtype)


def finfo(type=None):  # noqa: A002 (PyTorch's name)
    """Limits of a floating dtype (default: the default dtype): .eps, .max, .min, .tiny, .bits."""
    return np.finfo(_default_dtype if type is None else type)


def iinfo(type):  # noqa: A002
    return np.iinfo(type)


def set_default_dtype(dtype):
    global _default_dtype
    _default_dtype = np.dtype(dtype)


def get_default_dtype():
    return _default_dtype


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """How tensors print (numpy's print options; ``profile``: 'default', 'short' or 'full')."""
    if profile is not None:
        base = {"default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
                "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
                "full": dict(precision=4, threshold=np.inf, edgeitems=3, linewidth=80)}[profile]
        _print_options.update(base)
    for k, v in dict(precision=precision, threshold=threshold, edgeitems=edgeitems, linewidth=linewidth).items():
        if v is not None:
            _print_options[k] = v
    if sci_mode is not None:
        _print_options["suppress"] = not sci_mode


_print_options = {"precision": 4}


def _device_type(device):
    return CPU.type if device is None else Device(device).type


def _as_array(data, dtype=None, device=None):
    """Array on `device` from Python data, numpy/cupy arrays or Tensors (copying)."""
    if isinstance(data, Tensor):
        data = data.array
    be = backend.for_device(_device_type(device)) if device is not None else backend.of(data)
    if dtype is None:
        if isinstance(data, (np.ndarray, np.generic)) or type(data).__module__.startswith("cupy"):
            dtype = data.dtype
        else:
            probe = np.asarray(data)
            dtype = _default_dtype if probe.dtype.kind == "f" else probe.dtype
    if backend.of(data) is not be:
        data = backend.of(data).to_numpy(data)
    return be.xp.array(data, dtype=np.dtype(dtype), copy=True)


class Tensor:
    """A multi-dimensional array with reverse-mode autograd, PyTorch style."""

    __array_priority__ = 1000  # numpy defers to our reflected operators

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        self._init(_as_array(data, dtype, device), requires_grad)

    @classmethod
    def _wrap(cls, array, requires_grad=False):
        t = cls.__new__(cls)
        t._init(array, requires_grad)
        return t

    def _init(self, array, requires_grad):
        if isinstance(array, np.generic):  # numpy reductions return scalars; a tensor needs a (0-d) array
            array = np.asarray(array)
        self.array = array
        self.grad = None
        self.grad_fn = None
        self.output_nr = 0  # which output of grad_fn this tensor is
        self._version_counter = VersionCounter()
        self._is_view = False
        self._base_index = None  # (base, index) for a view made by basic indexing
        self.requires_grad = requires_grad

    def _view_of(self, base):
        """Mark self as a view of base: one version counter."""
        self._version_counter = base._version_counter
        self._is_view = True
        return self

    # ------------------------------------------------------------- attributes
    # ``array``: the raw numpy (CPU) or cupy (GPU) array holding the values.
    # nerve's own code (nn, optim, serialization...) reads and writes it
    # directly; user code uses ``data`` as in PyTorch.

    @property
    def data(self):
        """PyTorch's ``.data``: a tensor sharing this one's memory, outside
        autograd (requires_grad False, no version tracking), so
        ``p.data.add_(p.grad, alpha=-lr)`` updates p without recording."""
        return Tensor._wrap(self.array)

    @data.setter
    def data(self, value):
        """``p.data = t`` makes p use t's memory (shape and dtype may change)."""
        if not isinstance(value, Tensor):
            raise TypeError(f"data: expected a Tensor to assign, got {type(value).__name__}")
        self.array = value.array

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        value = bool(value)
        if value and _kind(self.array.dtype) not in "fc":
            raise RuntimeError(f"requires_grad: only floating point tensors can require gradients, got {self.dtype}")
        if not value and self.grad_fn is not None:
            raise RuntimeError("requires_grad: cannot turn it off on a non-leaf tensor; use detach()")
        self._requires_grad = value

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def _xp(self):
        return backend.of(self.array).xp

    @property
    def _version(self):
        return self._version_counter.value

    @property
    def shape(self):
        return Size(self.array.shape)

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def device(self):
        return CPU if backend.of(self.array) is backend.cpu else Device("cuda", self.array.device.id)

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    @property
    def is_cpu(self):
        return self.device.type == "cpu"

    @property
    def is_xpu(self):
        return False

    @property
    def is_mps(self):
        return False

    @property
    def is_sparse(self):
        return False

    @property
    def is_quantized(self):
        return False

    @property
    def is_meta(self):
        return False

    @property
    def ndim(self):
        return self.array.ndim

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self):
        return self.transpose(-2, -1)

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self):
        return self.ndim

    def numel(self):
        return int(self.array.size)

    def element_size(self):
        return self.array.itemsize

    @property
    def nbytes(self):
        return int(self.array.nbytes)

    def stride(self, dim=None):
        s = tuple(v // self.array.itemsize for v in self.array.strides)
        return s if dim is None else s[dim]

    def is_contiguous(self):
        return bool(self.array.flags.c_contiguous)

    def is_floating_point(self):
        return _kind(self.dtype) == "f"

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self)))

    def __hash__(self):
        return id(self)

    # --------------------------------------------------------- conversions
    def numpy(self):
        if self.requires_grad:
            raise RuntimeError("numpy: can't call numpy() on a tensor that requires grad; use detach().numpy()")
        if self.device.type != "cpu":
            raise TypeError("numpy: can't convert a cuda tensor to numpy; use .cpu() first")
        return self.array

    def __array__(self, dtype=None, copy=None):
        """np.asarray(t): the tensor's own memory where it can be (numpy 2's copy=: True always copies,
        False raises where a dtype change needs a copy, None copies only then)."""
        if self.device.type != "cpu":
            raise TypeError("__array__: can't convert a cuda tensor to numpy; use .cpu() first")
        if copy is False and dtype is not None and np.dtype(dtype) != self.array.dtype:
            raise ValueError(f"__array__: converting {self.dtype} to {np.dtype(dtype)} needs a copy, but copy=False")
        array = self.array if dtype is None else self.array.astype(dtype, copy=False)
        return array.copy() if copy and array is self.array else array

    def __dlpack__(self, *args, **kwargs):
        """DLPack export of the tensor's memory (no copy): numpy's or cupy's, with their keywords
        (stream, max_version, dl_device, copy). Consumers: np.from_dlpack, torch.from_dlpack, cupy."""
        return self.array.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()

    @property
    def __cuda_array_interface__(self):
        """Numba/CuPy's CUDA array interface for GPU tensors (CPU tensors have none: hasattr is False)."""
        if self.device.type != "cuda":
            raise AttributeError("__cuda_array_interface__: only cuda tensors have it; this one is on the cpu")
        return self.array.__cuda_array_interface__

    def item(self):
        if self.numel() != 1:
            raise ValueError(f"item: only one-element tensors can be converted to Python scalars, got shape "
                             f"{tuple(self.shape)}")
        return self.array.reshape(()).item()

    def tolist(self):
        return backend.of(self.array).to_numpy(self.array).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iub":
            raise TypeError(f"only integer tensors of a single element can be converted to an index, got {self.dtype}")
        return int(self.item())

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self.numel()} values is ambiguous")
        return bool(self.item())

    def __format__(self, spec):
        if self.ndim == 0 or self.numel() == 1 and spec:
            return format(self.item(), spec)
        return format(repr(self), spec)

    def __repr__(self):
        with np.printoptions(**{k: v for k, v in _print_options.items() if k != "precision"}):
            array = backend.of(self.array).to_numpy(self.array)
            array = array.astype(float32) if array.dtype == bfloat16 else array  # NumPy formats bf16 as an object
            body = np.array2string(array, separator=", ", precision=_print_options["precision"], prefix="tensor(")
        extras = []
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        if self.dtype not in (float32, int64, bool_) or self.numel() == 0:
            extras.append(f"dtype=nerve.{self.dtype.name}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.fn.__name__}Backward>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False, memory_format=None):
        """Move and/or cast: ``to(device)``, ``to(dtype)``, ``to(other)``; ``non_blocking`` and ``memory_format``
        are accepted (copies are synchronous; tensors are row-major)."""
        for a in args:
            if isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, (Device, str)) and not _is_dtype_name(a):
                device = a
            else:
                dtype = a
        out = self
        if device is not None and Device(device).type != self.device.type:
            out = ops.copy.ToDevice.apply(out, Device(device).type)
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = ops.copy.Cast.apply(out, np.dtype(dtype))
        return out.clone() if copy and out is self else out

    def cpu(self, memory_format=None):
        return self.to("cpu")

    def pin_memory(self, device=None):
        """PyTorch pins host memory for faster GPU copies; numpy arrays need nothing: self."""
        return self

    def is_pinned(self, device=None):
        return False

    def cuda(self, device=None, non_blocking=False):
        return self.to("cuda" if device is None else Device("cuda", device if isinstance(device, numbers.Integral)
                                                           else Device(device).index))

    def type(self, dtype=None):
        """The dtype's name ('nerve.float32') or, given a dtype or such a name, a cast."""
        if dtype is None:
            return f"nerve.{self.dtype.name}"
        if isinstance(dtype, str) and dtype.startswith("nerve."):
            dtype = dtype[len("nerve."):]
        return self.to(dtype=dtype)

    def float(self):
        return self.to(dtype=float32)

    def double(self):
        return self.to(dtype=float64)

    def half(self):
        return self.to(dtype=float16)

    def bfloat16(self):
        return self.to(dtype=bfloat16)

    def long(self):
        return self.to(dtype=int64)

    def int(self):
        return self.to(dtype=int32)

    def bool(self):
        return self.to(dtype=bool_)

    def short(self):
        return self.to(dtype=int16)

    def char(self):
        return self.to(dtype=int8)

    def byte(self):
        return self.to(dtype=uint8)

    # ----------------------------------------------------------- autograd
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        if create_graph:
            raise NotImplementedError("backward: create_graph=True (higher-order gradients) is not supported")
        autograd.backward(self, gradient, bool(retain_graph))

    def detach(self):
        return Tensor._wrap(self.array)._view_of(self)

    def detach_(self):
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self):
        if self.grad_fn is not None:
            self.grad_fn.retained[self.output_nr] = weakref.ref(self)

    # ----------------------------------------------------------- operands
    def _operand(self, other):
        """`other` as a Tensor on self's device, with PyTorch's scalar type rules."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (bool, np.bool_)):
            return Tensor._wrap(self._xp.asarray(other, dtype=self.dtype))
        if isinstance(other, numbers.Number):
            dtype = self.dtype
            if isinstance(other, numbers.Integral) and dtype.kind == "b":
                dtype = int64
            elif not isinstance(other, numbers.Integral) and dtype.kind in "biu":
                dtype = _default_dtype
            return Tensor._wrap(self._xp.asarray(other, dtype=dtype))
        return Tensor(other, device=self.device)

    def _binary(self, other, fn, reverse=False):
        other = self._operand(other)
        a, b = (other, self) if reverse else (self, other)
        fa, fb = _kind(a.dtype) == "f", _kind(b.dtype) == "f"
        if fa != fb:  # int with float: the int side takes the float dtype (PyTorch, not numpy)
            a, b = (a, b.to(dtype=a.dtype)) if fa else (a.to(dtype=b.dtype), b)
        elif a.dtype != b.dtype and _kind(a.dtype) == _kind(b.dtype) and (a.ndim == 0) != (b.ndim == 0):
            # Same kind: a 0-d tensor does not promote a dimensioned one (float32 + 0-d float64 is float32).
            a, b = (a.to(dtype=b.dtype), b) if a.ndim == 0 else (a, b.to(dtype=a.dtype))
        try:
            return fn.apply(a, b)
        except ValueError:
            _check_broadcast(fn.name(), a.shape, b.shape)
            raise

    def __add__(self, other):
        return self._binary(other, ops.elementwise.Add)

    def __radd__(self, other):
        return self._binary(other, ops.elementwise.Add, reverse=True)

    def __sub__(self, other):
        return self._binary(other, ops.elementwise.Sub)

    def __rsub__(self, other):
        return self._binary(other, ops.elementwise.Sub, reverse=True)

    def __mul__(self, other):
        return self._binary(other, ops.elementwise.Mul)

    def __rmul__(self, other):
        return self._binary(other, ops.elementwise.Mul, reverse=True)

    def __truediv__(self, other):
        me = self if self.is_floating_point() else self.float()
        return me._binary(other, ops.elementwise.Div)

    def __rtruediv__(self, other):
        me = self if self.is_floating_point() else self.float()
        return me._binary(other, ops.elementwise.Div, reverse=True)

    def __floordiv__(self, other):
        return Tensor._wrap(self.array // self._operand(other).array)

    def __mod__(self, other):
        return Tensor._wrap(self.array % self._operand(other).array)

    # a += b changes a in place (PyTorch), so `p -= lr * g` under no_grad updates a Parameter.
    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def __neg__(self):
        return ops.elementwise.Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor):
            return self._binary(exponent, ops.elementwise.Pow)
        return ops.elementwise.PowScalar.apply(self, exponent)

    def __rpow__(self, base):
        return self._binary(base, ops.elementwise.Pow, reverse=True)

    def __matmul__(self, other):
        return self.matmul(other)

    def __rmatmul__(self, other):
        return self._operand(other).matmul(self)

    def _compare(self, other, op):
        other = self._operand(other)
        try:
            return Tensor._wrap(op(self.array, other.array))
        except ValueError:
            _check_broadcast("compare", self.shape, other.shape)
            raise

    def __eq__(self, other):
        if other is None:
            return False
        return self._compare(other, lambda a, b: a == b)

    def __ne__(self, other):
        if other is None:
            return True
        return self._compare(other, lambda a, b: a != b)

    def __lt__(self, other):
        return self._compare(other, lambda a, b: a < b)

    def __le__(self, other):
        return self._compare(other, lambda a, b: a <= b)

    def __gt__(self, other):
        return self._compare(other, lambda a, b: a > b)

    def __ge__(self, other):
        return self._compare(other, lambda a, b: a >= b)

    def __invert__(self):
        return Tensor._wrap(~self.array)

    def __and__(self, other):
        return self._compare(other, lambda a, b: a & b)

    def __or__(self, other):
        return self._compare(other, lambda a, b: a | b)

    def __xor__(self, other):
        return self._compare(other, lambda a, b: a ^ b)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__
    add, sub, mul, div, pow = __add__, __sub__, __mul__, __truediv__, __pow__
    multiply, divide, subtract, greater, less = __mul__, __truediv__, __sub__, __gt__, __lt__

    def logical_not(self):
        return Tensor._wrap(self._xp.logical_not(self.array))

    def isnan(self):
        return Tensor._wrap(self._xp.isnan(self.array))

    def isfinite(self):
        return Tensor._wrap(self._xp.isfinite(self.array))

    def allclose(self, other, rtol=1e-5, atol=1e-8):
        return bool(self._xp.allclose(self.array, self._operand(other).array, rtol=rtol, atol=atol))

    def equal(self, other):
        other = self._operand(other)
        return self.shape == other.shape and bool((self.array == other.array).all())

    # ------------------------------------------------------------- math
    def exp(self):
        return ops.elementwise.Exp.apply(self._floating())

    def log(self):
        return ops.elementwise.Log.apply(self._floating())

    def log1p(self):
        return ops.elementwise.Log1p.apply(self._floating())

    def sqrt(self):
        return ops.elementwise.Sqrt.apply(self._floating())

    def rsqrt(self):
        return 1 / self.sqrt()

    def abs(self):
        return ops.elementwise.Abs.apply(self)

    def sin(self):
        return ops.elementwise.Sin.apply(self._floating())

    def cos(self):
        return ops.elementwise.Cos.apply(self._floating())

    def square(self):
        return self * self

    def reciprocal(self):
        return 1 / self

    def sign(self):
        return Tensor._wrap(self._xp.sign(self.array))

    def floor(self):
        return Tensor._wrap(self._xp.floor(self.array))

    def ceil(self):
        return Tensor._wrap(self._xp.ceil(self.array))

    def round(self):
        return Tensor._wrap(self._xp.round(self.array))

    def clamp(self, min=None, max=None):
        if min is None and max is None:
            raise ValueError("clamp: at least one of 'min' and 'max' must be given")
        return ops.elementwise.Clamp.apply(self, min, max)

    clip = clamp

    def clamp_(self, min=None, max=None):
        return self._inplace(lambda x: x.clamp(min, max), "clamp_")

    def maximum(self, other):
        other = self._operand(other)
        return where(self >= other, self, other)

    def minimum(self, other):
        other = self._operand(other)
        return where(self <= other, self, other)

    def _floating(self):
        return self if self.is_floating_point() else self.to(dtype=_default_dtype)

    def relu(self):
        return ops.activation.Relu.apply(self)

    def leaky_relu(self, negative_slope=0.01):
        return ops.activation.LeakyRelu.apply(self._floating(), negative_slope)

    def gelu(self, approximate="none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        return ops.activation.Gelu.apply(self._floating(), approximate)

    def silu(self):
        return ops.activation.Silu.apply(self._floating())

    def softplus(self, beta=1.0, threshold=20.0):
        return ops.activation.Softplus.apply(self._floating(), beta, threshold)

    def sigmoid(self):
        return ops.activation.Sigmoid.apply(self._floating())

    def tanh(self):
        return ops.activation.Tanh.apply(self._floating())

    def softmax(self, dim):
        return ops.activation.Softmax.apply(self._floating(), _dim(dim, self.ndim, "softmax"))

    def log_softmax(self, dim):
        return ops.activation.LogSoftmax.apply(self._floating(), _dim(dim, self.ndim, "log_softmax"))

    def matmul(self, other):
        other = self._operand(other)
        return ops.gemm.MatMul.apply(self, other)

    def mm(self, other):
        if self.ndim != 2 or self._operand(other).ndim != 2:
            raise ShapeError(f"mm: expected 2-D tensors, got {self.ndim}-D and {self._operand(other).ndim}-D")
        return self.matmul(other)

    def bmm(self, other):
        if self.ndim != 3 or self._operand(other).ndim != 3:
            raise ShapeError(f"bmm: expected 3-D tensors, got {self.ndim}-D and {self._operand(other).ndim}-D")
        return self.matmul(other)

    def dot(self, other):
        return self.matmul(other)

    # ---------------------------------------------------------- reductions
    def sum(self, dim=None, keepdim=False, dtype=None):
        x = self if dtype is None else self.to(dtype=dtype)
        if x.dtype.kind in "biu":
            return Tensor._wrap(x.array.sum(axis=ops.reduce.normalize_dims(dim, x.ndim), keepdims=keepdim))
        return ops.reduce.Sum.apply(x, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return ops.reduce.Mean.apply(self._floating(), dim, keepdim)

    def _check_reducible(self, op, dim):
        """max/min/argmax have no value over nothing: every reduced dim must be non-empty."""
        if self.numel() == 0:
            for d in ops.reduce.normalize_dims(dim, self.ndim):
                if self.shape[d] == 0:
                    raise RuntimeError(f"{op}: expected reduction dim {d} to have non-zero size, got shape "
                                       f"{tuple(self.shape)}")
            if dim is None:
                raise RuntimeError(f"{op}: expected a non-empty tensor")

    def _extreme(self, dim, keepdim, sign):
        self._check_reducible("max" if sign > 0 else "min", dim)
        if dim is None or not isinstance(dim, numbers.Integral):
            return ops.reduce.Amax.apply(self, dim, keepdim, sign)
        values = ops.reduce.MaxDim.apply(self, dim, keepdim, sign)
        indices = self.argmax(dim, keepdim) if sign > 0 else self.argmin(dim, keepdim)
        return MinMax(values, indices)

    def max(self, dim=None, keepdim=False):
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        return self._extreme(dim, keepdim, 1)

    def min(self, dim=None, keepdim=False):
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        return self._extreme(dim, keepdim, -1)

    def amax(self, dim=None, keepdim=False):
        self._check_reducible("amax", dim)
        return ops.reduce.Amax.apply(self, dim, keepdim, 1)

    def amin(self, dim=None, keepdim=False):
        self._check_reducible("amin", dim)
        return ops.reduce.Amax.apply(self, dim, keepdim, -1)

    def argmax(self, dim=None, keepdim=False):
        self._check_reducible("argmax", dim)
        if dim is None:
            return Tensor._wrap(self._xp.asarray(self.array.argmax(), dtype=int64))
        return Tensor._wrap(self._xp.argmax(self.array, axis=dim, keepdims=keepdim).astype(int64))

    def argmin(self, dim=None, keepdim=False):
        self._check_reducible("argmin", dim)
        if dim is None:
            return Tensor._wrap(self._xp.asarray(self.array.argmin(), dtype=int64))
        return Tensor._wrap(self._xp.argmin(self.array, axis=dim, keepdims=keepdim).astype(int64))

    def var(self, dim=None, unbiased=None, keepdim=False, correction=None):
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        return ops.reduce.Var.apply(self._floating(), dim, correction, keepdim)

    def std(self, dim=None, unbiased=None, keepdim=False, correction=None):
        return self.var(dim, unbiased, keepdim, correction).sqrt()

    def logsumexp(self, dim, keepdim=False):
        return ops.reduce.LogSumExp.apply(self._floating(), dim, keepdim)

    def norm(self, p=2, dim=None, keepdim=False):
        """Vector p-norm over dims (all by default); 'fro' is p=2. The
        gradient at a zero norm is 0, as in PyTorch, not nan."""
        if p == "fro":
            p = 2
        if p == float("inf"):
            return self.abs().amax(dim, keepdim)
        if p == 1:
            return self.abs().sum(dim, keepdim)
        if not isinstance(p, numbers.Real) or p <= 0:
            raise ValueError(f"norm: p must be a positive number, 'fro' or inf, got {p!r}")
        return ops.reduce.Norm.apply(self._floating(), float(p), dim, keepdim)

    def prod(self, dim=None, keepdim=False):
        return Tensor._wrap(self.array.prod(axis=ops.reduce.normalize_dims(dim, self.ndim), keepdims=keepdim))

    def any(self, dim=None, keepdim=False):
        return Tensor._wrap(self._xp.any(self.array, axis=dim, keepdims=keepdim))

    def all(self, dim=None, keepdim=False):
        return Tensor._wrap(self._xp.all(self.array, axis=dim, keepdims=keepdim))

    # --------------------------------------------------------------- shape
    def reshape(self, *shape):
        shape = _shape_arg(shape)
        known = [n for n in shape if n != -1]
        size = int(np.prod(known)) if known else 1
        if (shape.count(-1) > 1 or any(n < -1 for n in shape)
                or (size != self.numel() if -1 not in shape else size == 0 or self.numel() % size)):
            raise ShapeError(f"reshape: shape {list(shape)} is invalid for input of shape {tuple(self.shape)} "
                             f"({self.numel()} elements)")
        return ops.shape.Reshape.apply(self, shape)._view_of(self)

    def view(self, *shape):
        if len(shape) == 1 and not isinstance(shape[0], (tuple, list, Size)) and not isinstance(shape[0], numbers.Integral):
            # view(dtype): the same bytes read as another dtype (no gradient), as PyTorch
            return Tensor._wrap(self.array.view(np.dtype(shape[0])))._view_of(self)
        out = self.reshape(*shape)
        # PyTorch's rule: a view needs strides that fit the new shape (splitting or merging dims
        # that are laid out together), not full contiguity; numpy's reshape copies exactly when they do not.
        if self.numel() > 1 and not self._xp.may_share_memory(out.array, self.array):
            raise ShapeError(f"view: size {list(out.shape)} is not compatible with input tensor's size "
                             f"{tuple(self.shape)} and stride {self.stride()} (at least one dimension spans across "
                             "two contiguous subspaces); use reshape() or contiguous().view()")
        return out

    def view_as(self, other):
        return self.view(other.shape)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = _dim(start_dim, self.ndim, "flatten"), _dim(end_dim, self.ndim, "flatten")
        if s > e:
            raise ValueError(f"flatten: start_dim {start_dim} must not come after end_dim {end_dim}")
        shape = self.shape
        return self.reshape(*shape[:s], -1 if self.numel() else int(np.prod(shape[s:e + 1])), *shape[e + 1:])

    def unflatten(self, dim, sizes):
        dim = _dim(dim, self.ndim, "unflatten")
        return self.reshape(*self.shape[:dim], *sizes, *self.shape[dim + 1:])

    def permute(self, *dims):
        dims = tuple(_dim(d, self.ndim, "permute") for d in _shape_arg(dims))
        if sorted(dims) != list(range(self.ndim)):
            raise ShapeError(f"permute: dims {dims} are not a permutation of {self.ndim} dimensions")
        return ops.shape.Permute.apply(self, dims)._view_of(self)

    def transpose(self, dim0, dim1):
        dim0, dim1 = _dim(dim0, self.ndim, "transpose"), _dim(dim1, self.ndim, "transpose")
        dims = list(range(self.ndim))
        if self.ndim:
            dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return self.permute(*dims)

    def swapaxes(self, dim0, dim1):
        return self.transpose(dim0, dim1)

    def t(self):
        if self.ndim > 2:
            raise ShapeError(f"t: expects a tensor with <= 2 dimensions, got {self.ndim}")
        return self.T

    def contiguous(self):
        if self.array.flags.c_contiguous:
            return self
        if self.requires_grad:
            return ops.copy.Clone.apply(self)
        return Tensor._wrap(self._xp.ascontiguousarray(self.array))

    def clone(self):
        return ops.copy.Clone.apply(self)

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape(*[n for n in self.shape if n != 1])
        dims = {_dim(d, self.ndim, "squeeze") for d in ((dim,) if isinstance(dim, numbers.Integral) else dim)}
        return self.reshape(*[n for i, n in enumerate(self.shape) if not (i in dims and n == 1)])

    def unsqueeze(self, dim):
        dim = _dim(dim, self.ndim + 1, "unsqueeze")
        return self.reshape(*self.shape[:dim], 1, *self.shape[dim:])

    def expand(self, *shape):
        shape = list(_shape_arg(shape))
        lead = len(shape) - self.ndim
        if lead < 0:
            raise ShapeError(f"expand: the number of sizes ({len(shape)}) is smaller than the tensor's dims "
                             f"({self.ndim})")
        for i in range(self.ndim):
            if shape[lead + i] == -1:
                shape[lead + i] = self.shape[i]
            elif self.shape[i] != 1 and shape[lead + i] != self.shape[i]:
                raise ShapeError(f"expand: the size of dim {i} ({self.shape[i]}) must match the new size "
                                 f"{shape[lead + i]} unless it is 1 (shape {tuple(self.shape)} to {tuple(shape)})")
        if any(n < 0 for n in shape):
            raise ShapeError(f"expand: sizes must be non-negative (or -1 for an existing dim), got {tuple(shape)}")
        return ops.shape.Expand.apply(self, tuple(shape))._view_of(self)

    def expand_as(self, other):
        return self.expand(*other.shape)

    def repeat(self, *sizes):
        sizes = _shape_arg(sizes)
        x = self.reshape(*([1] * (len(sizes) - self.ndim)), *self.shape)
        # tile = expand an inserted axis before each dim, then merge it in.
        inter = []
        for r, n in zip(sizes, x.shape):
            inter += [r, n]
        expanded = x.reshape(*[v for n in x.shape for v in (1, n)]).expand(*inter)
        return expanded.reshape(*[r * n for r, n in zip(sizes, x.shape)])

    def narrow(self, dim, start, length):
        dim = _dim(dim, self.ndim, "narrow")
        n = self.shape[dim]
        start = start + n if start < 0 else start
        if not (0 <= start <= n and 0 <= length and start + length <= n):
            raise IndexError(f"narrow: start {start} and length {length} do not fit dimension {dim} of size {n}")
        index = [slice(None)] * self.ndim
        index[dim] = slice(start, start + length)
        return self[tuple(index)]

    def split(self, split_size_or_sections, dim=0):
        dim = _dim(dim, self.ndim, "split")
        n = self.shape[dim]
        if isinstance(split_size_or_sections, numbers.Integral):
            size = int(split_size_or_sections)
            if size <= 0:
                raise ValueError(f"split: split_size must be positive, got {size}")
            sections = [min(size, n - s) for s in range(0, n, size)] or [0]
        else:
            sections = list(split_size_or_sections)
            if sum(sections) != n:
                raise ShapeError(f"split: sections {sections} do not sum to dimension {dim}'s size {n}")
        out, start = [], 0
        for s in sections:
            out.append(self.narrow(dim, start, s))
            start += s
        return tuple(out)

    def chunk(self, chunks, dim=0):
        dim = _dim(dim, self.ndim, "chunk")
        if chunks <= 0:
            raise ValueError(f"chunk: chunks must be positive, got {chunks}")
        n = self.shape[dim]
        return self.split(max(-(-n // chunks), 1), dim)

    def unbind(self, dim=0):
        dim = _dim(dim, self.ndim, "unbind")
        return tuple(self.select(dim, i) for i in range(self.shape[dim]))

    def select(self, dim, index):
        dim = _dim(dim, self.ndim, "select")
        if not -self.shape[dim] <= index < self.shape[dim]:
            raise IndexError(f"select: index {index} is out of range for dimension {dim} of size {self.shape[dim]}")
        idx = [slice(None)] * self.ndim
        idx[dim] = index
        return self[tuple(idx)]

    def tril(self, diagonal=0):
        return ops.shape.Tri.apply(self, diagonal, False)

    def triu(self, diagonal=0):
        return ops.shape.Tri.apply(self, diagonal, True)

    def masked_fill(self, mask, value):
        mask = self._operand(mask)
        return where(mask, self._operand(value).to(dtype=self.dtype), self)

    def gather(self, dim, index):
        dim = _dim(dim, self.ndim, "gather")
        index = self._index_tensor(index, "gather")
        if index.ndim != self.ndim and not (self.ndim == 0 and index.ndim <= 1):
            raise ShapeError(f"gather: index must have as many dims as input ({self.ndim}), got {index.ndim}")
        return ops.shape.Gather.apply(self, index.array, dim)

    def take_along_dim(self, indices, dim=None):
        if dim is None:
            return self.reshape(-1).gather(0, self._index_tensor(indices, "take_along_dim").reshape(-1))
        return self.gather(dim, indices)

    def _index_tensor(self, index, op):
        index = index if isinstance(index, Tensor) else Tensor(index, device=self.device)
        if index.dtype.kind not in "iu":
            raise DTypeError(f"{op}: expected an integer index tensor (int64), got {index.dtype}")
        return index

    def _scatter(self, dim, index, src, add, op):
        dim = _dim(dim, self.ndim, op)
        index = self._index_tensor(index, op)
        if index.ndim != self.ndim:
            raise ShapeError(f"{op}: index must have as many dims as self ({self.ndim}), got {index.ndim}")
        src = self._operand(src).to(dtype=self.dtype)
        if src.ndim and any(i > s for i, s in zip(index.shape, src.shape)):
            raise ShapeError(f"{op}: index shape {tuple(index.shape)} is larger than src shape {tuple(src.shape)}")
        n = self.shape[dim] if self.ndim else 1
        if index.numel() and (int(index.array.min()) < 0 or int(index.array.max()) >= n):
            raise IndexError(f"{op}: index out of range for dimension {dim} of size {n}")
        return ops.shape.Scatter.apply(self, src, index.array, dim, add)

    def scatter(self, dim, index, src=None, value=None, reduce=None):
        """out = self with out[...index[i]...] = src[i] along dim (src a tensor or a number)."""
        if reduce is not None:
            if reduce != "add":
                raise NotImplementedError(f"scatter: reduce={reduce!r} is not supported (only 'add')")
            return self.scatter_add(dim, index, src if value is None else value)
        return self._scatter(dim, index, src if value is None else value, False, "scatter")

    def scatter_add(self, dim, index, src):
        return self._scatter(dim, index, src, True, "scatter_add")

    def scatter_(self, dim, index, src=None, value=None, reduce=None):
        return self._inplace(lambda x: x.scatter(dim, index, src, value, reduce), "scatter_", src)

    def scatter_add_(self, dim, index, src):
        return self._inplace(lambda x: x.scatter_add(dim, index, src), "scatter_add_", src)

    def index_select(self, dim, index):
        dim = _dim(dim, self.ndim, "index_select")
        index = self._index_tensor(index, "index_select")
        if index.ndim > 1:
            raise ShapeError(f"index_select: index must be 0-D or 1-D, got shape {tuple(index.shape)}")
        idx = [slice(None)] * self.ndim
        idx[dim] = index.reshape(-1).array
        return self[tuple(idx)]

    def masked_select(self, mask):
        mask = self._operand(mask)
        shape = np.broadcast_shapes(tuple(self.shape), tuple(mask.shape))
        return self.expand(*shape)[mask.expand(*shape)]

    def nonzero(self, as_tuple=False):
        idx = self._xp.nonzero(self.array)
        if as_tuple:
            return tuple(Tensor._wrap(i.astype(int64)) for i in idx)
        return Tensor._wrap(self._xp.stack(idx, axis=1).astype(int64) if idx else self._xp.zeros((1, 0), int64))

    def argwhere(self):
        return self.nonzero()

    def count_nonzero(self, dim=None):
        return Tensor._wrap(self._xp.asarray(self._xp.count_nonzero(self.array, axis=dim), dtype=int64))

    def flip(self, *dims):
        dims = tuple(_dim(d, self.ndim, "flip") for d in _shape_arg(dims))
        return ops.shape.Flip.apply(self, dims)

    def fliplr(self):
        return self.flip(1)

    def flipud(self):
        return self.flip(0)

    def roll(self, shifts, dims=None):
        if dims is None:
            return ops.shape.Roll.apply(self, int(shifts) if isinstance(shifts, numbers.Integral) else
                                        int(sum(shifts)), None)
        shifts = (shifts,) if isinstance(shifts, numbers.Integral) else tuple(shifts)
        dims = (dims,) if isinstance(dims, numbers.Integral) else tuple(dims)
        if len(shifts) != len(dims):
            raise ShapeError(f"roll: shifts ({len(shifts)}) and dims ({len(dims)}) must have the same length")
        return ops.shape.Roll.apply(self, tuple(int(s) for s in shifts),
                                    tuple(_dim(d, self.ndim, "roll") for d in dims))

    def argsort(self, dim=-1, descending=False, stable=False):
        dim = _dim(dim, self.ndim, "argsort")
        a = self.array
        if self.ndim == 0:
            return Tensor._wrap(self._xp.zeros((), int64))
        if descending:
            a = -(a.astype(int64) if a.dtype.kind in "bu" else a)
        return Tensor._wrap(self._xp.argsort(a, axis=dim, kind="stable").astype(int64))

    def sort(self, dim=-1, descending=False, stable=False):
        """(values, indices) sorted along dim; the values' gradient flows back through the indices."""
        indices = self.argsort(dim, descending)
        values = self.gather(dim, indices) if self.ndim else self.clone()
        return MinMax(values, indices)

    def topk(self, k, dim=-1, largest=True, sorted=True):  # noqa: A002 (PyTorch's name)
        dim = _dim(dim, self.ndim, "topk")
        n = self.shape[dim] if self.ndim else 1
        if not 0 <= k <= n:
            raise IndexError(f"topk: k ({k}) is out of range for dimension {dim} of size {n}")
        indices = self.argsort(dim, descending=largest).narrow(dim, 0, k) if self.ndim else self.argsort()
        return MinMax(self.gather(dim, indices) if self.ndim else self.clone(), indices)

    def kthvalue(self, k, dim=-1, keepdim=False):
        values, indices = self.sort(dim)
        values, indices = values.select(dim, k - 1), indices.select(dim, k - 1)
        if keepdim:
            values, indices = values.unsqueeze(dim), indices.unsqueeze(dim)
        return MinMax(values, indices)

    def cumsum(self, dim, dtype=None):
        x = self if dtype is None else self.to(dtype=dtype)
        if x.dtype.kind in "biu":  # PyTorch sums bool and small ints as int64, no gradient
            return Tensor._wrap(self._xp.cumsum(x.array, axis=_dim(dim, x.ndim, "cumsum"), dtype=int64))
        return ops.reduce.CumSum.apply(x, _dim(dim, x.ndim, "cumsum"))

    def cumprod(self, dim, dtype=None):
        x = self if dtype is None else self.to(dtype=dtype)
        if x.dtype.kind in "biu":
            return Tensor._wrap(self._xp.cumprod(x.array, axis=_dim(dim, x.ndim, "cumprod"), dtype=int64))
        return ops.reduce.CumProd.apply(x, _dim(dim, x.ndim, "cumprod"))

    def tile(self, *dims):
        dims = _shape_arg(dims)
        return self.repeat(*([1] * (self.ndim - len(dims))), *dims)

    def repeat_interleave(self, repeats, dim=None):
        if dim is None:
            return self.reshape(-1).repeat_interleave(repeats, 0)
        dim = _dim(dim, self.ndim, "repeat_interleave")
        reps = repeats.array if isinstance(repeats, Tensor) else repeats
        index = self._xp.repeat(self._xp.arange(self.shape[dim]), reps)
        return self.index_select(dim, Tensor._wrap(index.astype(int64)))

    def movedim(self, source, destination):
        src = (source,) if isinstance(source, numbers.Integral) else tuple(source)
        dst = (destination,) if isinstance(destination, numbers.Integral) else tuple(destination)
        src = [_dim(d, self.ndim, "movedim") for d in src]
        dst = [_dim(d, self.ndim, "movedim") for d in dst]
        order = [d for d in range(self.ndim) if d not in src]
        for d, s in sorted(zip(dst, src)):
            order.insert(d, s)
        return self.permute(*order)

    moveaxis = movedim

    def swapdims(self, dim0, dim1):
        return self.transpose(dim0, dim1)

    def broadcast_to(self, *shape):
        return self.expand(*shape)

    def diagonal(self, offset=0, dim1=0, dim2=1):
        dim1, dim2 = _dim(dim1, self.ndim, "diagonal"), _dim(dim2, self.ndim, "diagonal")
        n1, n2 = self.shape[dim1], self.shape[dim2]
        length = max(0, min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2))
        i = self._xp.arange(length) + max(-offset, 0)
        j = self._xp.arange(length) + max(offset, 0)
        rest = [d for d in range(self.ndim) if d not in (dim1, dim2)]
        moved = self.permute(*rest, dim1, dim2)
        return moved[(Ellipsis, i, j)]

    def diag(self, diagonal=0):
        if self.ndim == 1:
            n = self.shape[0] + abs(diagonal)
            i = self._xp.arange(self.shape[0])
            index = (i + max(-diagonal, 0), i + max(diagonal, 0))
            return zeros(n, n, dtype=self.dtype, device=self.device).index_put(index, self)
        if self.ndim != 2:
            raise ShapeError(f"diag: expected a 1-D or 2-D tensor, got {self.ndim}-D")
        return self.diagonal(diagonal)

    def index_put(self, indices, values, accumulate=False):
        """out = self with out[indices] = values (a tuple of index tensors), differentiable in both."""
        if accumulate:
            raise NotImplementedError("index_put: accumulate=True is not supported; use index_add or scatter_add")
        index = _index_arg(tuple(indices), "index_put")
        return ops.shape.SetItem.apply(self, self._operand(values).to(dtype=self.dtype), index)

    def trace(self):
        return self.diagonal().sum()

    def outer(self, vec2):
        return self.reshape(-1, 1) * self._operand(vec2).reshape(1, -1)

    ger = outer

    def mv(self, vec):
        vec = self._operand(vec)
        if self.ndim != 2 or vec.ndim != 1:
            raise ShapeError(f"mv: expected a 2-D matrix and a 1-D vector, got {self.ndim}-D and {vec.ndim}-D")
        return self.matmul(vec)

    def addmm(self, mat1, mat2, beta=1, alpha=1):
        """beta * self + alpha * (mat1 @ mat2)."""
        prod = self._operand(mat1).mm(mat2)
        return _scaled(self, beta) + _scaled(prod, alpha)

    def addbmm(self, batch1, batch2, beta=1, alpha=1):
        return _scaled(self, beta) + _scaled(self._operand(batch1).bmm(batch2).sum(0), alpha)

    def baddbmm(self, batch1, batch2, beta=1, alpha=1):
        """beta * self + alpha * (batch1 @ batch2), batched."""
        return _scaled(self, beta) + _scaled(self._operand(batch1).bmm(batch2), alpha)

    def addmv(self, mat, vec, beta=1, alpha=1):
        return _scaled(self, beta) + _scaled(self._operand(mat).mv(vec), alpha)

    def addcmul(self, tensor1, tensor2, value=1):
        return self + _scaled(self._operand(tensor1) * tensor2, value)

    def addcdiv(self, tensor1, tensor2, value=1):
        return self + _scaled(self._operand(tensor1) / tensor2, value)

    def lerp(self, end, weight):
        return self + (self._operand(end) - self) * weight

    def where(self, condition, other):
        return where(condition, self, other)

    def isinf(self):
        return Tensor._wrap(self._xp.isinf(self.array))

    def isposinf(self):
        return Tensor._wrap(self._xp.isposinf(self.array))

    def isneginf(self):
        return Tensor._wrap(self._xp.isneginf(self.array))

    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        """nan -> nan, +inf -> posinf, -inf -> neginf (default: the dtype's extremes); the gradient is
        zero at replaced elements."""
        if not self.is_floating_point():
            return self.clone()
        info = np.finfo(self.dtype)
        out = where(self.isnan(), float(nan), self)
        out = where(self.isposinf(), float(info.max if posinf is None else posinf), out)
        return where(self.isneginf(), float(info.min if neginf is None else neginf), out)

    def clamp_min(self, min):  # noqa: A002
        return self.clamp(min=min)

    def clamp_max(self, max):  # noqa: A002
        return self.clamp(max=max)

    def logical_and(self, other):
        return Tensor._wrap(self._xp.logical_and(self.array, self._operand(other).array))

    def logical_or(self, other):
        return Tensor._wrap(self._xp.logical_or(self.array, self._operand(other).array))

    def logical_xor(self, other):
        return Tensor._wrap(self._xp.logical_xor(self.array, self._operand(other).array))

    def bitwise_not(self):
        return ~self

    def floor_divide(self, other):
        return self // other

    def remainder(self, other):
        return self % other

    def fmod(self, other):
        return Tensor._wrap(self._xp.fmod(self.array, self._operand(other).array))

    def trunc(self):
        return Tensor._wrap(self._xp.trunc(self.array))

    def frac(self):
        return self - self.trunc()

    def log2(self):
        return self.log() * (1 / np.log(2))

    def log10(self):
        return self.log() * (1 / np.log(10))

    def exp2(self):
        return (self._floating() * float(np.log(2))).exp()

    def expm1(self):
        return self.exp() - 1

    def tan(self):
        return self.sin() / self.cos()

    def sinh(self):
        e = self.exp()
        return (e - 1 / e) * 0.5

    def cosh(self):
        e = self.exp()
        return (e + 1 / e) * 0.5

    def sgn(self):
        return self.sign()

    def positive(self):
        return self

    def negative(self):
        return -self

    def true_divide(self, other):
        return self / other

    def unique(self, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
        if dim is not None:
            raise NotImplementedError("unique: dim is not supported")
        values, inverse, counts = np.unique(backend.of(self.array).to_numpy(self.array), return_inverse=True,
                                            return_counts=True)
        be = backend.of(self.array)
        out = [Tensor._wrap(be.asarray(values))]
        if return_inverse:
            out.append(Tensor._wrap(be.asarray(inverse.reshape(self.shape).astype(np.int64))))
        if return_counts:
            out.append(Tensor._wrap(be.asarray(counts.astype(np.int64))))
        return out[0] if len(out) == 1 else tuple(out)

    def type_as(self, other):
        return self.to(dtype=other.dtype)

    def nelement(self):
        return self.numel()

    def ndimension(self):
        return self.ndim

    @property
    def itemsize(self):
        return self.array.itemsize

    def storage_offset(self):
        """Elements from the start of the memory this tensor views to its first element."""
        base = self.array
        while getattr(base, "base", None) is not None and hasattr(base.base, "__array_interface__"):
            base = base.base
        if base is self.array or self.device.type != "cpu":
            return 0
        start = base.__array_interface__["data"][0]
        return (self.array.__array_interface__["data"][0] - start) // self.array.itemsize

    def data_ptr(self):
        if self.device.type == "cuda":
            return int(self.array.data.ptr)
        return int(self.array.__array_interface__["data"][0])

    def is_signed(self):
        return self.dtype.kind in "if"

    def is_complex(self):
        return self.dtype.kind == "c"

    # ------------------------------------------------------------ indexing
    def __getitem__(self, index):
        index = _index_arg(index, "__getitem__")
        out = ops.shape.GetItem.apply(self, index)
        if ops.shape.is_basic_index(index):
            out._view_of(self)._base_index = (self, index)
        return out

    def __setitem__(self, index, value):
        index = _index_arg(index, "__setitem__")
        value = self._operand(value)
        if (self.requires_grad or value.requires_grad) and is_grad_enabled():
            self._inplace(lambda x: ops.shape.SetItem.apply(x, value.to(dtype=self.dtype), index), "__setitem__",
                          value)
        else:
            self._check_inplace("__setitem__")
            self.array[index] = value.array
            self._version_counter.value += 1

    # ------------------------------------------------------------ in place
    def _check_inplace(self, op):
        if self.requires_grad and self.grad_fn is None and is_grad_enabled():
            raise RuntimeError(f"{op}: a leaf tensor that requires grad is being changed in place; "
                               "wrap the change in nerve.no_grad() or use an out-of-place op")

    def _inplace(self, compute, op, *operands):
        """Write ``compute(x)`` into self, where x holds self's current value,
        and take over the result's graph node (PyTorch's rebase of history).

        While recording, x is a snapshot copy, so arrays the op saves for
        backward are not overwritten by the write-back.
        """
        self._check_inplace(op)
        x = self
        if is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in (self, *operands)):
            x = Tensor._wrap(self.array.copy(), requires_grad=self.requires_grad)
            x.grad_fn, x.output_nr = self.grad_fn, self.output_nr
        result = compute(x)
        if tuple(result.shape) != tuple(self.shape):
            raise RuntimeError(f"{op}: result of shape {tuple(result.shape)} does not fit the tensor's "
                               f"shape {tuple(self.shape)}")
        if _kind(result.dtype) == "f" and _kind(self.dtype) != "f":
            raise DTypeError(f"{op}: result type {result.dtype} can't be cast to the tensor's dtype {self.dtype}")
        if result.requires_grad and self._is_view:
            if self._base_index is None:
                raise RuntimeError(f"{op}: in-place change of a reshaped, permuted, expanded or detached view "
                                   "that takes part in autograd is not supported; use an out-of-place op")
            # A slice of a base: write through the base, which takes the change into its history.
            base, index = self._base_index
            base[index] = result
            view = base[index]
            self.grad_fn, self.output_nr, self._requires_grad = view.grad_fn, view.output_nr, view.requires_grad
            return self
        self.array[...] = result.array
        self._version_counter.value += 1
        if is_grad_enabled():
            self.grad_fn, self.output_nr = result.grad_fn, result.output_nr
            self._requires_grad = result.requires_grad
        return self

    def add_(self, other, alpha=1):
        return self._inplace(lambda x: x + (other if alpha == 1 else self._operand(other) * alpha), "add_", other)

    def sub_(self, other, alpha=1):
        return self._inplace(lambda x: x - (other if alpha == 1 else self._operand(other) * alpha), "sub_", other)

    def mul_(self, other):
        return self._inplace(lambda x: x * other, "mul_", other)

    def div_(self, other):
        return self._inplace(lambda x: x / other, "div_", other)

    def pow_(self, exponent):
        return self._inplace(lambda x: x ** exponent, "pow_", exponent)

    def copy_(self, src):
        src = self._operand(src).to(dtype=self.dtype, device=self.device)
        return self._inplace(lambda x: src.expand(*self.shape), "copy_", src)

    def fill_(self, value):
        self._check_inplace("fill_")
        self.array[...] = value.item() if isinstance(value, Tensor) else value
        self._version_counter.value += 1
        return self

    def zero_(self):
        return self.fill_(0)

    def masked_fill_(self, mask, value):
        return self._inplace(lambda x: x.masked_fill(mask, value), "masked_fill_", value)

    def relu_(self):
        return self._inplace(lambda x: x.relu(), "relu_")

    def clip_(self, min=None, max=None):  # noqa: A002
        return self.clamp_(min, max)

    def clamp_min_(self, min):  # noqa: A002
        return self.clamp_(min=min)

    def clamp_max_(self, max):  # noqa: A002
        return self.clamp_(max=max)

    def exp_(self):
        return self._inplace(lambda x: x.exp(), "exp_")

    def log_(self):
        return self._inplace(lambda x: x.log(), "log_")

    def sqrt_(self):
        return self._inplace(lambda x: x.sqrt(), "sqrt_")

    def rsqrt_(self):
        return self._inplace(lambda x: x.rsqrt(), "rsqrt_")

    def square_(self):
        return self._inplace(lambda x: x.square(), "square_")

    def reciprocal_(self):
        return self._inplace(lambda x: x.reciprocal(), "reciprocal_")

    def tanh_(self):
        return self._inplace(lambda x: x.tanh(), "tanh_")

    def sigmoid_(self):
        return self._inplace(lambda x: x.sigmoid(), "sigmoid_")

    def neg_(self):
        return self._inplace(lambda x: -x, "neg_")

    def abs_(self):
        return self._inplace(lambda x: x.abs(), "abs_")

    def floor_(self):
        return self._inplace(lambda x: x.floor(), "floor_")

    def round_(self):
        return self._inplace(lambda x: x.round(), "round_")

    def addcmul_(self, tensor1, tensor2, value=1):
        return self._inplace(lambda x: x.addcmul(tensor1, tensor2, value), "addcmul_", tensor1, tensor2)

    def addcdiv_(self, tensor1, tensor2, value=1):
        return self._inplace(lambda x: x.addcdiv(tensor1, tensor2, value), "addcdiv_", tensor1, tensor2)

    def lerp_(self, end, weight):
        return self._inplace(lambda x: x.lerp(end, weight), "lerp_", end, weight)

    def addmm_(self, mat1, mat2, beta=1, alpha=1):
        return self._inplace(lambda x: x.addmm(mat1, mat2, beta=beta, alpha=alpha), "addmm_", mat1, mat2)

    def nan_to_num_(self, nan=0.0, posinf=None, neginf=None):
        return self._inplace(lambda x: x.nan_to_num(nan, posinf, neginf), "nan_to_num_")

    def index_fill_(self, dim, index, value):
        dim = _dim(dim, self.ndim, "index_fill_")
        idx = [slice(None)] * self.ndim
        idx[dim] = self._index_tensor(index, "index_fill_").reshape(-1).array
        self[tuple(idx)] = value
        return self

    def index_add_(self, dim, index, source, alpha=1):
        dim = _dim(dim, self.ndim, "index_add_")
        index = self._index_tensor(index, "index_add_").reshape(-1)
        shape = [1] * self.ndim
        shape[dim] = -1
        full_index = index.reshape(*shape).expand(*[len(index) if d == dim else n
                                                    for d, n in enumerate(self._operand(source).shape)])
        return self.scatter_add_(dim, full_index, _scaled(self._operand(source), alpha))

    def index_add(self, dim, index, source, alpha=1):
        return self.clone().index_add_(dim, index, source, alpha)

    def uniform_(self, a=0.0, b=1.0, generator=None):
        return self.fill_array_(_random.numpy_generator(generator).uniform(a, b, self.shape))

    def normal_(self, mean=0.0, std=1.0, generator=None):
        return self.fill_array_(_random.numpy_generator(generator).normal(mean, std, self.shape))

    def exponential_(self, lambd=1.0, generator=None):
        return self.fill_array_(_random.numpy_generator(generator).exponential(1.0 / lambd, self.shape))

    def bernoulli_(self, p=0.5, generator=None):
        prob = p.numpy() if isinstance(p, Tensor) else p
        return self.fill_array_(_random.numpy_generator(generator).random(self.shape) < prob)

    def bernoulli(self, p=None, generator=None):
        return bernoulli(self, p, generator)

    def multinomial(self, num_samples, replacement=False, generator=None):
        return multinomial(self, num_samples, replacement, generator)

    def fill_array_(self, array):
        """Write a numpy array into self in place (no graph); used by init."""
        self.array[...] = backend.of(self.array).asarray(array, dtype=self.dtype)
        self._version_counter.value += 1
        return self

    # ------------------------------------------------------------ creation
    def new_tensor(self, data, dtype=None):
        return Tensor(data, dtype=dtype or self.dtype, device=self.device)

    def new_zeros(self, *size, dtype=None):
        return zeros(*size, dtype=dtype or self.dtype, device=self.device)

    def new_ones(self, *size, dtype=None):
        return ones(*size, dtype=dtype or self.dtype, device=self.device)

    def new_full(self, size, fill_value, dtype=None):
        return full(size, fill_value, dtype=dtype or self.dtype, device=self.device)

    def new_empty(self, *size, dtype=None):
        return empty(*size, dtype=dtype or self.dtype, device=self.device)


class Size(tuple):
    """Tensor.shape: a tuple that prints like PyTorch's."""

    def __repr__(self):
        return f"nerve.Size({list(self)})"

    def numel(self):
        return int(np.prod(self))


class MinMax(tuple):
    """(values, indices) from max/min over a dim."""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


def _is_dtype_name(x):
    if not isinstance(x, str):
        return False
    try:
        Device(x)
        return False
    except ValueError:
        return True


def _scaled(t, k):
    """t * k, skipping the multiply for k == 1 (addmm's alpha/beta)."""
    return t if isinstance(k, numbers.Number) and k == 1 else t * k


def _check_broadcast(op, a, b):
    """Raise ShapeError (a RuntimeError, as in PyTorch) when shapes a and b do not broadcast."""
    try:
        np.broadcast_shapes(tuple(a), tuple(b))
    except ValueError:
        raise ShapeError(f"{op}: the size of tensor a {tuple(a)} must match the size of tensor b {tuple(b)} "
                         "where neither is 1 (broadcasting from the trailing dimension)") from None


def _dim(dim, ndim, op):
    """``dim`` in [-ndim, ndim) as a non-negative axis (a 0-d tensor has one dim here, as in PyTorch)."""
    n = max(ndim, 1)
    if not isinstance(dim, numbers.Integral) or not -n <= dim < n:
        raise IndexError(f"{op}: dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return int(dim) % n


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def _index_arg(index, op):
    """Tensors and lists inside an index become integer or boolean arrays."""
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for i in items:
        if isinstance(i, Tensor):
            i = i.array
        elif isinstance(i, list):
            i = np.asarray(i)
            if i.size == 0:
                i = i.astype(np.int64)
        if hasattr(i, "dtype") and hasattr(i, "ndim") and i.dtype.kind not in "biu":
            raise IndexError(f"{op}: tensors used as indices must be integer or bool, got dtype {i.dtype}")
        out.append(i)
    return tuple(out) if isinstance(index, tuple) else out[0]


# ------------------------------------------------------------------ creation
def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor copying `data` (Python numbers, lists, numpy arrays, tensors)."""
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def _make(fill, size, dtype, device, requires_grad):
    be = backend.for_device(_device_type(device))
    shape = _shape_arg(size)
    if any(s < 0 for s in shape):
        raise ValueError(f"negative dimension in size {shape}")
    return Tensor._wrap(fill(be.xp, shape, np.dtype(dtype or _default_dtype)), requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.zeros(s, d), size, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.ones(s, d), size, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.empty(s, d), size, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None and isinstance(fill_value, (bool, numbers.Integral)):
        dtype = bool_ if isinstance(fill_value, bool) else int64
    return _make(lambda xp, s, d: xp.full(s, fill_value, d), size, dtype, device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.eye(n, m, dtype=d), (), dtype, device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = int64 if ints else _default_dtype
    be = backend.for_device(_device_type(device))
    return Tensor._wrap(be.xp.arange(start, end, step, dtype=np.dtype(dtype)), requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    be = backend.for_device(_device_type(device))
    return Tensor._wrap(be.xp.linspace(start, end, steps, dtype=np.dtype(dtype or _default_dtype)), requires_grad)


def _random_tensor(sample, size, dtype, device, requires_grad, generator=None):
    shape = _shape_arg(size)
    dtype = np.dtype(dtype or _default_dtype)
    array = sample(_random.numpy_generator(generator), shape).astype(dtype, copy=False)
    return Tensor._wrap(backend.for_device(_device_type(device)).asarray(array), requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1) from ``generator`` (default: nerve's seeded one)."""
    return _random_tensor(lambda g, s: g.random(s), size, dtype, device, requires_grad, generator)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal from ``generator`` (default: nerve's seeded one)."""
    return _random_tensor(lambda g, s: g.standard_normal(s), size, dtype, device, requires_grad, generator)


def randint(low, high=None, size=None, generator=None, dtype=None, device=None, requires_grad=False):
    """Integers in [low, high): ``randint(high, size)`` or ``randint(low, high, size)``."""
    if size is None and isinstance(high, (tuple, list, Size)):
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint: missing required argument 'size'")
    return _random_tensor(lambda g, s: g.integers(low, high, s), size, dtype or int64, device, False, generator)


def randperm(n, generator=None, dtype=None, device=None, requires_grad=False):
    return _random_tensor(lambda g, s: g.permutation(n), (), dtype or int64, device, False, generator)


def normal(mean, std=1.0, size=None, generator=None, dtype=None, device=None, requires_grad=False):
    """Normal samples: ``normal(mean, std, size)`` with numbers, or elementwise with tensor mean/std (broadcast)."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        ref = mean if isinstance(mean, Tensor) else std
        m = np.asarray(backend.of(ref.array).to_numpy(mean.array) if isinstance(mean, Tensor) else mean)
        sd = np.asarray(backend.of(ref.array).to_numpy(std.array) if isinstance(std, Tensor) else std)
        shape = np.broadcast_shapes(m.shape, sd.shape)
        return _random_tensor(lambda g, s: g.normal(m, sd, s), shape, ref.dtype, ref.device, False, generator)
    if size is None:
        raise TypeError("normal: with number mean and std, 'size' is required")
    return _random_tensor(lambda g, s: g.normal(mean, std, s), size, dtype, device, requires_grad, generator)


def bernoulli(input, p=None, generator=None):
    """0/1 samples with probability ``input`` (or the number ``p``), in input's dtype."""
    prob = backend.of(input.array).to_numpy(input.array) if p is None else p
    return _random_tensor(lambda g, s: g.random(s) < prob, input.shape, input.dtype, input.device, False, generator)


def multinomial(input, num_samples, replacement=False, generator=None):
    """Indices sampled from the rows of ``input`` (non-negative weights, 1-D or 2-D), int64.

    Without replacement the weights of drawn indices drop out (Gumbel top-k); PyTorch's sampler is
    different, so the draws differ from PyTorch's for one seed, but have the same distribution.
    """
    if input.ndim not in (1, 2):
        raise ShapeError(f"multinomial: input must be 1-D or 2-D, got {input.ndim}-D")
    w = backend.of(input.array).to_numpy(input.array).astype(np.float64)
    rows = w.reshape(-1, w.shape[-1])
    n = rows.shape[-1]
    if (rows < 0).any() or not np.isfinite(rows).all():
        raise RuntimeError("multinomial: probability tensor contains either inf, nan or an element < 0")
    total = rows.sum(-1, keepdims=True)
    if (total <= 0).any():
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement and num_samples > n:
        raise RuntimeError(f"multinomial: cannot sample n_sample={num_samples} > prob_dist.size(-1)={n} "
                           "samples without replacement")
    g = _random.numpy_generator(generator)
    if replacement:
        cdf = np.cumsum(rows / total, axis=-1)
        u = g.random((rows.shape[0], num_samples))
        out = np.stack([np.searchsorted(c, v, side="right") for c, v in zip(cdf, u)]).clip(max=n - 1)
    else:
        with np.errstate(divide="ignore"):
            keys = np.log(rows) - np.log(-np.log(g.random(rows.shape)))
        out = np.argsort(-keys, axis=-1, kind="stable")[:, :num_samples]
    out = out.astype(np.int64).reshape(*w.shape[:-1], num_samples)
    return Tensor._wrap(backend.of(input.array).asarray(out))


def _like(fn, t, dtype, device, requires_grad, *args):
    return fn(*args, *t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    return _like(zeros, t, dtype, device, requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    return _like(ones, t, dtype, device, requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False):
    return _like(empty, t, dtype, device, requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad=False):
    return _like(rand, t, dtype, device, requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False):
    return _like(randn, t, dtype, device, requires_grad)


def randint_like(t, low=0, high=None, dtype=None, device=None, requires_grad=False):
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(t.shape), dtype=dtype or t.dtype, device=device or t.device)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def from_numpy(array):
    """A tensor sharing memory with a numpy array."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray, got {type(array).__name__}")
    return Tensor._wrap(array)


def from_dlpack(obj):
    """Zero-copy import from any DLPack producer (numpy, cupy, PyTorch...)."""
    device_type, _ = obj.__dlpack_device__()
    if device_type == 1:  # kDLCPU
        return Tensor._wrap(np.from_dlpack(obj))
    return Tensor._wrap(backend.for_device("cuda").xp.from_dlpack(obj))


def as_tensor(data, dtype=None, device=None):
    if isinstance(data, Tensor) and (dtype is None or data.dtype == np.dtype(dtype)) and device is None:
        return data
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == np.dtype(dtype)) and device is None:
        return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


# ---------------------------------------------------------- free functions
def _tensors(seq, op):
    seq = list(seq)
    if not seq:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    return [t if isinstance(t, Tensor) else tensor(t) for t in seq]


def cat(tensors, dim=0):
    ts = _tensors(tensors, "cat")
    for i, t in enumerate(ts):
        if t.ndim == 0:
            raise ShapeError(f"cat: zero-dimensional tensor (at position {i}) cannot be concatenated; use stack")
    ref = next((t for t in ts if t.ndim), ts[0])
    ts = [t for t in ts if not (t.ndim == 1 and t.numel() == 0 and ref.ndim > 1)]  # PyTorch skips legacy empties
    dim = _dim(dim, ref.ndim, "cat")
    for t in ts:
        if t.ndim != ref.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref.shape)) if i != dim):
            raise ShapeError(f"cat: tensors must match except in dimension {dim}, got {tuple(ref.shape)} and "
                             f"{tuple(t.shape)}")
    return ops.shape.Cat.apply(dim, *ts)


def stack(tensors, dim=0):
    ts = _tensors(tensors, "stack")
    for t in ts:
        if t.shape != ts[0].shape:
            raise ShapeError(f"stack: expects each tensor to be equal size, got {tuple(ts[0].shape)} and "
                             f"{tuple(t.shape)}")
    return ops.shape.Stack.apply(_dim(dim, ts[0].ndim + 1, "stack"), *ts)


def where(condition, input=None, other=None):
    if input is None and other is None:
        return tuple(Tensor._wrap(a) for a in backend.of(condition.array).xp.nonzero(condition.array))
    ref = input if isinstance(input, Tensor) else other
    if not isinstance(ref, Tensor):
        ref = tensor(input)
    a, b = ref._operand(input), ref._operand(other)
    if a.dtype != b.dtype:
        common = np.promote_types(a.dtype, b.dtype)
        if _kind(a.dtype) == "f" and _kind(b.dtype) != "f":
            common = a.dtype
        elif _kind(b.dtype) == "f" and _kind(a.dtype) != "f":
            common = b.dtype
        a, b = a.to(dtype=common), b.to(dtype=common)
    cond = condition.array if isinstance(condition, Tensor) else ref._xp.asarray(condition)
    return ops.elementwise.Where.apply(Tensor._wrap(cond.astype(bool, copy=False)), a, b)


def maximum(a, b):
    return a.maximum(b)


def minimum(a, b):
    return a.minimum(b)


autograd.register_tensor_class(Tensor)
_random.register_tensor_class(Tensor)
