"""Layer norm suite: nerve's native kernels against PyTorch CPU (when
importable) and NumPy, forward and forward+backward, float32, in GB/s of the
bytes each pass must move at least (x, y, dy, dx). Validated against a float64
NumPy reference first. Embedding has its own suite (bench_embedding.py).

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench layer_norm --save``
(add ``--threads 1 --clock cpu --tag cpu-clock`` on a shared machine), or
``python bench/bench_layer_norm.py`` alone (same options).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # `bench` when run as a script
from bench import harness  # noqa: E402

from nerve import kernels  # noqa: E402

torch = harness.torch
UNIT = "GB/s"
NOTES = """GB/s = minimum bytes moved / median time (2 x size of x forward, 6 x
forward+backward). `ours/ref` > 1: nerve is faster; `ref` is PyTorch when
installed, else NumPy; `numpy` is the NumPy version."""


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


def run(args):
    rng = np.random.default_rng(0)
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
            harness.validate(impls, (np_layer_norm(x64, w64, b64)[0], np_layer_norm_fb(x64, w64, b64, g64)), name)
            group += harness.rate_rows(name, impls, (("fwd", 2 * x.nbytes), ("fwd+bwd", 6 * x.nbytes)), args)
        harness.print_table(group, UNIT)
        rows += group
    return rows


if __name__ == "__main__":
    from bench.run import main
    main(["layer_norm"] + sys.argv[1:])
