"""Module: the base class of layers, as users know it from PyTorch.

Parameters, buffers and submodules register themselves by attribute
assignment, in order, so ``named_parameters()`` yields PyTorch's names in
PyTorch's order and state dicts move between the two libraries.
"""
import itertools
from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import numpy as np

from nerve import backend
from nerve.autograd import is_grad_enabled, no_grad
from nerve.device import device as Device
from nerve.nn.parameter import Parameter
from nerve.ops.backward_hook import BackwardHook
from nerve.tensor import Tensor

_hook_ids = itertools.count()


class RemovableHandle:
    """What register_*_hook returns: ``handle.remove()`` unregisters the hook (also as a context manager)."""

    def __init__(self, *stores):
        self.id = next(_hook_ids)
        self._stores = stores

    def remove(self):
        for store in self._stores:
            if isinstance(store, set):
                store.discard(self.id)
            else:
                store.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What load_state_dict returns: unpacks as (missing, unexpected), like PyTorch's."""

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


class Module:
    training: bool

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        for store in ("_forward_pre_hooks", "_forward_hooks", "_backward_hooks", "_backward_pre_hooks"):
            object.__setattr__(self, store, OrderedDict())
        object.__setattr__(self, "_hooks_with_kwargs", set())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def __call__(self, *args, **kwargs):
        d = self.__dict__
        if d.get("_forward_pre_hooks") or d.get("_forward_hooks") or d.get("_backward_hooks") \
                or d.get("_backward_pre_hooks"):
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    # ----------------------------------------------------------------- hooks
    def _add_hook(self, store, hook, prepend, with_kwargs=False):
        hooks = self.__dict__[store]
        handle = RemovableHandle(hooks, self._hooks_with_kwargs)
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        if with_kwargs:
            self._hooks_with_kwargs.add(handle.id)
        return handle

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """hook(module, args) -> None or new args (a non-tuple is wrapped); with_kwargs:
        hook(module, args, kwargs) -> None or (new_args, new_kwargs). Runs before forward."""
        return self._add_hook("_forward_pre_hooks", hook, prepend, with_kwargs)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        """hook(module, args, output) (with_kwargs: hook(module, args, kwargs, output)) -> None or a
        new output. Runs after forward."""
        return self._add_hook("_forward_hooks", hook, prepend, with_kwargs)

    def register_full_backward_hook(self, hook, prepend=False):
        """hook(module, grad_input, grad_output) -> None or new grad_input, called once the gradients
        with respect to the module's tensor inputs are known. grad_input holds one entry per tensor
        argument that requires grad ((None,) when none does); grad_output one per tensor output."""
        return self._add_hook("_backward_hooks", hook, prepend)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """hook(module, grad_output) -> None or new grad_output, before grad_input is computed."""
        return self._add_hook("_backward_pre_hooks", hook, prepend)

    register_backward_hook = register_full_backward_hook  # PyTorch's deprecated name

    def _call_with_hooks(self, args, kwargs):
        for key, hook in list(self._forward_pre_hooks.items()):
            if key in self._hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, new_kwargs), "
                                           f"got {result!r}")
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        backward = (self._backward_hooks or self._backward_pre_hooks) and is_grad_enabled()
        if backward:
            grads = {"output": None, "inputs": False}
            args = self._hook_inputs(args, grads)
        output = self.forward(*args, **kwargs)
        for key, hook in list(self._forward_hooks.items()):
            result = hook(self, args, kwargs, output) if key in self._hooks_with_kwargs else hook(self, args, output)
            if result is not None:
                output = result
        if backward:
            output = self._hook_outputs(output, grads)
        return output

    def _hook_inputs(self, args, grads):
        """args with the tensors that require grad routed through one BackwardHook node."""
        where = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        if not where:
            return args
        grads["inputs"] = True

        def on_grad_input(arrays):
            grad_input = tuple(None if g is None else Tensor._wrap(g) for g in arrays)
            for hook in list(self._backward_hooks.values()):
                result = hook(self, grad_input, grads["output"])
                if result is not None:
                    result = tuple(result)
                    if len(result) != len(grad_input):
                        raise RuntimeError(f"backward hook returned {len(result)} gradients, expected "
                                           f"{len(grad_input)}")
                    grad_input = result
            return tuple(g.array if isinstance(g, Tensor) else g for g in grad_input)

        routed = BackwardHook.apply(*[args[i] for i in where], callback=on_grad_input)
        routed = routed if isinstance(routed, tuple) else (routed,)
        args = list(args)
        for i, t in zip(where, routed):
            args[i] = t
        return tuple(args)

    def _hook_outputs(self, output, grads):
        """output with its tensors routed through one BackwardHook node that records grad_output."""
        single = isinstance(output, Tensor)
        items = [output] if single else list(output) if isinstance(output, (tuple, list)) else []
        where = [i for i, t in enumerate(items) if isinstance(t, Tensor) and t.requires_grad]
        if not where:
            return output

        def on_grad_output(arrays):
            grad_output = tuple(Tensor._wrap(g) for g in arrays)
            for hook in list(self._backward_pre_hooks.values()):
                result = hook(self, grad_output)
                if result is not None:
                    grad_output = tuple(result)
            grads["output"] = grad_output
            if not grads["inputs"]:  # no input needs a gradient: the hooks see grad_input (None,) now
                for hook in list(self._backward_hooks.values()):
                    hook(self, (None,), grad_output)
            return tuple(g.array for g in grad_output)

        routed = BackwardHook.apply(*[items[i] for i in where], callback=on_grad_output)
        routed = routed if isinstance(routed, tuple) else (routed,)
        for i, t in zip(where, routed):
            items[i] = t
        return items[0] if single else type(output)(items)

    # ---------------------------------------------------------- registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called")
        stores = {"parameter": self._parameters, "buffer": self._buffers, "module": self._modules}
        kind = "parameter" if isinstance(value, Parameter) else "module" if isinstance(value, Module) else None
        if kind is None:
            kind = next((k for k, s in stores.items() if name in s), None)
            if kind is None:
                object.__setattr__(self, name, value)
                return
            expected = {"parameter": Parameter, "buffer": Tensor, "module": Module}[kind]
            if value is not None and not isinstance(value, expected):
                raise TypeError(f"cannot assign {type(value).__name__} as {kind} {name!r} "
                                f"({expected.__name__} or None expected)")
        for k, s in stores.items():
            if k != kind:
                s.pop(name, None)
        self.__dict__.pop(name, None)
        stores[kind][name] = value

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def _check_name(self, op, name, store):
        """PyTorch's rules: a non-empty string without '.', not an attribute of another kind."""
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{op}: cannot register {name!r} before Module.__init__() is called")
        if not isinstance(name, str):
            raise TypeError(f"{op}: name expected a str, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{op}: name must not be empty or contain a dot, got {name!r}")
        if hasattr(self, name) and name not in store:
            raise KeyError(f"{op}: attribute {name!r} already exists")

    def register_parameter(self, name, param):
        self._check_name("register_parameter", name, self.__dict__.get("_parameters"))
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} expected a Parameter or None, got {type(param).__name__}")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        self._check_name("register_buffer", name, self.__dict__.get("_buffers"))
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} expected a Tensor or None, got {type(tensor).__name__}")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        self._check_name("add_module", name, self.__dict__.get("_modules"))
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} expected a Module, got {type(module).__name__}")
        self._modules[name] = module

    register_module = add_module

    # ------------------------------------------------------------- traversal
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(dotted name, module) for self and every submodule, depth first; a module reachable
        under two names appears once (remove_duplicate=False: under each)."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix="", recurse=True):
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mprefix, m in modules:
            for name, p in m._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield mprefix + ("." if mprefix else "") + name, p

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mprefix, m in modules:
            for name, b in m._buffers.items():
                if b is not None and id(b) not in seen:
                    seen.add(id(b))
                    yield mprefix + ("." if mprefix else "") + name, b

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_parameter(self, target):
        module, _, name = target.rpartition(".")
        owner = self.get_submodule(module)
        if name not in owner._parameters:
            raise AttributeError(f"{type(owner).__name__} has no parameter {name!r}")
        return owner._parameters[name]

    def get_buffer(self, target):
        module, _, name = target.rpartition(".")
        owner = self.get_submodule(module)
        if name not in owner._buffers:
            raise AttributeError(f"{type(owner).__name__} has no buffer {name!r}")
        return owner._buffers[name]

    def get_submodule(self, target):
        m = self
        for part in target.split(".") if target else []:
            if part not in m._modules:
                raise AttributeError(f"{type(m).__name__} has no submodule {part!r}")
            m = m._modules[part]
        return m

    # ----------------------------------------------------------------- modes
    def train(self, mode=True):
        """Set training mode here and, through each child's own train(), below."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: training mode is expected to be boolean, got {type(mode).__name__}")
        object.__setattr__(self, "training", mode)
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.array[...] = 0
                p.grad._version_counter.value += 1

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------- device and dtype
    def _convert(self, fn):
        """Replace every parameter's and buffer's array with fn(array), in place."""
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None:
                    p.array = fn(p.array)
                    if p.grad is not None:
                        p.grad.array = fn(p.grad.array)
            for name, b in m._buffers.items():
                if b is not None:
                    b.array = fn(b.array)
        return self

    def to(self, *args, dtype=None, device=None):
        for a in args:
            if isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
                continue
            try:
                device = Device(a)
            except (ValueError, TypeError):
                dtype = a
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(f"Module.to: only floating point dtypes are accepted, got {dtype}")
            self._convert(lambda a: a.astype(dtype) if a.dtype.kind == "f" and a.dtype != dtype else a)
        if device is not None:
            be = backend.for_device(Device(device).type)
            self._convert(lambda a: a if backend.of(a) is be else be.asarray(backend.of(a).to_numpy(a)))
        return self

    def share_memory(self):
        """No-op (one process holds the arrays), for code written for PyTorch's multiprocessing."""
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda")

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    def half(self):
        return self.to(dtype=np.float16)

    # ------------------------------------------------------------ state dict
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """Parameters and persistent buffers by dotted name. Like PyTorch, a
        module reachable under two names appears under both."""
        out = OrderedDict() if destination is None else destination
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                out[prefix + name] = b if keep_vars else b.detach()
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(out, prefix + name + ".", keep_vars)
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values in; mis-shaped entries always raise, missing or
        unexpected keys raise when strict. Returns (missing_keys, unexpected_keys)."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected state_dict to be dict-like, got {type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict and missing:
            problems.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        if strict and unexpected:
            problems.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
        for k, target in own.items():
            if k not in state_dict:
                continue
            value = state_dict[k]
            array = value.array if isinstance(value, Tensor) else np.asarray(value)
            if tuple(array.shape) != tuple(target.shape):
                problems.append(f"size mismatch for {k}: copying a param with shape {tuple(array.shape)} from "
                                f"checkpoint, the shape in current model is {tuple(target.shape)}.")
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(problems))
        with no_grad():
            for k, target in own.items():
                if k in state_dict:
                    value = state_dict[k]
                    array = value.array if isinstance(value, Tensor) else np.asarray(value)
                    array = backend.of(target.array).asarray(backend.of(array).to_numpy(array))
                    target.array[...] = array.astype(target.dtype, copy=False)
                    target._version_counter.value += 1
        return _IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ repr
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        main = type(self).__name__ + "("
        if not lines:
            return main + ")"
        if len(lines) == 1 and not self._modules:
            return main + lines[0] + ")"
        return main + "\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))
