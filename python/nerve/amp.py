"""Mixed precision: the bfloat16 dtype's compute rule, autocast and GradScaler.

bfloat16 (``nerve.bfloat16``) is ml_dtypes' NumPy dtype: float32's upper 16
bits (8 exponent bits, 7 mantissa bits), converted with round-to-nearest-even.
NumPy sees it as kind 'V', so "is this a float" goes through ``is_floating``.

Every op passes through ``run`` (autograd's one dtype hook, registered below),
which applies the whole policy in this order:

1. Autocast (``with nerve.autocast("cpu"):``): the ops in LOWER_PRECISION get
   their float32 inputs cast to the autocast dtype (a parameter once per
   autocast region: the cast is cached, as PyTorch's cache_enabled does).
   The losses in FLOAT32 (hooked at their nn.functional entry with
   ``float32_op``) get bf16/fp16 inputs cast up to float32. Every other op
   runs in the dtypes it is given. These lists are PyTorch 2.13's CPU
   autocast policy as measured with torch (see tests/test_autocast.py):
   softmax, log_softmax, layer/batch norm and reductions are not cast on the
   CPU (they keep their input's dtype and accumulate in float32 inside), GRU
   is not in the lower-precision list (LSTM and RNN are).
2. bf16 compute: an op given bf16 inputs that is not in BF16_NATIVE computes
   in float32 (its bf16 inputs are cast up) and rounds its float outputs back
   to bf16 when every floating input was bf16 (bf16 with float32 promotes to
   float32; NORMS keep their input x's dtype), as PyTorch's CPU kernels do.
   The casts are autograd ops, so gradients flow back through them in each
   tensor's own dtype. BF16_NATIVE ops take bf16 arrays themselves: views and
   copies, and the GEMMs (backend.cpu.matmul: the native bf16 GEMM with fp32
   accumulation when nerve._C has it).

Conv, attention and the RNNs have no bf16 kernels yet: under autocast their
inputs are rounded to bf16 (step 1) and computed in float32 (step 2), the
same numbers as a bf16 kernel with fp32 accumulation, but not faster.

``GradScaler`` is PyTorch's dynamic loss scaler (for float16, whose range is
small); bf16 has float32's range and needs none: GradScaler(enabled=False)
is a no-op with scale 1, as in PyTorch.
"""
import functools
import threading
import warnings
import weakref

import ml_dtypes
import numpy as np

from nerve import autograd, backend

__all__ = ["bfloat16", "is_floating", "autocast", "is_autocast_enabled", "get_autocast_dtype", "GradScaler",
           "LOWER_PRECISION", "FLOAT32", "BF16_NATIVE", "NORMS"]

bfloat16 = np.dtype(ml_dtypes.bfloat16)
_float32 = np.dtype(np.float32)


def is_floating(dtype):
    """True for float16/32/64 and bfloat16 (which NumPy calls kind 'V')."""
    return dtype.kind == "f" or dtype == bfloat16


def kind(dtype):
    """NumPy's dtype.kind, with 'f' for bfloat16."""
    return "f" if dtype == bfloat16 else dtype.kind


# ------------------------------------------------------------------ policy
# Function class names (ops/*.py) and, for FLOAT32, nn.functional names.
LOWER_PRECISION = frozenset({
    "MatMul",                     # matmul, mm, bmm, @, dot
    "Linear",                     # linear (addmm)
    "Conv2d",                     # conv1d, conv2d
    "ConvTranspose2d",            # conv_transpose2d
    "ScaledDotProductAttention",  # scaled_dot_product_attention, MultiheadAttention
    "LSTMLayer", "RNNLayer",      # LSTM, RNN (tanh, relu); PyTorch's CPU autocast leaves GRU in float32
})
FLOAT32 = frozenset({
    "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "kl_div",
})
# Ops that take bf16 arrays as they are (no float32 compute around them).
BF16_NATIVE = frozenset({
    "Cast", "Clone", "ToDevice", "Reshape", "Permute", "Expand", "Cat", "Stack", "GetItem", "SetItem", "Tri",
    "Where", "ReverseSequence", "MatMul", "Linear",
})
# Mixed-dtype norms: the output takes the input x's dtype (bf16 x with float32 weight gives bf16).
NORMS = frozenset({"BatchNorm", "LayerNorm"})


