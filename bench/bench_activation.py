"""Activation suite: nerve's GELU kernels (erf and tanh forms, forward and
forward+backward) against PyTorch CPU's F.gelu (when importable), float32, on
the (tokens, hidden) shapes of transformer MLPs, in GB/s of the bytes each
pass must move at least. Validated first against a float64 NumPy reference
(math.erf per element: no SciPy), and measured for accuracy in ulp.

nerve is called through ``nerve.backend.cpu`` (allocation included, as in
PyTorch).

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench activation --save``
(add ``--threads 1 --clock cpu --tag cpu-clock`` on a shared machine), or
``python bench/bench_activation.py`` alone (same options).
"""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # `bench` when run as a script
from bench import harness  # noqa: E402

from nerve.backend import cpu  # noqa: E402

torch = harness.torch
UNIT = "GB/s"
NOTES = """GB/s = minimum bytes moved / median time: x read and y written forward;
x and dy read and dx written for the backward, counted with the forward in
`fwd+bwd` (5 arrays). PyTorch forward runs under no_grad, forward+backward
through autograd (gelu saves x). `ours/ref` > 1: nerve is faster. There is no
NumPy contender (NumPy has no erf). Inputs ~ N(0, 3^2) (the range where gelu
bends, and its tails)."""

CASES = [
    ("gelu (4096, 1536)", (4096, 1536)),  # BERT-small MLP: 32 x 128 tokens, 4 x 384
    ("gelu (512, 3072)", (512, 3072)),
    ("gelu (65536,)", (65536,)),
]

_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu_ref(x, approximate):
    x = x.astype(np.float64)
    if approximate == "none":
        return 0.5 * x * (1 + _erf(x / math.sqrt(2)))
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def impls_for(x, g, approximate):
    impls = {"nerve": (lambda: cpu.gelu_forward(x, approximate),
                       lambda: (cpu.gelu_forward(x, approximate), cpu.gelu_backward(g, x, approximate)))}
    if torch is not None:
        F = torch.nn.functional
        tx, tg = torch.from_numpy(x), torch.from_numpy(g)

        def t_f():
            with torch.no_grad():
                return F.gelu(tx, approximate=approximate).numpy()

        def t_fb():
            a = tx.detach().requires_grad_()
            y = F.gelu(a, approximate=approximate)
            y.backward(tg)
            return y.detach().numpy(), a.grad.numpy()

        impls["torch"] = (t_f, t_fb)
    return impls


def run(args):
    rng = np.random.default_rng(0)
    rows = []
    for threads in args.threads:
        harness.set_threads(threads)
        group = []
        for label, shape in CASES:
            for approximate in ("none", "tanh"):
                name = f"{label} {approximate} t{threads}"
                if args.filter not in name:
                    continue
                x = (rng.standard_normal(shape) * 3).astype(np.float32)
                g = rng.standard_normal(shape).astype(np.float32)
                impls = impls_for(x, g, approximate)
                if x.size <= 1 << 16:  # the float64 reference is one Python call per element
                    y = gelu_ref(x, approximate)
                    harness.validate({k: (v[0], None) for k, v in impls.items()}, (y, None), name)
                group += harness.rate_rows(name, impls, (("fwd", 2 * x.nbytes), ("fwd+bwd", 5 * x.nbytes)), args)
        harness.print_table(group, UNIT)
        rows += group
    return rows


if __name__ == "__main__":
    from bench.run import main
    main(["activation"] + sys.argv[1:])
