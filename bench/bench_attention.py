"""Attention benchmark: nerve's fused flash-style CPU kernel against PyTorch's
CPU scaled_dot_product_attention (when importable) and a naive NumPy
softmax(q k^T) v, forward and forward+backward, float32; then peak memory of
forward+backward at L = S = 1k, 4k, 16k, each measured in a fresh
subprocess (VmHWM from /proc/self/status), to show that nerve's memory grows
linearly in L while the naive version's grows as L * S.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_attention.py [--out FILE.md]

Each implementation is validated against the float64 NumPy reference first.
Timings: one warm-up, then `--rounds` rounds in which the implementations
run in turn (so load from other processes hits them alike); medians.
"""
import argparse
import datetime
import os
import platform
import subprocess
import sys
import time

import numpy as np

import nerve
from nerve import kernels

try:
    import torch
except ImportError:  # PyTorch is optional
    torch = None

CONFIGS = [(4, 8, 512, 512, 64, False), (4, 8, 512, 512, 64, True),
           (1, 8, 2048, 2048, 64, False), (1, 8, 2048, 2048, 64, True)]
MEMORY_SIZES = [1024, 4096, 16384]


def naive_forward(q, k, v, causal, scale):
    s = np.matmul(q, np.swapaxes(k, -1, -2)) * q.dtype.type(scale)
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf).astype(q.dtype)
    s -= s.max(-1, keepdims=True)
    p = np.exp(s, out=s)
    p /= p.sum(-1, keepdims=True)
    return np.matmul(p, v), p


def naive_backward(g, q, k, v, p, scale):
    dv = np.matmul(np.swapaxes(p, -1, -2), g)
    dp = np.matmul(g, np.swapaxes(v, -1, -2))
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))
    return np.matmul(ds, k) * scale, np.matmul(np.swapaxes(ds, -1, -2), q) * scale, dv


def implementations(q, k, v, g, causal):
    """name -> (forward(), forward_and_backward()) closures on the same inputs."""
    scale = 1.0 / np.sqrt(q.shape[-1])
    impls = {}

    def nerve_fwd():
        return kernels.attention(q, k, v, None, causal)[0]

    def nerve_fb():
        out, lse = kernels.attention(q, k, v, None, causal)
        return kernels.attention_backward(g, q, k, v, out, lse, None, causal)

    impls["nerve"] = (nerve_fwd, nerve_fb)
    if torch is not None:
        tq, tk, tv, tg = (torch.from_numpy(x) for x in (q, k, v, g))

        def torch_fwd():
            with torch.no_grad():
                return torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=causal).numpy()

        def torch_fb():
            a, b, c = (x.detach().requires_grad_() for x in (tq, tk, tv))
            torch.nn.functional.scaled_dot_product_attention(a, b, c, is_causal=causal).backward(tg)
            return a.grad.numpy(), b.grad.numpy(), c.grad.numpy()

        impls["torch"] = (torch_fwd, torch_fb)

    def numpy_fwd():
        return naive_forward(q, k, v, causal, scale)[0]

    def numpy_fb():
        _, p = naive_forward(q, k, v, causal, scale)
        return naive_backward(g, q, k, v, p, scale)

    impls["numpy"] = (numpy_fwd, numpy_fb)
    return impls


def validate(impls, q, k, v, g, causal):
    scale = 1.0 / np.sqrt(q.shape[-1])
    q64, k64, v64, g64 = (x.astype(np.float64) for x in (q, k, v, g))
    out, p = naive_forward(q64, k64, v64, causal, scale)
    grads = naive_backward(g64, q64, k64, v64, p, scale)
    for name, (fwd, fb) in impls.items():
        err_f = np.abs(fwd() - out).max()
        err_b = max(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30) for a, b in zip(fb(), grads))
        if err_f > 1e-4 or err_b > 1e-4:
            raise SystemExit(f"{name}: validation failed, max |out err| {err_f:.3g}, max rel grad err {err_b:.3g}")


