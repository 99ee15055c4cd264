"""Identity nodes that let nn.Module's full backward hooks see gradients.

Module.__call__ routes a hooked module's tensor inputs through one
``BackwardHook`` node and its tensor outputs through another (PyTorch's
BackwardHook does the same). Backward reaches the outputs' node first: its
callback records grad_output. The inputs' node then gets grad_input, and its
callback calls the hooks, whose return value (if any) replaces grad_input.
Forward returns its arrays unchanged (new Tensors sharing them).
"""
from nerve.autograd import Function


class BackwardHook(Function):
    """Identity on any number of arrays; backward passes the gradients through callback(grads)."""

    @staticmethod
    def forward(ctx, *arrays, callback):
        ctx.callback = callback
        return arrays if len(arrays) > 1 else arrays[0]

    @staticmethod
    def backward(ctx, *grads):
        out = ctx.callback(grads)
        return tuple(out)
