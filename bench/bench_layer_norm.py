"""Layer norm and embedding benchmark: nerve's native kernels against PyTorch
CPU (when importable) and NumPy, forward and forward+backward, float32.
Validated against a float64 NumPy reference first; one warm-up, then rounds
in which the implementations take turns; medians; GB/s counts the bytes
each pass must move at least (x, y, dy, dx for layer norm; rows gathered and
scattered for embedding).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_layer_norm.py [--threads 1 --clock cpu]
"""
import argparse
import os
import time

import numpy as np

import nerve
from nerve import kernels

try:
    import torch
except ImportError:  # PyTorch is optional
    torch = None


def np_layer_norm(x, w, b, eps=1e-5):
    m = x.mean(-1, keepdims=True)
    xc = x - m
    rstd = 1 / np.sqrt((xc * xc).mean(-1, keepdims=True) + eps)
    return xc * rstd * w + b, xc * rstd, rstd


def np_layer_norm_fb(x, w, b, g):
    y, xhat, rstd = np_layer_norm(x, w, b)
    gw = g * w
    dx = rstd * (gw - gw.mean(-1, keepdims=True) - xhat * (gw * xhat).mean(-1, keepdims=True))
    return dx, (g * xhat).sum(0), g.sum(0)


def layer_norm_impls(x, w, b, g):
    impls = {"nerve": (lambda: kernels.layer_norm(x, w, b)[0],
                       lambda: kernels.layer_norm_backward(g, x, *kernels.layer_norm(x, w, b)[1:], w))}
    if torch is not None:
        tx, tw, tb, tg = (torch.from_numpy(a) for a in (x, w, b, g))

        def t_fb():
            a, c, d = (t.detach().requires_grad_() for t in (tx, tw, tb))
            torch.nn.functional.layer_norm(a, (x.shape[1],), c, d).backward(tg)
            return a.grad.numpy(), c.grad.numpy(), d.grad.numpy()

        def t_f():
            with torch.no_grad():
                return torch.nn.functional.layer_norm(tx, (x.shape[1],), tw, tb).numpy()

        impls["torch"] = (t_f, t_fb)
    impls["numpy"] = (lambda: np_layer_norm(x, w, b)[0], lambda: np_layer_norm_fb(x, w, b, g))
    return impls


def embedding_impls(weight, idx, g):
    num = weight.shape[0]

    def np_fb():
        d = np.zeros_like(weight)
        np.add.at(d, idx.reshape(-1), g.reshape(-1, weight.shape[1]))
        return (d,)

    impls = {"nerve": (lambda: kernels.embedding(weight, idx),
                       lambda: (kernels.embedding(weight, idx), kernels.embedding_backward(g, idx, num))[1:])}
    if torch is not None:
        tw, ti, tg = torch.from_numpy(weight), torch.from_numpy(idx), torch.from_numpy(g)

        def t_fb():
            a = tw.detach().requires_grad_()
            torch.nn.functional.embedding(ti, a).backward(tg)
            return (a.grad.numpy(),)

        def t_f():
            with torch.no_grad():
                return torch.nn.functional.embedding(ti, tw).numpy()

        impls["torch"] = (t_f, t_fb)
    impls["numpy"] = (lambda: weight[idx], np_fb)
    return impls


def validate(impls, want_f, want_b, what):
    for name, (f, fb) in impls.items():
        ef = np.abs(f() - want_f).max()
        eb = max(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30) for a, b in zip(fb(), want_b))
        if ef > 1e-4 or eb > 1e-4:
            raise SystemExit(f"{what} {name}: validation failed ({ef:.3g}, {eb:.3g})")


def time_rounds(impls, which, rounds, clock):
    times = {n: [] for n in impls}
    for fns in impls.values():
        fns[which]()
    for _ in range(rounds):
        for n, fns in impls.items():
            t0 = clock()
            fns[which]()
            times[n].append(clock() - t0)
    return {n: float(np.median(t)) for n, t in times.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = ap.parse_args()
    if args.threads:
        nerve._C.set_num_threads(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    names = ["nerve"] + (["torch"] if torch else []) + ["numpy"]
    print(f"nerve ISA {nerve._C.isa()}, {nerve._C.get_num_threads()} threads; "
          + (f"torch {torch.__version__}, {torch.get_num_threads()} threads; " if torch else "")
          + f"{args.clock} clock, ms (median of {args.rounds}); load average {os.getloadavg()[0]:.1f}\n")
    print("| op | shape | pass | " + " | ".join(names) + " | " + " | ".join(f"{n}/nerve" for n in names[1:])
          + " | nerve GB/s |")
    print("|" + "---|" * (4 + 2 * len(names)))
    rng = np.random.default_rng(0)
    for N, C in [(8192, 512), (2048, 4096)]:
        x = rng.standard_normal((N, C)).astype(np.float32)
        w, b = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
        g = rng.standard_normal((N, C)).astype(np.float32)
        impls = layer_norm_impls(x, w, b, g)
        x64, w64, b64, g64 = (a.astype(np.float64) for a in (x, w, b, g))
        validate(impls, np_layer_norm(x64, w64, b64)[0], np_layer_norm_fb(x64, w64, b64, g64), "layer_norm")
        for which, label, nbytes in ((0, "fwd", 2 * x.nbytes), (1, "fwd+bwd", 6 * x.nbytes)):
            t = time_rounds(impls, which, args.rounds, clock)
            print(f"| layer_norm | ({N}, {C}) | {label} | " + " | ".join(f"{t[n] * 1e3:.2f}" for n in names) + " | "
                  + " | ".join(f"{t[n] / t['nerve']:.2f}" for n in names[1:]) + f" | {nbytes / t['nerve'] / 1e9:.1f} |")
    for num, dim, n in [(50000, 512, 16384), (1000, 128, 65536)]:
        weight = rng.standard_normal((num, dim)).astype(np.float32)
        idx = rng.integers(0, num, n)
        g = rng.standard_normal((n, dim)).astype(np.float32)
        impls = embedding_impls(weight, idx, g)
        want = np.zeros((num, dim))
        np.add.at(want, idx, g.astype(np.float64))
        validate(impls, weight[idx], (want,), "embedding")
        for which, label, nbytes in ((0, "fwd", 2 * g.nbytes), (1, "fwd+bwd", 4 * g.nbytes + weight.nbytes)):
            t = time_rounds(impls, which, args.rounds, clock)
            print(f"| embedding | ({num}, {dim}) x {n} | {label} | " + " | ".join(f"{t[k] * 1e3:.2f}" for k in names)
                  + " | " + " | ".join(f"{t[k] / t['nerve']:.2f}" for k in names[1:])
                  + f" | {nbytes / t['nerve'] / 1e9:.1f} |")


if __name__ == "__main__":
    main()
