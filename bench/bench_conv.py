"""Convolution benchmark: nerve's conv2d kernels vs PyTorch CPU (oneDNN) when
importable, float32, forward and forward+backward (input, weight and bias
gradients), on typical CNN layers.

Standalone timing (no bench/harness.py on main yet): validate against PyTorch
first, warm up, then time nerve and PyTorch in alternating rounds (so load
from other processes on a shared machine hits both alike) and report the
median round of each. Both libraries use the same thread count.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_conv.py [--threads N] [--repeat 7] [--markdown FILE]
"""
import argparse
import statistics
import time

import numpy as np

import nerve
from nerve import kernels

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # the comparison columns are left out
    torch = None

# name, (N, C, H, W), K, kernel, stride, padding, groups
LAYERS = [
    ("3->32 3x3 p1", (32, 3, 32, 32), 32, 3, 1, 1, 1),
    ("64->64 3x3 p1", (32, 64, 32, 32), 64, 3, 1, 1, 1),
    ("128->128 3x3 p1", (16, 128, 16, 16), 128, 3, 1, 1, 1),
    ("256->256 3x3 p1", (8, 256, 14, 14), 256, 3, 1, 1, 1),
    ("1->32 5x5", (32, 1, 28, 28), 32, 5, 1, 0, 1),
    ("64->128 3x3 s2 p1", (32, 64, 32, 32), 128, 3, 2, 1, 1),
    ("256->256 1x1", (16, 256, 14, 14), 256, 1, 1, 0, 1),
    ("depthwise 64 3x3 p1", (32, 64, 32, 32), 64, 3, 1, 1, 64),
    ("depthwise 96 3x3 p1", (32, 96, 28, 28), 96, 3, 1, 1, 96),
    ("depthwise 256 3x3 p1", (8, 256, 14, 14), 256, 3, 1, 1, 256),
    ("depthwise 256 3x3 p1 7x7", (8, 256, 7, 7), 256, 3, 1, 1, 256),
]


def median_times(fns, repeat, warmup=2):
    """Median seconds per call of each function, timed in alternating rounds."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in fns]
    for _ in range(repeat):
        for t, fn in zip(times, fns):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def nerve_fns(x, w, b, stride, padding, groups):
    opt = dict(stride=stride, padding=padding, groups=groups)
    y = kernels.conv2d_forward(x, w, b, **opt)
    dy = np.ones_like(y)

    def fwd():
        return kernels.conv2d_forward(x, w, b, **opt)

    def fwd_bwd():
        kernels.conv2d_forward(x, w, b, **opt)
        kernels.conv2d_backward_input(dy, w, x.shape, **opt)
        kernels.conv2d_backward_weight(x, dy, w.shape, **opt)

    return fwd, fwd_bwd


def torch_fns(x, w, b, stride, padding, groups):
    tx = torch.from_numpy(x).requires_grad_(True)
    tw = torch.from_numpy(w).requires_grad_(True)
    tb = torch.from_numpy(b).requires_grad_(True)

    def fwd():
        with torch.no_grad():
            return TF.conv2d(tx, tw, tb, stride, padding, 1, groups)

    def fwd_bwd():
        tx.grad = tw.grad = tb.grad = None
        TF.conv2d(tx, tw, tb, stride, padding, 1, groups).sum().backward()

    return fwd, fwd_bwd, (tx, tw, tb)


def validate(x, w, b, stride, padding, groups):
    opt = dict(stride=stride, padding=padding, groups=groups)
    y = kernels.conv2d_forward(x, w, b, **opt)
    dy = np.ones_like(y)
    dx = kernels.conv2d_backward_input(dy, w, x.shape, **opt)
    dw, db = kernels.conv2d_backward_weight(x, dy, w.shape, **opt)
    if torch is None:
        return
    _, _, (tx, tw, tb) = torch_fns(x, w, b, stride, padding, groups)
    ty = TF.conv2d(tx, tw, tb, stride, padding, 1, groups)
    ty.sum().backward()
    for name, ours, ref in [("y", y, ty), ("dx", dx, tx.grad), ("dw", dw, tw.grad), ("db", db, tb.grad)]:
        ref = ref.detach().numpy()
        err = np.abs(ours - ref).max() / max(np.abs(ref).max(), 1e-30)
        assert err < 1e-4, f"{name}: relative error {err:.2e} vs PyTorch"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None, help="threads for both libraries (default: nerve's)")
    ap.add_argument("--markdown", help="also write the table to this file")
    args = ap.parse_args()
    if args.threads:
        nerve.kernels.set_num_threads(args.threads)
    threads = nerve.kernels.get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    head = (f"nerve {nerve.__version__}, ISA {nerve.kernels.isa()}, {threads} threads, float32, median of "
            f"{args.repeat}" + (f"; PyTorch {torch.__version__} (oneDNN)" if torch is not None else "; no PyTorch"))
    rows = ["| layer (N,C,H,W -> K) | GFLOP fwd | nerve fwd ms | torch fwd ms | ratio | nerve f+b ms | torch f+b ms "
            "| ratio |", "|---|---|---|---|---|---|---|---|"]
    print(head)
    cases = [(name, shape, k, ks, s, p, g, 1.0) for name, shape, k, ks, s, p, g in LAYERS]
    cases.append(("64->64 3x3 p1, denormal x", (32, 64, 32, 32), 64, 3, 1, 1, 1, 1e-39))
    for name, shape, k, ks, s, p, g, scale in cases:
        x = (rng.standard_normal(shape) * scale).astype(np.float32)
        w = rng.standard_normal((k, shape[1] // g, ks, ks)).astype(np.float32) * 0.1
        b = rng.standard_normal(k).astype(np.float32)
        validate(x, w, b, s, p, g)
        oh = (shape[2] + 2 * p - ks) // s + 1
        flops = 2 * shape[0] * k * (shape[1] // g) * ks * ks * oh * oh
        f, fb = nerve_fns(x, w, b, s, p, g)
        if torch is not None:
            tf, tfb, _ = torch_fns(x, w, b, s, p, g)
            t_f, r_f = median_times([f, tf], args.repeat)
            t_fb, r_fb = median_times([fb, tfb], args.repeat)
        else:
            t_f, t_fb = median_times([f, fb], args.repeat)
        cols = [name + f" {shape}->{k}", f"{flops / 1e9:.2f}", f"{t_f * 1e3:.2f}"]
        if torch is not None:
            cols += [f"{r_f * 1e3:.2f}", f"{t_f / r_f:.2f}x", f"{t_fb * 1e3:.2f}", f"{r_fb * 1e3:.2f}",
                     f"{t_fb / r_fb:.2f}x"]
        else:
            cols += ["-", "-", f"{t_fb * 1e3:.2f}", "-", "-"]
        rows.append("| " + " | ".join(cols) + " |")
        print(rows[-1], flush=True)
    print("ratio = nerve time / PyTorch time (lower is better, < 1 means nerve is faster)")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"# Convolution benchmark\n\n{head}\n\n" + "\n".join(rows) +
                    "\n\nratio = nerve time / PyTorch time (lower is better).\n")


if __name__ == "__main__":
    main()
