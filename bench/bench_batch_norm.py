"""Batch norm suite: nerve's batch_norm kernels against PyTorch CPU (when
importable) and NumPy, float32: BatchNorm2d on CNN-typical (N, C, H, W) shapes
and BatchNorm1d on (N, C) and (N, C, L), training forward, training
forward+backward (input, weight and bias gradients, running statistics
updated) and eval forward, in GB/s of the bytes each pass must move at least.
Validated against a float64 NumPy reference first.

nerve is called through ``nerve.backend.cpu`` (allocation included, as in
PyTorch), not ``nerve.kernels``, whose argument order is being aligned.

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench batch_norm --save``
(add ``--threads 1 --clock cpu --tag cpu-clock`` on a shared machine), or
``python bench/bench_batch_norm.py`` alone (same options).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # `bench` when run as a script
from bench import harness  # noqa: E402

from nerve.backend import cpu  # noqa: E402

torch = harness.torch
UNIT = "GB/s"
NOTES = """GB/s = minimum bytes moved / median time: x read and y written forward
(training and eval); x, y, dy and dx each once training forward+backward (the
per-channel arrays are negligible and not counted). A training forward must
read x twice unless it keeps x in cache (statistics, then normalization), so
about half the counted rate is the bandwidth it uses there. `ours/ref` > 1:
nerve is faster; `ref` is PyTorch when installed, else NumPy; `numpy` is the
NumPy version."""

EPS, MOMENTUM = 1e-5, 0.1

CASES = [
    ("BatchNorm2d (32, 64, 32, 32)", (32, 64, 32, 32)),
    ("BatchNorm2d (32, 128, 16, 16)", (32, 128, 16, 16)),
    ("BatchNorm2d (32, 256, 14, 14)", (32, 256, 14, 14)),
    ("BatchNorm2d (32, 512, 7, 7)", (32, 512, 7, 7)),
    ("BatchNorm1d (256, 1024)", (256, 1024)),
    ("BatchNorm1d (32, 128, 100)", (32, 128, 100)),
]


def _axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _bc(v, x):  # per-channel (C,) -> broadcastable against x (N, C, ...)
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def np_train_fwd(x, w, b):
    ax = _axes(x)
    mean = x.mean(ax)
    xc = x - _bc(mean, x)
    invstd = 1 / np.sqrt((xc * xc).mean(ax) + EPS)
    xhat = xc * _bc(invstd, x)
    return xhat * _bc(w, x) + _bc(b, x), xhat, invstd


def np_train_fb(x, w, b, g):
    ax = _axes(x)
    _, xhat, invstd = np_train_fwd(x, w, b)
    gb = g.sum(ax)
    gw = (g * xhat).sum(ax)
    m = x.size // x.shape[1]
    dx = _bc(w * invstd, x) * (g - _bc(gb / m, x) - xhat * _bc(gw / m, x))
    return dx, gw, gb


def np_eval_fwd(x, w, b, rm, rv):
    scale = w / np.sqrt(rv + EPS)
    return x * _bc(scale, x) + _bc(b - rm * scale, x)


def impls_for(x, w, b, g, rm, rv):
    """(train fwd, train fwd+bwd, eval fwd) for each contender; the training
    passes update copies of the running statistics, the eval pass reads rm, rv."""
    n_rm, n_rv = rm.copy(), rv.copy()

    def n_fb():
        _, mean, invstd = cpu.batch_norm_forward(x, w, b, n_rm, n_rv, True, MOMENTUM, EPS)
        return cpu.batch_norm_backward(g, x, w, mean, invstd, True)

    impls = {"nerve": (lambda: cpu.batch_norm_forward(x, w, b, n_rm, n_rv, True, MOMENTUM, EPS)[0], n_fb,
                       lambda: cpu.batch_norm_forward(x, w, b, rm, rv, False, MOMENTUM, EPS)[0])}
    if torch is not None:
        F = torch.nn.functional
        tx, tw, tb, tg, trm, trv = (torch.from_numpy(a) for a in (x, w, b, g, rm, rv))
        t_rm, t_rv = trm.clone(), trv.clone()

        def t_f():
            with torch.no_grad():
                return F.batch_norm(tx, t_rm, t_rv, tw, tb, True, MOMENTUM, EPS).numpy()

        def t_fb():
            a, c, d = (t.detach().requires_grad_() for t in (tx, tw, tb))
            F.batch_norm(a, t_rm, t_rv, c, d, True, MOMENTUM, EPS).backward(tg)
            return a.grad.numpy(), c.grad.numpy(), d.grad.numpy()

        def t_e():
            with torch.no_grad():
                return F.batch_norm(tx, trm, trv, tw, tb, False, MOMENTUM, EPS).numpy()

        impls["torch"] = (t_f, t_fb, t_e)
    impls["numpy"] = (lambda: np_train_fwd(x, w, b)[0], lambda: np_train_fb(x, w, b, g),
                      lambda: np_eval_fwd(x, w, b, rm, rv))
    return impls


def check_running_stats(x, w, b, rm, rv, what):
    """One training forward updates running_mean/var as PyTorch does (unbiased variance)."""
    r_m, r_v = rm.copy(), rv.copy()
    cpu.batch_norm_forward(x, w, b, r_m, r_v, True, MOMENTUM, EPS)
    x64, ax = x.astype(np.float64), _axes(x)
    m = x.size // x.shape[1]
    want_m = (1 - MOMENTUM) * rm + MOMENTUM * x64.mean(ax)
    want_v = (1 - MOMENTUM) * rv + MOMENTUM * x64.var(ax) * m / (m - 1)
    for got, want, name in ((r_m, want_m, "running_mean"), (r_v, want_v, "running_var")):
        if not np.allclose(got, want, rtol=1e-4, atol=1e-5):
            raise AssertionError(f"{what}: nerve {name} update is wrong")


def run(args):
    rng = np.random.default_rng(0)
    rows = []
    for threads in args.threads:
        harness.set_threads(threads)
        group = []
        for label, shape in CASES:
            name = f"{label} t{threads}"
            if args.filter not in name:
                continue
            C = shape[1]
            x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
            g = rng.standard_normal(shape).astype(np.float32)
            w, b = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
            rm = rng.standard_normal(C).astype(np.float32)
            rv = rng.uniform(0.5, 2.0, C).astype(np.float32)
            x64, g64, w64, b64, rm64, rv64 = (a.astype(np.float64) for a in (x, g, w, b, rm, rv))
            impls = impls_for(x, w, b, g, rm, rv)
            harness.validate(impls, (np_train_fwd(x64, w64, b64)[0], np_train_fb(x64, w64, b64, g64),
                                     np_eval_fwd(x64, w64, b64, rm64, rv64)), name)
            check_running_stats(x, w, b, rm, rv, name)
            group += harness.rate_rows(name, impls, (("train fwd", 2 * x.nbytes), ("train fwd+bwd", 4 * x.nbytes),
                                                     ("eval fwd", 2 * x.nbytes)), args)
        harness.print_table(group, UNIT)
        rows += group
    return rows


if __name__ == "__main__":
    from bench.run import main
    main(["batch_norm"] + sys.argv[1:])
