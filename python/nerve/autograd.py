"""Reverse-mode automatic differentiation.

A ``Function`` subclass defines ``forward(ctx, *args)`` and
``backward(ctx, *grads)`` on raw arrays (numpy or cupy); ``Function.apply``
wraps it for Tensors and records a graph node (the ``Context``) on the
outputs. ``backward`` walks the nodes in topological order, built
iteratively so a graph thousands of ops deep never hits the recursion limit.

Each node points at the nodes of its inputs (or at leaf tensors, which
accumulate ``.grad``), never at non-leaf tensors, so an in-place op can
re-point a tensor at a new node without creating a cycle.

This module does not import nerve.tensor (which imports it): tensor.py
hands over its class once, with ``register_tensor_class``.
"""
import functools
import threading

import numpy as np

from nerve import backend

__all__ = ["Function", "Context", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled", "inference_mode",
           "is_inference_mode_enabled", "backward", "register_tensor_class",
           "register_dtype_policy"]

_state = threading.local()

Tensor = None  # nerve.tensor.Tensor, set by register_tensor_class


def register_tensor_class(cls):
    """Called once by nerve.tensor: the class Function.apply wraps arrays in."""
    global Tensor
    Tensor = cls


_dtype_policy = None  # nerve.amp.run(cls, args, kwargs), set by register_dtype_policy


def register_dtype_policy(fn):
    """Called once by nerve.amp: Function.apply hands every op to fn, which applies the bf16 and autocast
    casts and then calls ``cls._apply``."""
    global _dtype_policy
    _dtype_policy = fn


def _is_float(dtype):
    return dtype.kind == "f" or dtype.name == "bfloat16"  # ml_dtypes' bfloat16 is NumPy kind 'V'


def is_grad_enabled():
    return getattr(_state, "enabled", True)


class set_grad_enabled:
    """Turn graph recording on or off: as a function call (``set_grad_enabled(False)``), a context
    manager (restores the previous mode on exit) or a decorator."""

    def __init__(self, mode):
        self.mode = bool(mode)
        self.prev = is_grad_enabled()
        _state.enabled = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.enabled = self.prev
        return False

    def __call__(self, fn):
        _state.enabled = self.prev  # as a decorator it applies only inside fn
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper


class _GradMode:
    mode = True

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)  # used as a bare decorator: @nerve.no_grad

    def __enter__(self):
        self.prev = is_grad_enabled()
        _state.enabled = self.mode

    def __exit__(self, *exc):
        _state.enabled = self.prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Do not record operations for backward inside this block (or decorated function)."""
    mode = False


class enable_grad(_GradMode):
    """Record operations even inside ``no_grad``."""
    mode = True


def is_inference_mode_enabled():
    return getattr(_state, "inference", False)


class inference_mode:
    """PyTorch's ``inference_mode(mode=True)``: no graph recording inside the block or decorated
    function (``@inference_mode``, ``@inference_mode()``, ``@inference_mode(False)``). nerve has no
    separate inference tensors, so this is ``no_grad`` plus ``is_inference_mode_enabled()``."""

    def __new__(cls, mode=True):
        if callable(mode):  # bare decorator: @nerve.inference_mode
            return cls(True)(mode)
        return super().__new__(cls)

    def __init__(self, mode=True):
        self.mode = bool(mode)

    def __enter__(self):
        self.prev = (is_grad_enabled(), is_inference_mode_enabled())
        if self.mode:
            _state.enabled = False
        _state.inference = self.mode
        return self

    def __exit__(self, *exc):
        _state.enabled, _state.inference = self.prev
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)
        return wrapper


class VersionCounter:
    """Shared by a tensor and its views; bumped by every in-place change."""
    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


class Context:
    """What one op application remembers for backward: the graph node."""

    def __init__(self, fn, inputs):
        self.fn = fn
        # next_nodes[i]: the node of input i, the leaf tensor itself, or None;
        # next_outputs[i]: which output of that node input i is.
        needs, nodes, outputs, shapes, self._inputs_by_array = [], [], [], [], {}
        for x in inputs:
            grad = isinstance(x, Tensor) and x.requires_grad
            needs.append(grad)
            nodes.append((x if x.grad_fn is None else x.grad_fn) if grad else None)
            outputs.append(x.output_nr if grad else 0)
            shapes.append((x.array.shape, x.array.dtype) if grad else None)
            if isinstance(x, Tensor):
                self._inputs_by_array[id(x.array)] = x
        self.needs_input_grad = tuple(needs)
        self.next_nodes = tuple(nodes)
        self.next_outputs = tuple(outputs)
        self.input_meta = tuple(shapes)  # (shape, dtype) per input needing a gradient, to check what backward returns
        self.output_meta = ()  # (shape, dtype) per output, to make zero gradients for the ones that get none
        self._saved = None
        self._saved_versions = ()
        self._freed = False
        self.retained = {}  # output_nr -> weakref to that output if it asked retain_grad()

    def save_for_backward(self, *arrays):
        self._saved = arrays
        self._saved_versions = tuple(self._version_of(a) for a in arrays)

    def _version_of(self, array):
        t = self._inputs_by_array.get(id(array))
        return (t._version_counter, t._version_counter.value) if t is not None else None

    def _track_outputs(self, outputs):
        """Saved arrays that are an output itself get that output's version counter."""
        self._inputs_by_array = None  # needed only while forward runs
        self.output_meta = tuple((out.array.shape, out.array.dtype) for out in outputs)
        if self._saved is None:
            return
        by_array = {id(out.array): out._version_counter for out in outputs}
        self._saved_versions = tuple(
            (by_array[id(a)], by_array[id(a)].value) if (v is None and id(a) in by_array) else v
            for a, v in zip(self._saved, self._saved_versions))

    @property
    def saved_tensors(self):
        if self._freed:
            raise RuntimeError(
                f"{self.fn.name()}: trying to backward through the graph a second time (or after its saved "
                "arrays were freed); pass retain_graph=True to the first backward()")
        for v in self._saved_versions:
            if v is not None and v[0].value != v[1]:
                raise RuntimeError(
                    f"{self.fn.name()}: a tensor saved for backward was modified by an in-place operation "
                    f"(version {v[0].value}, expected {v[1]}); clone it before changing it in place")
        return self._saved or ()

    def free(self):
        self._saved = None
        self._freed = True


