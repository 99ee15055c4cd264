"""Reverse-mode automatic differentiation.

A ``Function`` subclass defines ``forward(ctx, *args)`` and
``backward(ctx, grad)`` on raw arrays (numpy or cupy); ``Function.apply``
wraps it for Tensors and records a graph node (the ``Context``) on the
output. ``backward`` walks the nodes in topological order, built
iteratively so a graph thousands of ops deep never hits the recursion limit.

Each node points at the nodes of its inputs (or at leaf tensors, which
accumulate ``.grad``), never at non-leaf tensors, so an in-place op can
re-point a tensor at a new node without creating a cycle.
"""
import threading

import numpy as np

__all__ = ["Function", "Context", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled", "backward"]

_state = threading.local()


def is_grad_enabled():
    return getattr(_state, "enabled", True)


class set_grad_enabled:
    """Context manager (and decorator) that turns graph recording on or off."""

    def __init__(self, mode):
        self.mode = bool(mode)
        self.prev = is_grad_enabled()
        _state.enabled = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.enabled = self.prev
        return False


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
        import functools

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


class VersionCounter:
    """Shared by a tensor and its views; bumped by every in-place change."""
    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


class Context:
    """What one op application remembers for backward: the graph node."""

    def __init__(self, fn, inputs):
        Tensor = _tensor_class()
        self.fn = fn
        # next_nodes[i]: the node of input i, the leaf tensor itself, or None.
        needs, nodes, shapes, self._inputs_by_array = [], [], [], {}
        for x in inputs:
            grad = isinstance(x, Tensor) and x.requires_grad
            needs.append(grad)
            nodes.append((x if x.grad_fn is None else x.grad_fn) if grad else None)
            shapes.append((x.data.shape, x.data.dtype) if grad else None)
            if isinstance(x, Tensor):
                self._inputs_by_array[id(x.data)] = x
        self.needs_input_grad = tuple(needs)
        self.next_nodes = tuple(nodes)
        self.input_meta = tuple(shapes)  # (shape, dtype) per input needing a gradient, to check what backward returns
        self._saved = None
        self._saved_versions = ()
        self._freed = False
        self.retained = None  # weakref to an output tensor that asked retain_grad()

    def save_for_backward(self, *arrays):
        self._saved = arrays
        self._saved_versions = tuple(self._version_of(a) for a in arrays)

    def _version_of(self, array):
        t = self._inputs_by_array.get(id(array))
        return (t._version_counter, t._version_counter.value) if t is not None else None

    def _track_output(self, out):
        """Saved arrays that are the output itself get the output's version counter."""
        self._inputs_by_array = None  # needed only while forward runs
        if self._saved is None:
            return
        self._saved_versions = tuple(
            (out._version_counter, out._version_counter.value) if (v is None and a is out.data) else v
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


_Tensor = None


def _tensor_class():
    """nerve.tensor.Tensor, imported on first use (tensor.py imports this module)."""
    global _Tensor
    if _Tensor is None:
        from nerve.tensor import Tensor
        _Tensor = Tensor
    return _Tensor


class Function:
    """Base class of differentiable ops.

    Subclasses implement ``forward(ctx, *args, **kwargs)`` returning one array
    and ``backward(ctx, grad)`` returning one gradient (or None) per
    positional argument of forward. Tensor arguments arrive as arrays.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

    @classmethod
    def name(cls):
        return cls.__name__.lower()

    @classmethod
    def apply(cls, *args, **kwargs):
        Tensor = _tensor_class()
        tensors = [a for a in args if isinstance(a, Tensor)]
        if len(tensors) > 1:
            kind = type(tensors[0].data)
            for t in tensors[1:]:  # numpy arrays are all on the CPU; cupy arrays need a device check
                if type(t.data) is not kind or kind is not np.ndarray and t.device != tensors[0].device:
                    raise RuntimeError(f"{cls.name()}: expected all tensors on one device, got "
                                       f"{tensors[0].device} and {t.device}")
        record = is_grad_enabled() and any(t.requires_grad for t in tensors)
        ctx = Context(cls, args) if record else _NO_CONTEXT
        arrays = [a.data if isinstance(a, Tensor) else a for a in args]
        with _ieee():
            out = cls.forward(ctx, *arrays, **kwargs)
        record = record and out.dtype.kind == "f"  # integer/bool results (casts, argmax...) carry no gradient
        result = Tensor._wrap(out, requires_grad=record)
        if record:
            result.grad_fn = ctx
            ctx._track_output(result)
        return result


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
    from nerve.tensor import Tensor
    if not tensor.requires_grad:
        raise RuntimeError("backward: the tensor does not require grad and has no grad_fn")
    xp = tensor._xp
    if grad is None:
        if tensor.numel() != 1:
            raise RuntimeError(
                f"backward: grad can be implicitly created only for scalar outputs, got shape {tuple(tensor.shape)}; "
                "pass a gradient of the same shape")
        grad = xp.ones(tensor.shape, dtype=tensor.data.dtype)
    else:
        grad = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=tensor.data.dtype)
        if tuple(grad.shape) != tuple(tensor.shape):
            raise RuntimeError(f"backward: gradient has shape {tuple(grad.shape)}, expected {tuple(tensor.shape)}")
    root = tensor.grad_fn
    if root is None:
        _accumulate(tensor, grad)
        return
    with no_grad(), _ieee():
        order = _topological_order(root)
        grads = {id(root): grad}
        for node in order:
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node.retained is not None:
                t = node.retained()
                if t is not None:
                    _accumulate(t, g)
            in_grads = node.fn.backward(node, g)
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
                    prev = grads.get(id(nxt))
                    grads[id(nxt)] = ig if prev is None else prev + ig


def _topological_order(root):
    """Nodes reachable from root, each after every node that feeds it a gradient."""
    order, visited = [], {id(root)}
    stack = [(root, iter(root.next_nodes))]
    from nerve.tensor import Tensor
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
    g = g.astype(leaf.data.dtype, copy=False)
    if leaf.grad is None:
        from nerve.tensor import Tensor
        leaf.grad = Tensor._wrap(g.copy())
    else:
        leaf.grad.data = leaf.grad.data + g
    # Post-accumulate hooks: a leaf may carry a list `_post_accumulate_grad_hooks` of fn(leaf), each called
    # after a gradient is added to its .grad (once per graph edge into the leaf). DistributedDataParallel
    # uses it to start a bucket's all-reduce as soon as the bucket's gradients are complete.
    for hook in getattr(leaf, "_post_accumulate_grad_hooks", ()):
        hook(leaf)