def time_rounds(impls, which, rounds, clock):
    times = {name: [] for name in impls}
    for fns in impls.values():
        fns[which]()  # warm-up
    for _ in range(rounds):
        for name, fns in impls.items():
            t0 = clock()
            fns[which]()
            times[name].append(clock() - t0)
    return {name: float(np.median(t)) for name, t in times.items()}


def memory_child(impl, L):
    """Runs in a subprocess: prints the VmHWM increase (MiB) of one forward+backward at B=H=1, D=64."""
    def hwm():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
    rng = np.random.default_rng(0)
    q, k, v, g = (rng.standard_normal((1, 1, L, 64)).astype(np.float32) for _ in range(4))
    fns = implementations(q, k, v, g, False)
    if impl == "torch":
        torch.zeros(1).numpy()  # load torch's kernels before the baseline
    base = hwm()
    fns[impl][1]()
    print(f"{hwm() - base:.1f}")


def measure_memory(impl, L):
    env = dict(os.environ)
    r = subprocess.run([sys.executable, __file__, "--memory-child", impl, str(L)], capture_output=True, text=True,
                       env=env, timeout=900)
    if r.returncode != 0:
        return f"failed ({r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode})"
    return float(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", help="also write the markdown report here")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--threads", type=int, help="threads for nerve and torch (default: all)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall: perf_counter; cpu: process CPU time (with --threads 1 it is robust to other load)")
    ap.add_argument("--memory-child", nargs=2, metavar=("IMPL", "L"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child[0], int(args.memory_child[1]))
        return

    if args.threads:
        nerve._C.set_num_threads(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    lines = [f"# Attention benchmark ({datetime.date.today().isoformat()})", "",
             f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs; "
             f"nerve ISA {nerve._C.isa()}, {nerve._C.get_num_threads()} threads; "
             + (f"torch {torch.__version__} with {torch.get_num_threads()} threads" if torch else "torch not installed"),
             f"float32, {args.clock}-clock times in ms (median of {args.rounds} rounds), ratio = other / nerve "
             f"(> 1: nerve is faster). Load average at start: {os.getloadavg()[0]:.1f}.", ""]
    names = ["nerve"] + (["torch"] if torch else []) + ["numpy"]
    head = "| B, H, L, S, D | causal | pass | " + " | ".join(names) + " | " + " | ".join(
        f"{n}/nerve" for n in names[1:]) + " | nerve GFLOP/s |"
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    rng = np.random.default_rng(0)
    for B, H, L, S, D, causal in CONFIGS:
        q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((B, H, L, D), (B, H, S, D), (B, H, S, D)))
        g = rng.standard_normal((B, H, L, D)).astype(np.float32)
        impls = implementations(q, k, v, g, causal)
        validate(impls, q, k, v, g, causal)
        flops = 4 * B * H * L * S * D * (0.5 if causal else 1)
        for which, label, mult in ((0, "fwd", 1.0), (1, "fwd+bwd", 3.5)):
            t = time_rounds(impls, which, args.rounds, clock)
            row = (f"| {B}, {H}, {L}, {S}, {D} | {causal} | {label} | "
                   + " | ".join(f"{t[n] * 1e3:.1f}" for n in names) + " | "
                   + " | ".join(f"{t[n] / t['nerve']:.2f}" for n in names[1:])
                   + f" | {flops * mult / t['nerve'] / 1e9:.1f} |")
            lines.append(row)
            print(row, flush=True)
    if not args.no_memory:
        lines += ["", "Peak memory increase (MiB, VmHWM) of one forward+backward, B = H = 1, D = 64, L = S, float32, "
                  "each in a fresh process. Inputs are 4 x L x 64 x 4 bytes (1 MiB at L = 1k); the naive L x S "
                  "matrix alone is L^2 x 4 bytes (4 MiB at 1k, 64 MiB at 4k, 1 GiB at 16k).", "",
                  "| L = S | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for L in MEMORY_SIZES:
            cells = []
            for n in names:
                if n == "numpy" and L > 4096:
                    cells.append("skipped (several GiB)")
                    continue
                m = measure_memory(n, L)
                cells.append(f"{m:.1f}" if isinstance(m, float) else m)
            row = f"| {L} | " + " | ".join(cells) + " |"
            lines.append(row)
            print(row, flush=True)
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()