class Function:
    """Base class of differentiable ops.

    Subclasses implement ``forward(ctx, *args, **kwargs)`` and
    ``backward(ctx, *grads)``; Tensor arguments arrive as arrays.

    forward returns one array, or a tuple of arrays for several outputs;
    ``apply`` then returns one Tensor, or a tuple of Tensors, each with its
    own gradient. backward receives one gradient per output (a float output
    that got no gradient gets zeros; a non-float output, which carries no
    gradient, gets None) and returns one gradient (or None) per positional
    argument of forward.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError

    @classmethod
    def name(cls):
        return cls.__name__.lower()

    @classmethod
    def apply(cls, *args, **kwargs):
        if _dtype_policy is not None:
            return _dtype_policy(cls, args, kwargs)
        return cls._apply(*args, **kwargs)

    @classmethod
    def _apply(cls, *args, **kwargs):
        tensors = [a for a in args if isinstance(a, Tensor)]
        if len(tensors) > 1:
            kind = type(tensors[0].array)
            for t in tensors[1:]:  # numpy arrays are all on the CPU; cupy arrays need a device check
                if type(t.array) is not kind or kind is not np.ndarray and t.device != tensors[0].device:
                    raise RuntimeError(f"{cls.name()}: expected all tensors on one device, got "
                                       f"{tensors[0].device} and {t.device}")
        record = is_grad_enabled() and any(t.requires_grad for t in tensors)
        ctx = Context(cls, args) if record else _NO_CONTEXT
        arrays = [a.array if isinstance(a, Tensor) else a for a in args]
        with _ieee():
            out = cls.forward(ctx, *arrays, **kwargs)
        several = isinstance(out, tuple)
        results = tuple(Tensor._wrap(a) for a in (out if several else (out,)))
        # Integer/bool results (casts, argmax, pooling indices...) carry no gradient.
        if record and any(_is_float(t.dtype) for t in results):
            for i, t in enumerate(results):
                if _is_float(t.dtype):
                    t.requires_grad, t.grad_fn, t.output_nr = True, ctx, i
            ctx._track_outputs(results)
        return results if several else results[0]


# Float ops give inf/nan as IEEE (and PyTorch) do, without NumPy's RuntimeWarnings.
def _ieee():
    return np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore")


class _NoContext:
    """Stand-in ctx when no graph is recorded: saving is a no-op."""
    needs_input_grad = ()

    def save_for_backward(self, *arrays):
        pass


_NO_CONTEXT = _NoContext()


def backward(tensor, grad=None, retain_graph=False):
    """Accumulate d(tensor)/d(leaf) into every leaf's ``.grad``."""
    if not tensor.requires_grad:
        raise RuntimeError("backward: the tensor does not require grad and has no grad_fn")
    xp = tensor._xp
    if grad is None:
        if tensor.numel() != 1:
            raise RuntimeError(
                f"backward: grad can be implicitly created only for scalar outputs, got shape {tuple(tensor.shape)}; "
                "pass a gradient of the same shape")
        grad = xp.ones(tensor.shape, dtype=tensor.array.dtype)
    else:
        grad = grad.array if isinstance(grad, Tensor) else xp.asarray(grad, dtype=tensor.array.dtype)
        if tuple(grad.shape) != tuple(tensor.shape):
            raise RuntimeError(f"backward: gradient has shape {tuple(grad.shape)}, expected {tuple(tensor.shape)}")
    root = tensor.grad_fn
    if root is None:
        _accumulate(tensor, grad)
        return
    with no_grad(), _ieee():
        order = _topological_order(root)
        grads = {id(root): {tensor.output_nr: grad}}  # node -> {output_nr: gradient so far}
        for node in order:
            out_grads = grads.pop(id(node), None)
            if out_grads is None:
                continue
            for i, ref in node.retained.items():
                t = ref()
                if t is not None and i in out_grads:
                    _accumulate(t, out_grads[i])
            in_grads = node.fn.backward(node, *_per_output(node, out_grads))
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            if not retain_graph:
                node.free()
            if any(n is not None for n in node.next_nodes[len(in_grads):]):
                raise RuntimeError(f"{node.fn.name()}: backward returned {len(in_grads)} gradients, expected one "
                                   f"per forward argument ({len(node.next_nodes)})")
            for i, (nxt, ig) in enumerate(zip(node.next_nodes, in_grads)):
                if nxt is None or ig is None:
                    continue
                shape, dtype = node.input_meta[i]
                if tuple(ig.shape) != shape:
                    raise RuntimeError(f"{node.fn.name()}: backward returned a gradient of shape {tuple(ig.shape)} "
                                       f"for argument {i}, expected {shape}")
                if ig.dtype != dtype:  # a gradient has its tensor's dtype (x32 * y64 sends float64 back to x32)
                    ig = ig.astype(dtype)
                if isinstance(nxt, Tensor):
                    _accumulate(nxt, ig)
                else:
                    slots = grads.setdefault(id(nxt), {})
                    k = node.next_outputs[i]
                    slots[k] = ig if k not in slots else slots[k] + ig