# ---------------------------------------------------------------- autocast
class _State(threading.local):
    def __init__(self):
        self.modes = {}  # device type -> (dtype, cache_enabled) while autocast is enabled there
        self.depth = 0  # autocast regions entered (enabled or not); the cache is cleared when it drops to 0
        self.cache = {}  # (id(param), dtype) -> (weakref(param), version, grad mode, cast tensor)


_state = _State()


class autocast:
    """``with nerve.autocast("cpu", dtype=nerve.bfloat16):`` (or as a decorator): the ops in
    LOWER_PRECISION run in ``dtype``, the losses in FLOAT32 in float32 (see the module doc).

    ``enabled=False`` turns autocast off inside an enabled region. With
    ``cache_enabled`` a parameter (a float32 leaf that requires grad) is cast
    once per outermost region and the cast reused, unless it changes in place.
    """

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=True):
        if device_type not in ("cpu", "cuda"):
            raise ValueError(f"autocast: device_type expected 'cpu' or 'cuda', got {device_type!r}")
        self.device_type = device_type
        self.fast_dtype = np.dtype(dtype) if dtype is not None else (bfloat16 if device_type == "cpu"
                                                                     else np.dtype(np.float16))
        self._enabled = bool(enabled)
        self._cache_enabled = bool(cache_enabled)
        if self._enabled and self.fast_dtype != bfloat16:
            warnings.warn(f"autocast: nerve computes in {self.fast_dtype} only in bfloat16 for now; autocast is "
                          "disabled", UserWarning, stacklevel=2)
            self._enabled = False

    def __enter__(self):
        self._prev = _state.modes.get(self.device_type)
        if self._enabled:
            _state.modes[self.device_type] = (self.fast_dtype, self._cache_enabled)
        else:
            _state.modes.pop(self.device_type, None)
        _state.depth += 1
        return self

    def __exit__(self, *exc):
        _state.depth -= 1
        if _state.depth == 0:
            _state.cache.clear()
        if self._prev is None:
            _state.modes.pop(self.device_type, None)
        else:
            _state.modes[self.device_type] = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.device_type, self.fast_dtype, self._enabled, self._cache_enabled):
                return fn(*args, **kwargs)
        return wrapper


def is_autocast_enabled(device_type=None):
    """Whether autocast is on for ``device_type`` ('cpu' or 'cuda'), or for any device when None."""
    return bool(_state.modes) if device_type is None else device_type in _state.modes


def get_autocast_dtype(device_type):
    """The dtype autocast uses on ``device_type`` (its default when autocast is off there)."""
    mode = _state.modes.get(device_type)
    return mode[0] if mode else (bfloat16 if device_type == "cpu" else np.dtype(np.float16))


def clear_autocast_cache():
    _state.cache.clear()


class _DeviceAutocast(autocast):
    """``nerve.cpu.amp.autocast`` / ``nerve.cuda.amp.autocast``: autocast on one device type."""
    device = "cpu"

    def __init__(self, enabled=True, dtype=None, cache_enabled=True):
        super().__init__(self.device, dtype, enabled, cache_enabled)


class cpu_autocast(_DeviceAutocast):
    device = "cpu"


class cuda_autocast(_DeviceAutocast):
    device = "cuda"


# -------------------------------------------------------------- the hook
_Cast = None  # nerve.ops.copy.Cast (ops import autograd, which this module registers with)


def _cast(t, dtype):
    global _Cast
    if _Cast is None:
        from nerve.ops.copy import Cast
        _Cast = Cast
    return _Cast.apply(t, dtype)


