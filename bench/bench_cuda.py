"""GPU benchmarks of nerve's CUDA kernels against PyTorch on the same device and inputs (run by
tools/gpu_check.sh on a lent GPU; needs CuPy and a CUDA build of PyTorch).

    python -m bench.bench_cuda --family loss [--family optim ...] [--out bench/results] [--dry-run]

Each case: validate nerve against PyTorch on the same inputs (shared through DLPack), warm up, then the
median of CUDA-event timings over `--repeat` rounds, interleaved; GB/s from the bytes each pass must move.
Writes bench/results/cuda-<family>-<card>.md (the card's name from the driver). --dry-run lists the cases.
"""
import argparse
import datetime
import os
import statistics

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def cases(family):
    """(name, bytes moved, setup(cp, torch, be) -> (nerve_fn, torch_fn, check_fn))."""
    if family == "activation":
        n = 1 << 24

        def gelu(cp, torch, be):
            x = cp.random.standard_normal(n, dtype=cp.float32)
            tx = torch.from_dlpack(x)
            return (lambda: be.gelu_forward(x), lambda: torch.nn.functional.gelu(tx),
                    lambda a, b: float(abs(a - cp.from_dlpack(b)).max()) < 1e-5)
        return [(f"gelu fwd float32 n={n}", 8 * n, gelu)]
    if family == "loss":
        N, C = 8192, 32000

        def ce(cp, torch, be):
            x = cp.random.standard_normal((N, C), dtype=cp.float32)
            t = cp.random.randint(0, C, N).astype(cp.int64)
            tx, tt = torch.from_dlpack(x), torch.from_dlpack(t)

            def ours():
                loss, lse = be.cross_entropy_forward(x, t)
                return be.cross_entropy_backward(cp.ones(N, cp.float32), x, lse, t)

            def theirs():
                xr = tx.detach().requires_grad_()
                torch.nn.functional.cross_entropy(xr, tt, reduction="sum").backward()
                return xr.grad
            return ours, theirs, lambda a, b: float(abs(a - cp.from_dlpack(b)).max()) < 1e-5
        return [(f"cross_entropy fwd+bwd float32 N={N} C={C}", 3 * 4 * N * C, ce)]
    if family == "optim":
        n = 1 << 24

        def adam(cp, torch, be):
            p, g = cp.random.standard_normal(n, dtype=cp.float32), cp.random.standard_normal(n, dtype=cp.float32)
            m, v = cp.zeros(n, cp.float32), cp.zeros(n, cp.float32)
            tp = torch.nn.Parameter(torch.from_dlpack(p.copy()))
            tp.grad = torch.from_dlpack(g)
            opt = torch.optim.Adam([tp], lr=1e-3, fused=True)
            step = [0]

            def ours():
                step[0] += 1
                be.adam_step(p, m, v, None, g, lr=1e-3, step=step[0])
            return ours, opt.step, None
        return [(f"adam step float32 n={n} (torch fused=True)", 7 * 4 * n, adam)]
    if family == "gemm":  # GFLOP/s, not GB/s: its own cases and table (bench/bench_gemm.py, run_cuda)
        return []
    raise SystemExit(f"bench_cuda: no GPU benchmark for family {family!r}")


def time_pair(cp, fns, repeat, warmup=3):
    for fn in fns:
        for _ in range(warmup):
            fn()
    cp.cuda.Device().synchronize()
    times = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start, end = cp.cuda.Event(), cp.cuda.Event()
            start.record()
            fn()
            end.record()
            end.synchronize()
            times[i].append(cp.cuda.get_elapsed_time(start, end) * 1e-3)
    return [statistics.median(t) for t in times]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", action="append", required=True)
    ap.add_argument("--out", default=RESULTS)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    if args.dry_run:
        if "gemm" in args.family:
            from bench.bench_gemm import cuda_cases
            for c in cuda_cases(full=False):
                print(f"gemm: {c}")
        for fam in args.family:
            for name, nbytes, _ in cases(fam):
                print(f"{fam}: {name} ({nbytes / 1e6:.0f} MB moved)")
        return
    import cupy as cp
    import torch
    from nerve.backend import cuda as be
    card = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    tag = card.replace(" ", "-")
    os.makedirs(args.out, exist_ok=True)
    for fam in args.family:
        if fam == "gemm":
            from bench.bench_gemm import cuda_markdown
            lines = cuda_markdown(card, args.repeat)
            path = os.path.join(args.out, f"cuda-gemm-{tag}.md")
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            print(f"wrote {path}")
            continue
        lines = [f"# CUDA {fam}: nerve vs PyTorch {torch.__version__} on {card}", "",
                 f"{datetime.date.today()}, CuPy {cp.__version__}, median of {args.repeat} CUDA-event timings "
                 "after 3 warm-ups, interleaved.", "",
                 "| case | nerve ms | torch ms | nerve GB/s | torch GB/s | nerve / torch speed |",
                 "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for name, nbytes, setup in cases(fam):
            ours, theirs, check = setup(cp, torch, be)
            if check is not None and not check(ours(), theirs()):
                lines.append(f"| {name} | MISMATCH | | | | |")
                continue
            t_ours, t_theirs = time_pair(cp, [ours, theirs], args.repeat)
            lines.append(f"| {name} | {t_ours * 1e3:.3f} | {t_theirs * 1e3:.3f} | {nbytes / t_ours / 1e9:.0f} | "
                         f"{nbytes / t_theirs / 1e9:.0f} | {t_theirs / t_ours:.2f}x |")
        path = os.path.join(args.out, f"cuda-{fam}-{tag}.md")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        print("\n".join(lines))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
