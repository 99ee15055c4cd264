"""Embedding suite: nerve's native gather and scatter-add kernels against
PyTorch CPU (when importable) and NumPy, forward and forward+backward, float32,
in GB/s of the bytes each pass must move at least (rows gathered and scattered
plus dweight). Validated against a float64 NumPy reference first.

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench embedding --save``
(add ``--threads 1 --clock cpu --tag cpu-clock`` on a shared machine), or
``python bench/bench_embedding.py`` alone (same options).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # `bench` when run as a script
from bench import harness  # noqa: E402

from nerve import kernels  # noqa: E402

torch = harness.torch
UNIT = "GB/s"
NOTES = """GB/s = minimum bytes moved / median time (2 x gathered rows forward,
4 x rows + the table forward+backward). `ours/ref` > 1: nerve is faster; `ref`
is PyTorch when installed, else NumPy; `numpy` is the NumPy version (np.add.at
for the gradient)."""


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


def run(args):
    rng = np.random.default_rng(0)
    rows = []
    for threads in args.threads:
        harness.set_threads(threads)
        group = []
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
            harness.validate(impls, (weight[idx], (want,)), name)
            group += harness.rate_rows(name, impls, (("fwd", 2 * g.nbytes), ("fwd+bwd", 4 * g.nbytes + weight.nbytes)),
                                       args)
        harness.print_table(group, UNIT)
        rows += group
    return rows


if __name__ == "__main__":
    from bench.run import main
    main(["embedding"] + sys.argv[1:])