def _device_type(args):
    for a in args:
        if isinstance(a, autograd.Tensor):
            return "cpu" if type(a.array) is np.ndarray else "cuda"
    return "cpu"


def _autocast_arg(a, dtype, cache_enabled):
    """a cast to the autocast dtype if it is a float32 tensor (the cast cached for a parameter)."""
    if not isinstance(a, autograd.Tensor) or a.array.dtype != _float32:
        return a
    if not (cache_enabled and a.requires_grad and a.grad_fn is None):  # a parameter
        return _cast(a, dtype)
    key = (id(a), dtype)
    grad_mode = autograd.is_grad_enabled()
    hit = _state.cache.get(key)
    if hit is not None and hit[0]() is a and hit[1] == a._version and hit[2] == grad_mode:
        return hit[3]
    out = _cast(a, dtype)
    _state.cache[key] = (weakref.ref(a), a._version, grad_mode, out)
    return out


def _is_bf16(a):
    if isinstance(a, autograd.Tensor):
        return a.array.dtype == bfloat16
    return isinstance(a, np.ndarray) and a.dtype == bfloat16


def run(cls, args, kwargs):
    """Apply Function ``cls`` to ``args`` under the policy (see the module doc); autograd calls this."""
    name = cls.__name__
    if _state.modes and name in LOWER_PRECISION:
        mode = _state.modes.get(_device_type(args))
        if mode is not None:
            args = tuple(_autocast_arg(a, mode[0], mode[1]) for a in args)
    if name in BF16_NATIVE or not any(_is_bf16(a) for a in args):
        return cls._apply(*args, **kwargs)
    floats = [a.array.dtype for a in args if isinstance(a, autograd.Tensor) and is_floating(a.array.dtype)]
    if name in NORMS:
        back = args[0].array.dtype == bfloat16
    else:
        back = all(d == bfloat16 for d in floats)
    up = tuple(_cast(a, _float32) if isinstance(a, autograd.Tensor) and a.array.dtype == bfloat16
               else backend.of(a).astype(a, _float32) if isinstance(a, np.ndarray) and a.dtype == bfloat16
               else a for a in args)
    out = cls._apply(*up, **kwargs)
    if not back:
        return out
    if isinstance(out, tuple):
        return tuple(_cast(t, bfloat16) if t.array.dtype == _float32 else t for t in out)
    return _cast(out, bfloat16) if out.array.dtype == _float32 else out


def float32_op(fn):
    """nn.functional's hook for the FLOAT32 ops: under autocast, bf16/fp16 tensor arguments become float32."""
    if fn.__name__ not in FLOAT32:
        raise ValueError(f"float32_op: {fn.__name__!r} is not in nerve.amp.FLOAT32")

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _state.modes:
            mode = _state.modes.get(_device_type(args))
            if mode is not None:
                args = tuple(_up(a) for a in args)
                kwargs = {k: _up(v) for k, v in kwargs.items()}
        return fn(*args, **kwargs)
    return wrapper


def _up(a):
    if isinstance(a, autograd.Tensor) and (a.array.dtype == bfloat16 or a.array.dtype == np.float16):
        return _cast(a, _float32)
    return a


autograd.register_dtype_policy(run)


