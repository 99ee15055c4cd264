"""Attention suite: nerve's fused flash-style CPU kernel (nerve.kernels.attention_forward
/ attention_backward) against PyTorch's CPU scaled_dot_product_attention (when
importable) and a naive NumPy softmax(q k^T) v, forward and forward+backward,
float32, in effective GFLOP/s; then the peak memory of one forward+backward at
L = S = 1k, 4k (and 16k with --full), each in a fresh subprocess (VmHWM), to
show that nerve's memory grows linearly in L while the naive one grows as L*S.

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench attention --save``
(add ``--threads 1 --clock cpu --tag cpu-clock`` on a shared machine), or
``python bench/bench_attention.py`` alone (same options).
"""
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # `bench` when run as a script
from bench import harness  # noqa: E402

from nerve import kernels  # noqa: E402

UNIT = "GFLOP/s"
BASE_NOTES = """Effective GFLOP/s: forward counts 4*B*H*L*S*D flops, forward+backward
14*B*H*L*S*D (the backward recomputes the probabilities), halved when causal; the
same count is used for every implementation, so ratios are time ratios. `ours/ref`
> 1: nerve is faster. `ref` is PyTorch's CPU scaled_dot_product_attention when
installed, else the naive NumPy version; `numpy` is always the naive version
(materializes the L x S matrix). Case: B, H, L, S, D, causal, threads, pass.
Every implementation is validated against a float64 NumPy reference first."""
NOTES = BASE_NOTES

CONFIGS = [(4, 8, 512, 512, 64, False), (4, 8, 512, 512, 64, True),
           (1, 8, 2048, 2048, 64, False), (1, 8, 2048, 2048, 64, True)]


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

    def ours_fb():
        out, lse = kernels.attention_forward(q, k, v, None, is_causal=causal)
        return kernels.attention_backward(g, q, k, v, out, lse, None, is_causal=causal)

    impls = {"ours": (lambda: kernels.attention_forward(q, k, v, None, is_causal=causal)[0], ours_fb)}
    torch = harness.torch
    if torch is not None:
        tq, tk, tv, tg = (torch.from_numpy(x) for x in (q, k, v, g))

        def torch_f():
            with torch.no_grad():
                return torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=causal).numpy()

        def torch_fb():
            a, b, c = (x.detach().requires_grad_() for x in (tq, tk, tv))
            torch.nn.functional.scaled_dot_product_attention(a, b, c, is_causal=causal).backward(tg)
            return a.grad.numpy(), b.grad.numpy(), c.grad.numpy()

        impls["torch"] = (torch_f, torch_fb)

    def numpy_fb():
        _, p = naive_forward(q, k, v, causal, scale)
        return naive_backward(g, q, k, v, p, scale)

    impls["numpy"] = (lambda: naive_forward(q, k, v, causal, scale)[0], numpy_fb)
    return impls


def validate(impls, q, k, v, g, causal, name):
    scale = 1.0 / np.sqrt(q.shape[-1])
    q64, k64, v64, g64 = (x.astype(np.float64) for x in (q, k, v, g))
    out, p = naive_forward(q64, k64, v64, causal, scale)
    grads = naive_backward(g64, q64, k64, v64, p, scale)
    for impl, (fwd, fb) in impls.items():
        err_f = np.abs(fwd() - out).max()
        err_b = max(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30) for a, b in zip(fb(), grads))
        if not (err_f <= 1e-4 and err_b <= 1e-4):
            raise AssertionError(f"attention bench: {impl} is wrong on {name}: |out err| {err_f:.3g}, "
                                 f"rel grad err {err_b:.3g}")


def memory_child(impl, L):
    """Runs in a subprocess: prints the VmHWM increase (MiB) of one forward+backward at B=H=1, D=64."""
    def hwm():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
    rng = np.random.default_rng(0)
    q, k, v, g = (rng.standard_normal((1, 1, L, 64)).astype(np.float32) for _ in range(4))
    fns = implementations(q, k, v, g, False)
    if impl == "torch":
        harness.torch.zeros(1).numpy()  # load torch's kernels before the baseline
    base = hwm()
    fns[impl][1]()
    print(f"{hwm() - base:.1f}")


def measure_memory(impl, L):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-m", "bench.bench_attention", "--memory-child", impl, str(L)], cwd=root,
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        return "failed: " + (r.stderr.strip().splitlines() or [str(r.returncode)])[-1]
    return f"{float(r.stdout.strip().splitlines()[-1]):.1f}"


def memory_table(full):
    names = ["ours"] + (["torch"] if harness.torch is not None else []) + ["numpy"]
    lines = ["Peak memory increase (MiB, VmHWM) of one forward+backward, B = H = 1, D = 64, L = S, float32, each "
             "in a fresh process. Inputs are 4 x L x 64 x 4 bytes (1 MiB at L = 1k); the naive L x S matrix alone "
             "is L^2 x 4 bytes (4 MiB at 1k, 64 MiB at 4k, 1 GiB at 16k).", "",
             "| L = S | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for L in [1024, 4096] + ([16384] if full else []):
        cells = ["skipped (several GiB)" if n == "numpy" and L > 4096 else measure_memory(n, L) for n in names]
        lines.append(f"| {L} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


def run(args):
    global NOTES
    rng = np.random.default_rng(0)
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    rows = []
    for threads in args.threads:
        harness.set_threads(threads)
        group = []
        for B, H, L, S, D, causal in CONFIGS:
            name = f"{B}, {H}, {L}, {S}, {D}" + (" causal" if causal else "") + f" t{threads}"
            if args.filter not in name:
                continue
            q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((B, H, L, D), (B, H, S, D), (B, H, S, D)))
            g = rng.standard_normal((B, H, L, D)).astype(np.float32)
            impls = implementations(q, k, v, g, causal)
            validate(impls, q, k, v, g, causal, name)
            for which, label, flops in ((0, "fwd", 4), (1, "fwd+bwd", 14)):
                work = flops * B * H * L * S * D * (0.5 if causal else 1)
                secs = harness.time_many({n: f[which] for n, f in impls.items()}, repeat=args.repeat, min_time=0.0,
                                         warmup=1, clock=clock)
                rate = {n: work / s * 1e-9 for n, s in secs.items()}
                ref = "torch" if "torch" in rate else "numpy"
                row = {"case": f"{name} {label}", "ref": ref, "ref_value": rate[ref], "ours": rate["ours"],
                       "ratio": rate["ours"] / rate[ref], "numpy": rate["numpy"],
                       "ours/numpy": rate["ours"] / rate["numpy"], "ours ms": secs["ours"] * 1e3}
                group.append(row)
        harness.print_table(group, UNIT)
        rows += group
    NOTES = BASE_NOTES + "\n\n" + memory_table(args.full)
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--memory-child":
        memory_child(sys.argv[2], int(sys.argv[3]))
    else:
        from bench.run import main
        main(["attention"] + sys.argv[1:])
