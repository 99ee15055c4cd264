"""Pooling suite: nerve's max_pool2d, avg_pool2d and adaptive_avg_pool2d
kernels against PyTorch CPU (when importable) and NumPy (where a reshape does
it: 2x2 stride-2 windows and global average pooling), forward and
forward+backward, float32 NCHW, on CNN-typical shapes, in GB/s of the bytes
each pass must move at least. Validated against a float64 NumPy reference
(sliding windows) first.

nerve is called through ``nerve.backend.cpu`` (allocation included, as in
PyTorch), not ``nerve.kernels``, whose names are being unified.

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench pool --save``
(add ``--threads 1 --clock cpu --tag cpu-clock`` on a shared machine), or
``python bench/bench_pool.py`` alone (same options).
"""
import math
import os
import sys

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # `bench` when run as a script
from bench import harness  # noqa: E402

from nerve.backend import cpu  # noqa: E402

torch = harness.torch
UNIT = "GB/s"
NOTES = """GB/s = minimum bytes moved / median time: x read and y written forward;
x, y, dy and dx each once forward+backward (max pooling's int64 indices, which
nerve always writes and PyTorch writes when autograd needs them, are not
counted). PyTorch forward runs under no_grad (max pooling without indices),
forward+backward through autograd. `ours/ref` > 1: nerve is faster; `ref` is
PyTorch when installed, else NumPy; `numpy` is the NumPy version where a
reshape does it (2x2 stride 2, global average), "-" elsewhere."""

# name, op, (N, C, H, W), options: kernel, stride, padding for max/avg; output size for adaptive
CASES = [
    ("max_pool2d (32, 64, 32, 32) k2 s2", "max", (32, 64, 32, 32), (2, 2, 0)),
    ("max_pool2d (32, 64, 32, 32) k3 s2 p1", "max", (32, 64, 32, 32), (3, 2, 1)),
    ("max_pool2d (8, 256, 14, 14) k2 s2", "max", (8, 256, 14, 14), (2, 2, 0)),
    ("avg_pool2d (32, 64, 32, 32) k2 s2", "avg", (32, 64, 32, 32), (2, 2, 0)),
    ("avg_pool2d (32, 64, 32, 32) k3 s2 p1", "avg", (32, 64, 32, 32), (3, 2, 1)),
    ("avg_pool2d (8, 256, 14, 14) k2 s2", "avg", (8, 256, 14, 14), (2, 2, 0)),
    ("adaptive_avg_pool2d (8, 256, 14, 14) -> 5x5", "adaptive", (8, 256, 14, 14), (5, 5)),
    ("adaptive_avg_pool2d (8, 256, 14, 14) -> 1x1", "adaptive", (8, 256, 14, 14), (1, 1)),
    ("adaptive_avg_pool2d (32, 512, 7, 7) -> 1x1", "adaptive", (32, 512, 7, 7), (1, 1)),
]


# ----------------------------------------------------------- float64 references
def _windows(x, k, s, p, fill):
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill)
    return xp, sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]  # (N, C, OH, OW, k, k)


def ref_max_pool(x, dy, k, s, p):
    xp, win = _windows(x, k, s, p, -np.inf)
    N, C, OH, OW = win.shape[:4]
    y = win.max(axis=(-2, -1))
    arg = win.reshape(N, C, OH, OW, k * k).argmax(-1)  # first maximum, as nerve and PyTorch
    dxp = np.zeros_like(xp)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i:i + s * OH:s, j:j + s * OW:s] += dy * (arg == i * k + j)
    return y, dxp[:, :, p:p + x.shape[2], p:p + x.shape[3]]


def ref_avg_pool(x, dy, k, s, p):  # count_include_pad=True (the default)
    xp, win = _windows(x, k, s, p, 0.0)
    OH, OW = win.shape[2:4]
    dxp = np.zeros_like(xp)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i:i + s * OH:s, j:j + s * OW:s] += dy / (k * k)
    return win.mean(axis=(-2, -1)), dxp[:, :, p:p + x.shape[2], p:p + x.shape[3]]


def ref_adaptive(x, dy, OH, OW):
    N, C, H, W = x.shape
    y, dx = np.empty((N, C, OH, OW)), np.zeros_like(x)
    for oh in range(OH):
        h0, h1 = oh * H // OH, math.ceil((oh + 1) * H / OH)
        for ow in range(OW):
            w0, w1 = ow * W // OW, math.ceil((ow + 1) * W / OW)
            y[:, :, oh, ow] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
            dx[:, :, h0:h1, w0:w1] += dy[:, :, oh, ow, None, None] / ((h1 - h0) * (w1 - w0))
    return y, dx