def _per_output(node, out_grads):
    """One gradient per output of node: zeros for a float output that got none, None for a non-float one."""
    if len(node.output_meta) <= 1:
        return (out_grads[0],)
    xp = backend.of(next(iter(out_grads.values()))).xp
    return tuple(out_grads[i] if i in out_grads else xp.zeros(shape, dtype) if _is_float(dtype) else None
                 for i, (shape, dtype) in enumerate(node.output_meta))


def _topological_order(root):
    """Nodes reachable from root, each after every node that feeds it a gradient."""
    order, visited = [], {id(root)}
    stack = [(root, iter(root.next_nodes))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if child is not None and not isinstance(child, Tensor) and id(child) not in visited:
                visited.add(id(child))
                stack.append((child, iter(child.next_nodes)))
                break
        else:
            stack.pop()
            order.append(node)
    order.reverse()
    return order


def _accumulate(leaf, g):
    if tuple(g.shape) != tuple(leaf.shape):
        raise RuntimeError(
            f"backward: gradient of shape {tuple(g.shape)} does not match tensor of shape {tuple(leaf.shape)} "
            "(an op's backward returned the wrong shape)")
    g = g.astype(leaf.array.dtype, copy=False)
    if leaf.grad is None:
        leaf.grad = Tensor._wrap(g.copy())
    else:
        leaf.grad.array = leaf.grad.array + g
    # Post-accumulate hooks: a leaf may carry a list `_post_accumulate_grad_hooks` of fn(leaf), each called
    # after a gradient is added to its .grad (once per graph edge into the leaf). DistributedDataParallel
    # uses it to start a bucket's all-reduce as soon as the bucket's gradients are complete.
    for hook in getattr(leaf, "_post_accumulate_grad_hooks", ()):
        hook(leaf)
