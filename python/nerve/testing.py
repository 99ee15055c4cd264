"""Test helpers: central-difference gradient checks in float64."""
import numpy as np

from nerve.tensor import Tensor


def numerical_grad(fn, inputs, index, eps=1e-6):
    """d sum(fn(*inputs) * w) / d inputs[index] by central differences, for a fixed random w."""
    x = inputs[index]
    out = fn(*inputs)
    w = np.random.default_rng(1234).standard_normal(out.shape)
    grad = np.zeros(x.shape)
    flat = x.data.reshape(-1)  # x.data is contiguous: gradcheck copies inputs
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = float((np.asarray(fn(*inputs).data, dtype=np.float64) * w).sum())
        flat[i] = old - eps
        minus = float((np.asarray(fn(*inputs).data, dtype=np.float64) * w).sum())
        flat[i] = old
        grad.reshape(-1)[i] = (plus - minus) / (2 * eps)
    return grad, w


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, raise_exception=True):
    """Compare autograd gradients of ``fn`` with central finite differences.

    ``inputs``: tensors or arrays; floating ones are copied to contiguous
    float64 leaves that require grad (others are passed through). ``fn``
    returns one tensor. The output is reduced with fixed random weights so
    every output element takes part. Returns True, or raises AssertionError
    naming the input and the worst element.
    """
    leaves = []
    for x in inputs:
        if isinstance(x, (Tensor, np.ndarray)) and np.asarray(x.data if isinstance(x, Tensor) else x).dtype.kind == "f":
            arr = np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64, order="C")
            leaves.append(Tensor._wrap(arr, requires_grad=True))
        else:
            leaves.append(x)
    out = fn(*leaves)
    for i, x in enumerate(leaves):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        num, w = numerical_grad(fn, leaves, i, eps)
        for leaf in leaves:
            if isinstance(leaf, Tensor):
                leaf.grad = None
        out = fn(*leaves)
        out.backward(Tensor._wrap(w.astype(out.dtype)))
        ana = np.zeros(x.shape) if x.grad is None else np.asarray(x.grad.data, dtype=np.float64)
        bad = ~np.isclose(ana, num, atol=atol, rtol=rtol)
        if bad.any():
            j = np.unravel_index(np.argmax(np.abs(ana - num) * bad), ana.shape)
            msg = (f"gradcheck: input {i} of shape {tuple(x.shape)}: analytic grad {ana[j]:.6g} != numerical "
                   f"{num[j]:.6g} at index {tuple(int(v) for v in j)} ({int(bad.sum())} of {bad.size} elements differ)")
            if raise_exception:
                raise AssertionError(msg)
            return False
    return True
