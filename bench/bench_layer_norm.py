"""Layer norm and embedding suite: nerve's native kernels against PyTorch CPU
(when importable) and NumPy, forward and forward+backward, float32, in GB/s of
the bytes each pass must move at least (x, y, dy, dx for layer norm; rows
gathered and scattered plus dweight for embedding). Validated against a
float64 NumPy reference first.

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench layer_norm --save``
(add ``--threads 1 --clock cpu --tag cpu-clock`` on a shared machine), or
``python bench/bench_layer_norm.py`` alone (same options).
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # `bench` when run as a script
from bench import harness  # noqa: E402

from nerve import kernels  # noqa: E402

torch = harness.torch
UNIT = "GB/s"
NOTES = """GB/s = minimum bytes moved / median time (layer norm: 2 x size of x forward,
6 x forward+backward; embedding: 2 x gathered rows forward, 4 x rows + the table
forward+backward). `ours/ref` > 1: nerve is faster; `ref` is PyTorch when installed,
else NumPy; `numpy` is the NumPy version (np.add.at for the embedding gradient)."""

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
    impls = {"nerve": (lambda: kernels.layer_norm_forward(x, w, b)[0],
                       lambda: kernels.layer_norm_backward(g, x, *kernels.layer_norm_forward(x, w, b)[1:], w))}
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

    impls = {"nerve": (lambda: kernels.embedding_forward(weight, idx),
                       lambda: (kernels.embedding_forward(weight, idx), kernels.embedding_backward(g, idx, num))[1:])}
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
        if not (ef <= 1e-4 and eb <= 1e-4):
            raise AssertionError(f"{what}: {name} is wrong ({ef:.3g}, {eb:.3g})")


def _rows(name, impls, passes, args, clock):
    rows = []
    for which, label, nbytes in passes:
        secs = harness.time_many({n: f[which] for n, f in impls.items()}, repeat=args.repeat, clock=clock)
        rate = {n: nbytes / s * 1e-9 for n, s in secs.items()}
        ref = "torch" if "torch" in rate else "numpy"
        rows.append({"case": f"{name} {label}", "ref": ref, "ref_value": rate[ref], "ours": rate["nerve"],
                     "ratio": rate["nerve"] / rate[ref], "numpy": rate["numpy"],
                     "ours/numpy": rate["nerve"] / rate["numpy"]})
    return rows


def run(args):
    rng = np.random.default_rng(0)
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    rows = []
    for threads in args.threads:
        harness.set_threads(threads)
        group = []
        for N, C in [(8192, 512), (2048, 4096)]:
            name = f"layer_norm ({N}, {C}) t{threads}"
            if args.filter not in name:
                continue
            x = rng.standard_normal((N, C)).astype(np.float32)
            w, b = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
            g = rng.standard_normal((N, C)).astype(np.float32)
            impls = layer_norm_impls(x, w, b, g)
            x64, w64, b64, g64 = (a.astype(np.float64) for a in (x, w, b, g))
            validate(impls, np_layer_norm(x64, w64, b64)[0], np_layer_norm_fb(x64, w64, b64, g64), name)
            group += _rows(name, impls, ((0, "fwd", 2 * x.nbytes), (1, "fwd+bwd", 6 * x.nbytes)), args, clock)
        for num, dim, n in [(50000, 512, 16384), (1000, 128, 65536)]:
            name = f"embedding ({num}, {dim}) x {n} t{threads}"
            if args.filter not in name:
                continue
            weight = rng.standard_normal((num, dim)).astype(np.float32)
            idx = rng.integers(0, num, n)
            g = rng.standard_normal((n, dim)).astype(np.float32)
            impls = embedding_impls(weight, idx, g)
            want = np.zeros((num, dim))
            np.add.at(want, idx, g.astype(np.float64))
            validate(impls, weight[idx], (want,), name)
            group += _rows(name, impls, ((0, "fwd", 2 * g.nbytes), (1, "fwd+bwd", 4 * g.nbytes + weight.nbytes)),
                           args, clock)
        harness.print_table(group, UNIT)
        rows += group
    return rows


if __name__ == "__main__":
    from bench.run import main
    main(["layer_norm"] + sys.argv[1:])