# ------------------------------------------------------------------ contenders
def nerve_impls(op, x, g, opt):
    if op == "max":
        k, s, p = opt

        def fb():
            y, idx = cpu.max_pool2d_forward(x, k, s, p, 1, False)
            return cpu.max_pool2d_backward(g, idx, x.shape)
        return lambda: cpu.max_pool2d_forward(x, k, s, p, 1, False)[0], fb
    if op == "avg":
        k, s, p = opt

        def fb():
            cpu.avg_pool2d_forward(x, k, s, p, False, True, None)
            return cpu.avg_pool2d_backward(g, x.shape, k, s, p, False, True, None)
        return lambda: cpu.avg_pool2d_forward(x, k, s, p, False, True, None), fb

    def fb():
        cpu.adaptive_avg_pool2d_forward(x, opt)
        return cpu.adaptive_avg_pool2d_backward(g, x.shape)
    return lambda: cpu.adaptive_avg_pool2d_forward(x, opt), fb


def torch_impls(op, x, g, opt):
    F = torch.nn.functional
    if op == "max":
        fn = lambda t: F.max_pool2d(t, opt[0], opt[1], opt[2])  # noqa: E731
    elif op == "avg":
        fn = lambda t: F.avg_pool2d(t, opt[0], opt[1], opt[2])  # noqa: E731
    else:
        fn = lambda t: F.adaptive_avg_pool2d(t, opt)  # noqa: E731
    tx, tg = torch.from_numpy(x), torch.from_numpy(g)

    def f():
        with torch.no_grad():
            return fn(tx).numpy()

    def fb():
        a = tx.detach().requires_grad_()
        fn(a).backward(tg)
        return a.grad.numpy()
    return f, fb


def numpy_impls(op, x, g, opt):
    """NumPy pooling where a reshape does it, else None."""
    N, C, H, W = x.shape
    if op in ("max", "avg") and opt == (2, 2, 0) and H % 2 == 0 and W % 2 == 0:
        blocks = lambda a: a.reshape(N, C, H // 2, 2, W // 2, 2)  # noqa: E731
        if op == "max":
            def fb():
                y = blocks(x).max(axis=(3, 5))
                mask = blocks(x) == y[:, :, :, None, :, None]  # ties would double count: none in random data
                return (mask * g[:, :, :, None, :, None]).reshape(x.shape)
            return lambda: blocks(x).max(axis=(3, 5)), fb

        def fb():
            blocks(x).mean(axis=(3, 5))
            return np.broadcast_to((g * 0.25)[:, :, :, None, :, None], (N, C, H // 2, 2, W // 2, 2)).reshape(x.shape)
        return lambda: blocks(x).mean(axis=(3, 5)), fb
    if op == "adaptive" and opt == (1, 1):
        def fb():
            x.mean(axis=(2, 3), keepdims=True)
            return np.broadcast_to(g / (H * W), x.shape).copy()
        return lambda: x.mean(axis=(2, 3), keepdims=True), fb
    return None


def run(args):
    rng = np.random.default_rng(0)
    rows = []
    for threads in args.threads:
        harness.set_threads(threads)
        group = []
        for label, op, shape, opt in CASES:
            name = f"{label} t{threads}"
            if args.filter not in name:
                continue
            x = rng.standard_normal(shape).astype(np.float32)
            x64 = x.astype(np.float64)
            if op == "adaptive":
                out_shape = shape[:2] + opt
            else:
                k, s, p = opt
                out_shape = shape[:2] + tuple((n + 2 * p - k) // s + 1 for n in shape[2:])
            g = rng.standard_normal(out_shape).astype(np.float32)
            g64 = g.astype(np.float64)
            if op == "max":
                want = ref_max_pool(x64, g64, *opt)
            elif op == "avg":
                want = ref_avg_pool(x64, g64, *opt)
            else:
                want = ref_adaptive(x64, g64, *opt)
            impls = {"nerve": nerve_impls(op, x, g, opt)}
            if torch is not None:
                impls["torch"] = torch_impls(op, x, g, opt)
            np_fns = numpy_impls(op, x, g, opt)
            if np_fns is not None or torch is None:
                impls["numpy"] = np_fns or (None, None)
            harness.validate(impls, want, name)
            fwd_bytes = x.nbytes + g.nbytes
            group += harness.rate_rows(name, impls, (("fwd", fwd_bytes), ("fwd+bwd", 2 * fwd_bytes)), args)
        harness.print_table(group, UNIT)
        rows += group
    return rows


if __name__ == "__main__":
    from bench.run import main
    main(["pool"] + sys.argv[1:])
