"""Test helpers: central-difference gradient checks in float64 and
``check_op``, which compares an op with a NumPy reference (forward and
gradient) in one line."""
import numpy as np

from nerve.tensor import Tensor

__all__ = ["gradcheck", "numerical_grad", "check_op", "noncontiguous"]

_EPS32 = float(np.finfo(np.float32).eps)


def _array(x):
    return np.asarray(x.array if isinstance(x, Tensor) else x)


def noncontiguous(a):
    """A copy of ``a`` with the same values and a non-contiguous layout:
    transposed storage for >= 2 dims (as ``x.T`` gives), every other element of
    a buffer twice as large for 1 dim. 0-d and empty arrays come back as copies."""
    a = np.asarray(a)
    if a.ndim >= 2 and a.shape[-1] > 1 and a.shape[-2] > 1:
        return np.swapaxes(np.ascontiguousarray(np.swapaxes(a, -1, -2)), -1, -2)
    if a.ndim >= 1 and a.size > 1:
        buf = np.empty(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
        out = buf[..., ::2]
        out[...] = a
        return out
    return a.copy()


def _copy_keeping_layout(a):
    """float64 copy of ``a``, non-contiguous again when ``a`` was."""
    out = np.array(a, dtype=np.float64)
    return out if a.flags.c_contiguous or a.size <= 1 else noncontiguous(out)


def numerical_grad(fn, inputs, index, w, eps=1e-6):
    """d sum(fn(*inputs) * w) / d inputs[index] by central differences."""
    x = inputs[index].array
    grad = np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        old = x[i]
        x[i] = old + eps
        plus = float((np.asarray(fn(*inputs).array, dtype=np.float64) * w).sum())
        x[i] = old - eps
        minus = float((np.asarray(fn(*inputs).array, dtype=np.float64) * w).sum())
        x[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, raise_exception=True, seed=1234):
    """Compare autograd gradients of ``fn`` with central finite differences.

    ``inputs``: tensors or arrays; floating ones are copied to float64 leaves
    that require grad, keeping a non-contiguous layout when they had one
    (others, such as index arrays, are passed through). ``fn`` returns one
    tensor, reduced with fixed random weights so every output element takes
    part. Returns True, or raises AssertionError naming the input and the
    worst element.
    """
    leaves = [Tensor._wrap(_copy_keeping_layout(_array(x)), requires_grad=True)
              if isinstance(x, (Tensor, np.ndarray)) and _array(x).dtype.kind == "f" else x for x in inputs]
    out = fn(*leaves)
    w = np.random.default_rng(seed).standard_normal(out.shape)
    for i, x in enumerate(leaves):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        num = numerical_grad(fn, leaves, i, w, eps)
        for leaf in leaves:
            if isinstance(leaf, Tensor):
                leaf.grad = None
        out = fn(*leaves)
        if out.requires_grad:
            out.backward(Tensor._wrap(w.astype(out.dtype)))
        ana = np.zeros(x.shape) if x.grad is None else np.asarray(x.grad.array, dtype=np.float64)
        bad = ~np.isclose(ana, num, atol=atol, rtol=rtol)
        if bad.any():
            j = np.unravel_index(np.argmax(np.abs(ana - num) * bad), ana.shape)
            msg = (f"gradcheck: input {i} of shape {tuple(x.shape)}: analytic grad {ana[j]:.6g} != numerical "
                   f"{num[j]:.6g} at index {tuple(int(v) for v in j)} ({int(bad.sum())} of {bad.size} elements differ)")
            if raise_exception:
                raise AssertionError(msg)
            return False
    return True


def check_op(nerve_fn, numpy_fn, shapes, low=-2.0, high=2.0, grad=True, noncontig=True, seed=0, atol=1e-5,
             rtol=1e-4, device="cpu"):
    """Check ``nerve_fn`` against ``numpy_fn`` on random inputs of ``shapes``.

    - float64: forward within 1e-9 of the NumPy float64 reference;
    - float32: the output stays float32 and its error against the float64
      reference of the same (rounded) inputs is at most twice NumPy's own
      float32 error plus a few ulps (flash-attention's rule);
    - ``grad``: gradcheck in float64, on contiguous and (``noncontig``)
      non-contiguous inputs; ``atol``/``rtol`` are gradcheck's.
    Inputs are uniform in [low, high). ``nerve_fn`` takes tensors,
    ``numpy_fn`` arrays; both may close over non-float arguments. On another
    ``device`` the inputs move there and the output back (both moves are
    differentiable), so the same CPU checks cover that device's kernels.
    """
    if str(device) != "cpu":
        on_cpu = nerve_fn

        def nerve_fn(*ts):
            return on_cpu(*[t.to(device) for t in ts]).to("cpu")
    rng = np.random.default_rng(seed)
    xs = [rng.uniform(low, high, s) for s in shapes]
    ref = np.asarray(numpy_fn(*xs), dtype=np.float64)

    layouts = [xs] + ([[noncontiguous(x) for x in xs]] if noncontig else [])
    for inputs in layouts:
        out = nerve_fn(*[Tensor._wrap(x) for x in inputs])
        assert out.dtype == np.float64, f"check_op: float64 inputs gave a {out.dtype} output"
        assert tuple(out.shape) == ref.shape, f"check_op: output shape {tuple(out.shape)}, expected {ref.shape}"
        np.testing.assert_allclose(np.asarray(out.array), ref, rtol=1e-9, atol=1e-12,
                                   err_msg="check_op: float64 forward differs from the NumPy reference")

    x32 = [x.astype(np.float32) for x in xs]
    ref32 = np.asarray(numpy_fn(*[x.astype(np.float64) for x in x32]), dtype=np.float64)
    numpy_err = np.abs(np.asarray(numpy_fn(*x32), dtype=np.float64) - ref32)
    out32 = nerve_fn(*[Tensor._wrap(x) for x in x32])
    assert out32.dtype == np.float32, f"check_op: float32 inputs gave a {out32.dtype} output"
    err = np.abs(np.asarray(out32.array, dtype=np.float64) - ref32)
    tol = 2 * (numpy_err.max() if numpy_err.size else 0.0) + 4 * _EPS32 * (1 + np.abs(ref32))
    assert np.all(err <= tol), (f"check_op: float32 error {err.max():.3g} exceeds the float32 tolerance "
                                f"(NumPy's own float32 error is {numpy_err.max() if numpy_err.size else 0:.3g})")

    if grad:
        for inputs in layouts:
            gradcheck(nerve_fn, inputs, atol=atol, rtol=rtol)
    return True