# -------------------------------------------------------------- GradScaler
class GradScaler:
    """PyTorch's dynamic loss scaling: ``scaler.scale(loss).backward(); scaler.step(opt); scaler.update()``.

    scale() multiplies the loss by the scale; step() unscales the gradients
    (unless unscale_ did already), skips the optimizer step when any is inf
    or nan, and update() halves the scale after such a step (backoff_factor)
    or doubles it after growth_interval clean steps in a row. Needed for
    float16, whose range is narrow; with enabled=False (or for bf16, which
    needs no scaling) every method passes through and the scale is 1.
    """

    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        if device == "cuda" and enabled:
            from nerve import cuda
            if not cuda.is_available():
                warnings.warn("GradScaler: device 'cuda' is not available; the scaler is disabled (use "
                              "GradScaler('cpu') on the CPU)", UserWarning, stacklevel=2)
                enabled = False
        if enabled and not (growth_factor > 1.0 and 0.0 < backoff_factor < 1.0 and growth_interval > 0):
            raise ValueError(f"GradScaler: need growth_factor > 1, 0 < backoff_factor < 1 and growth_interval > 0, "
                             f"got {growth_factor}, {backoff_factor} and {growth_interval}")
        self._device = device
        self._enabled = bool(enabled)
        self._scale = float(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._per_optimizer = {}  # id(optimizer) -> {"stage": "unscaled" | "stepped", "found_inf": bool}

    def is_enabled(self):
        return self._enabled

    def get_scale(self):
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self):
        return self._growth_factor

    def get_backoff_factor(self):
        return self._backoff_factor

    def get_growth_interval(self):
        return self._growth_interval

    def set_growth_factor(self, value):
        self._growth_factor = float(value)

    def set_backoff_factor(self, value):
        self._backoff_factor = float(value)

    def set_growth_interval(self, value):
        self._growth_interval = int(value)

    def scale(self, outputs):
        """outputs (a tensor, or lists/tuples of them) times the scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, autograd.Tensor):
            if outputs.array.dtype not in (np.float32, np.float64):  # a float16 loss times 2^16 would overflow
                outputs = _cast(outputs, _float32)  # (PyTorch's float32 scale promotes it the same way)
            return outputs * self._scale
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise TypeError(f"GradScaler.scale: expected a tensor or a list/tuple of tensors, got {type(outputs).__name__}")

    def _state_of(self, optimizer):
        return self._per_optimizer.setdefault(id(optimizer), {"stage": "ready", "found_inf": False})

    def unscale_(self, optimizer):
        """Divide the optimizer's gradients by the scale in place (once per step), noting any inf/nan."""
        if not self._enabled:
            return
        st = self._state_of(optimizer)
        if st["stage"] == "unscaled":
            raise RuntimeError("GradScaler.unscale_: unscale_() has already been called on this optimizer since the "
                               "last update()")
        if st["stage"] == "stepped":
            raise RuntimeError("GradScaler.unscale_: unscale_() is being called after step()")
        inv = 1.0 / self._scale
        found = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.array
                xp = backend.of(g).xp
                g32 = g if g.dtype.kind == "f" else g.astype(np.float32)
                if not bool(xp.isfinite(g32).all()):
                    found = True
                p.grad.array = (g32 * g32.dtype.type(inv)).astype(g.dtype, copy=False)
        st["stage"], st["found_inf"] = "unscaled", found

    def step(self, optimizer, *args, **kwargs):
        """unscale_ (if not done), then optimizer.step(...) unless a gradient is inf/nan; returns its result or None."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        st = self._state_of(optimizer)
        if st["stage"] == "stepped":
            raise RuntimeError("GradScaler.step: step() has already been called since the last update()")
        if st["stage"] != "unscaled":
            self.unscale_(optimizer)
        result = None if st["found_inf"] else optimizer.step(*args, **kwargs)
        st["stage"] = "stepped"
        return result

    def update(self, new_scale=None):
        """Adjust the scale after the step(s): backoff on any inf/nan, growth after growth_interval clean steps."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale.item() if isinstance(new_scale, autograd.Tensor) else new_scale)
        else:
            states = list(self._per_optimizer.values())
            if not states:
                raise RuntimeError("GradScaler.update: no inf checks were recorded prior to update (call step first)")
            if any(s["found_inf"] for s in states):
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    self._scale *= self._growth_factor
                    self._growth_tracker = 0
        self._per_optimizer = {}

    def state_dict(self):
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor, "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval, "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("GradScaler.load_state_dict: the state_dict is empty (from a disabled scaler?)")
        self._scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])


class cuda_GradScaler(GradScaler):
    """``nerve.cuda.amp.GradScaler``: GradScaler("cuda", ...), PyTorch's older spelling."""

    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                 enabled=True):
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled)
