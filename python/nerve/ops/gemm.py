"""Matrix products on the native GEMM: matmul with PyTorch's 1-D / 2-D /
batched broadcasting rules, and its gradients (also GEMMs)."""
import numpy as np

from nerve.autograd import Function
from nerve import backend
from nerve.errors import ShapeError
from nerve.ops.elementwise import unbroadcast


def matmul_arrays(a, b, trans_a=False, trans_b=False):
    """op(a) @ op(b) for arrays with >= 2 dims, batch dims broadcast.

    Transposed and row-strided operands reach the GEMM as views (it reads
    either unit-stride layout); only broadcast batch dims are materialized.
    """
    be = backend.of(a)
    if a.ndim == 2 and b.ndim == 2:
        return be.matmul(a, b, trans_a, trans_b)
    if b.ndim == 2 and not trans_a and a.flags.c_contiguous:
        # (..., M, K) @ (K, N): fold the batch into M, one big GEMM.
        out = be.matmul(a.reshape(-1, a.shape[-1]), b, False, trans_b)
        return out.reshape(a.shape[:-1] + out.shape[-1:])
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    out = be.matmul(_batched(a, batch), _batched(b, batch), trans_a, trans_b)
    return out.reshape(batch + out.shape[-2:])


def _batched(x, batch):
    """x as a 2-D operand shared by every batch (its batch dims are all 1) or as (prod(batch), rows, cols)."""
    if all(n == 1 for n in x.shape[:-2]):
        return x.reshape(x.shape[-2:])
    count = int(np.prod(batch, dtype=np.int64))  # explicit: -1 is ambiguous when a matrix dim is 0
    return backend.of(x).xp.broadcast_to(x, batch + x.shape[-2:]).reshape((count,) + x.shape[-2:])


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(f"matmul: both arguments need at least 1 dimension, got shapes {tuple(a.shape)} and "
                             f"{tuple(b.shape)}")
        if a.dtype != b.dtype:
            raise TypeError(f"matmul: expected both arguments to have the same dtype, got {a.dtype} and {b.dtype}")
        ka = a.shape[-1]
        kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if ka != kb:
            raise ShapeError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
                             f"(a's last dim {ka} != b's {'first' if b.ndim == 1 else 'second-to-last'} dim {kb})")
        try:
            if a.ndim > 2 and b.ndim > 2:
                np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ShapeError(f"matmul: batch dimensions of shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be "
                             "broadcast together") from None
        ctx.save_for_backward(a, b)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        out = matmul_arrays(a2, b2)
        if a.ndim == 1:
            out = out[..., 0, :]
        if b.ndim == 1:
            out = out[..., 0]
        return out

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = g2[..., None, :] if b.ndim > 1 else g2[..., None]
        if b.ndim == 1:
            g2 = g2[..., None]
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = unbroadcast(matmul_arrays(g2, b2, trans_b=True), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            if b2.ndim == 2 and a2.ndim > 2:
                # Sum over the batch inside one GEMM: (B*M, K)^T @ (B*M, N).
                k = a2.shape[-1]
                gb = matmul_arrays(a2.reshape(-1, k), g2.reshape(-1, g2.shape[-1]), trans_a=True)
            else:
                gb = unbroadcast(matmul_arrays(a2, g2, trans_a=True), b2.shape)
            gb = gb.reshape(b.shape)
        return ga, gb


class Linear(Function):
    """x @ weight.T + bias with x (..., in), weight (out, in): the GEMM reads
    weight transposed in place, and the gradients are GEMMs too."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        if x.shape[-1] != weight.shape[1]:
            raise ShapeError(f"linear: input's last dim {x.shape[-1]} does not match weight's in_features "
                             f"{weight.shape[1]} (weight shape {tuple(weight.shape)})")
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        x2 = x.reshape(-1, x.shape[-1])
        be = backend.of(x)
        if bias is not None and x.dtype.name == "bfloat16":
            # bf16: the bias added to the float32 result, rounded to bf16 once (PyTorch's bf16 linear)
            out = be.matmul(x2, weight, trans_b=True, out_dtype=np.float32)
            out += be.astype(bias, np.float32)
            return be.astype(out, x.dtype).reshape(x.shape[:-1] + (weight.shape[0],))
        out = be.matmul(x2, weight, trans_b=True)
        if bias is not None:
            out += bias
        return out.reshape(x.shape[:-1] + (weight.shape[0],))

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        be = backend.of(g)
        g2 = g.reshape(-1, g.shape[-1])
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = be.matmul(g2, weight).reshape(x.shape)
        if ctx.needs_input_grad[1]:
            gw = be.matmul(g2, x.reshape(-1, x.shape[-1]), trans_a=True)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = be.sum_float32(g2, axis=0)
        return gx, gw, gb


def parse_einsum(equation, shapes):
    """(input subscripts, output subscripts) of an einsum equation, with '...' replaced by letters
    and the implicit output (no '->': the letters used once, sorted, after the '...' ones) made explicit."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(shapes):
        raise ShapeError(f"einsum: the equation {equation!r} has {len(inputs)} operands, got {len(shapes)} tensors")
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in eq]
    n_ell = max([len(s) - (len(sub) - 3) for sub, s in zip(inputs, shapes) if "..." in sub] or [0])
    ell = "".join(free[:n_ell])
    out = []
    for sub, s in zip(inputs, shapes):
        if "..." in sub:
            k = len(s) - (len(sub) - 3)
            sub = sub.replace("...", ell[n_ell - k:] if k else "")
        if len(sub) != len(s):
            raise ShapeError(f"einsum: subscripts {sub!r} do not match an operand of shape {tuple(s)}")
        out.append(sub)
    if arrow:
        output = rhs.replace("...", ell)
    else:
        letters = "".join(out)
        output = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell))
    return out, output


class Einsum(Function):
    """einsum(equation, *operands). The gradient of operand i is an einsum of the output gradient with
    the other operands; letters only operand i sums over come back by broadcasting."""

    @staticmethod
    def forward(ctx, equation, *xs):
        inputs, output = parse_einsum(equation, [x.shape for x in xs])
        ctx.info = (inputs, output)
        ctx.save_for_backward(*xs)
        return backend.of(xs[0]).xp.einsum(",".join(inputs) + "->" + output, *xs)

    @staticmethod
    def backward(ctx, g):
        inputs, output = ctx.info
        xs = ctx.saved_tensors
        xp = backend.of(g).xp
        grads = [None]
        for i, (sub, x) in enumerate(zip(inputs, xs)):
            if not ctx.needs_input_grad[i + 1]:
                grads.append(None)
                continue
            if len(set(sub)) != len(sub):
                raise NotImplementedError(f"einsum: the gradient of an operand with a repeated subscript ({sub!r}, "
                                          "a diagonal) is not supported")
            others = [(s, o) for j, (s, o) in enumerate(zip(inputs, xs)) if j != i]
            seen = set(output).union(*[set(s) for s, _ in others])
            target = "".join(c for c in sub if c in seen)
            gi = xp.einsum(",".join([output] + [s for s, _ in others]) + "->" + target, g, *[o for _, o in others])
            # letters summed only inside this operand: size-1 axes, broadcast below
            gi = gi.reshape([gi.shape[target.index(c)] if c in seen else 1 for c in sub])
            axes = tuple(k for k, n in enumerate(x.shape) if n == 1 and gi.shape[k] != 1)
            if axes:
                gi = gi.sum(axis=axes, keepdims=True)
            grads.append(xp.broadcast_to(gi, x.shape).astype(x.dtype, copy=True))
        return tuple(grads)
