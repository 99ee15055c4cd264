"""Optimizer base: parameter groups, per-parameter state, zero_grad,
state_dict / load_state_dict, with PyTorch's layout and semantics.

Subclasses implement ``_update(group, param, grad, state)`` on raw arrays
(numpy or cupy); the base class walks the groups under ``no_grad``, skips
parameters without a gradient and bumps each updated parameter's version.
"""
import copy

from nerve import backend
from nerve.autograd import enable_grad, no_grad
from nerve.tensor import Tensor


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = {}  # param (Tensor) -> dict of arrays and numbers
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            "but got a Tensor")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):  # tensors, or (name, tensor) pairs from named_parameters()
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a dict with 'params' and optional per-group hyper-parameters."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        named = [isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in group["params"]]
        if any(named):  # model.named_parameters(): PyTorch keeps the names in the group as 'param_names'
            if not all(named):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            group["param_names"] = [name for name, _ in group["params"]]
            group["params"] = [p for _, p in group["params"]]
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        if len({id(p) for p in group["params"]}) != len(group["params"]):
            raise ValueError("a parameter group contains the same parameter twice")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Drop every gradient (set_to_none=True) or zero it in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.array[...] = 0

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure's loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state.setdefault(p, {})
                    self._update(group, p.array, p.grad.array, state)
                    p._version_counter.value += 1
        return loss

    def _update(self, group, param, grad, state):
        raise NotImplementedError

    @staticmethod
    def _zeros(param):
        return backend.of(param).xp.zeros(param.shape, dtype=param.dtype)  # C order, whatever param's layout

    # ------------------------------------------------------------ state dicts
    def state_dict(self):
        """{'state': {index: {name: array or number}}, 'param_groups': [{..., 'params': [index]}]}.

        Parameters are numbered in group order, as PyTorch does; arrays are the
        live state (copy them, or use nerve.save, to keep a snapshot).
        """
        index, groups = {}, []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state saved by state_dict(); checks group and parameter counts and shapes."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"load_state_dict: the state dict has {len(groups)} parameter groups, "
                             f"the optimizer has {len(self.param_groups)}")
        params = {}
        for i, (saved, group) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"load_state_dict: parameter group {i} has {len(saved['params'])} parameters in the "
                                 f"state dict, {len(group['params'])} in the optimizer")
            params.update(zip(saved["params"], group["params"]))
        new_state = {}
        for key, saved in state_dict["state"].items():
            key = int(key)
            if key not in params:
                raise ValueError(f"load_state_dict: state for parameter {key}, which no group holds")
            p = params[key]
            entry = {}
            for name, value in saved.items():
                if isinstance(value, Tensor):
                    value = value.array
                if hasattr(value, "shape") and value.ndim > 0:
                    if tuple(value.shape) != tuple(p.shape):
                        raise ValueError(f"load_state_dict: state '{name}' of parameter {key} has shape "
                                         f"{tuple(value.shape)}, expected {tuple(p.shape)}")
                    value = backend.of(p.array).asarray(backend.of(value).to_numpy(value), dtype=p.dtype).copy()
                elif hasattr(value, "shape"):
                    value = value.item()
                entry[name] = value
            new_state[p] = entry
        self.state = new_state
        for saved, group in zip(groups, self.param_groups):
            group.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


def flags(differentiable=False, **accepted):
    """PyTorch's implementation switches (foreach, fused, capturable), accepted and kept in the groups
    as PyTorch keeps them. They change nothing here: nerve's update is already one fused native loop
    per parameter. differentiable=True (a step autograd can see through) is not supported."""
    if differentiable:
        raise NotImplementedError("optimizer: differentiable=True is not supported (nerve's steps run outside "
                                  "autograd)")
    return dict(accepted, differentiable=False)


def check_nonneg(name, value):
    if not value >= 0:
        raise ValueError(f"Invalid {name} value: {value}, expected >= 0")


def check_beta(name, value):
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Invalid {name} value: {value}, expected 0 <= {name} < 1")
