"""GEMM suite: nerve._C.gemm against NumPy (OpenBLAS) and PyTorch, in GFLOP/s.

Cases: square sizes, DL shapes (M, K, N), transpose combos, a fused bias +
activation epilogue and a batched (attention-like) product, in float32 and
float64, on each thread count of ``--threads``. Every figure is also given as
a percentage of the FMA peak that ``_C.peak_gflops`` measures on this machine.
"""
import numpy as np

from bench import harness
from nerve import _C

UNIT = "GFLOP/s"
NOTES = """Figures are GFLOP/s (2*M*N*K / median time); `% peak` is ours over the
register-only FMA peak from `nerve._C.peak_gflops(dtype, threads)`; `torch` is PyTorch's
figure when it is installed. Case names: dtype, threads, MxKxN, op(a)op(b) (N = as
stored, T = transposed). Command: `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench gemm --save`."""

SQUARES = [64, 128, 256, 512, 1024, 2048]
DL_SHAPES = [(64, 784, 256), (128, 512, 2048), (32, 1024, 4096), (4096, 64, 4096), (256, 4096, 256)]
TRANSPOSED = [(256, 256, 256), (1024, 1024, 1024), (128, 512, 2048)]


def _operands(rng, dtype, m, k, n, ta, tb, batch=None):
    lead = () if batch is None else (batch,)
    a = rng.standard_normal(lead + ((k, m) if ta else (m, k))).astype(dtype)
    b = rng.standard_normal(lead + ((n, k) if tb else (k, n))).astype(dtype)
    return a, b


def _check(name, got, want, dtype):
    tol = 1e-4 if dtype == np.float32 else 1e-10
    err = np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)
    if not err <= tol:
        raise AssertionError(f"gemm bench: case {name} is wrong, relative error {err:.2e} > {tol:.0e}")


def _case(rng, dtype, threads, m, k, n, ta=False, tb=False, epilogue=None, batch=None):
    a, b = _operands(rng, dtype, m, k, n, ta, tb, batch)
    opa = np.swapaxes(a, -1, -2) if ta else a
    opb = np.swapaxes(b, -1, -2) if tb else b
    out = np.empty((() if batch is None else (batch,)) + (m, n), dtype)
    ref = np.empty_like(out)
    bias = rng.standard_normal(n).astype(dtype) if epilogue else None
    tag = ("T" if ta else "N") + ("T" if tb else "N")
    name = f"{np.dtype(dtype).name} t{threads} {m}x{k}x{n} {tag}"
    if batch is not None:
        name += f" batch {batch}"
    if epilogue:
        name += f" +bias+{epilogue}"

    def ours():
        _C.gemm(out, a, b, ta, tb, bias=bias, activation=epilogue or "none")

    def numpy_ref():
        np.matmul(opa, opb, out=ref)
        if epilogue == "relu":
            ref.__iadd__(bias)
            np.maximum(ref, 0, out=ref)
        elif epilogue == "gelu_tanh":
            ref.__iadd__(bias)
            ref[...] = 0.5 * ref * (1 + np.tanh(0.7978845608 * (ref + 0.044715 * ref**3)))

    fns = {"numpy": numpy_ref, "ours": ours}
    if harness.torch is not None:
        torch = harness.torch
        ta_, tb_, tout = torch.from_numpy(opa), torch.from_numpy(opb), torch.from_numpy(np.empty_like(out))
        tbias = torch.from_numpy(bias) if epilogue else None
        act = {"relu": torch.relu, "gelu_tanh": lambda x: torch.nn.functional.gelu(x, approximate="tanh")}

        def torch_ref():
            torch.matmul(ta_, tb_, out=tout)
            if epilogue:
                tout.add_(tbias)
                act[epilogue](tout)

        fns["torch"] = torch_ref
    ours()
    numpy_ref()
    _check(name, out, ref, dtype)
    t = harness.time_many(fns, repeat=harness_repeat)
    flops = 2.0 * m * n * k * (batch or 1)
    rate = {key: flops / s * 1e-9 for key, s in t.items()}
    row = {"case": name, "ref": "numpy", "ref_value": rate["numpy"], "ours": rate["ours"],
           "ratio": rate["ours"] / rate["numpy"]}
    if "torch" in rate:
        row["torch"] = rate["torch"]
        row["ours/torch"] = rate["ours"] / rate["torch"]
    return row


harness_repeat = 7


def run(args):
    global harness_repeat
    harness_repeat = args.repeat
    rng = np.random.default_rng(0)
    squares = SQUARES + ([4096] if args.full else [])
    rows = []
    for threads in args.threads:
        harness.set_threads(threads)
        for dtype in (np.float32, np.float64):
            peak = _C.peak_gflops(np.dtype(dtype).name, threads)
            print(f"\n{np.dtype(dtype).name}, {threads} thread(s): FMA peak {peak:.1f} GFLOP/s", flush=True)
            cases = [(s, s, s, False, False, None, None) for s in squares]
            cases += [(m, k, n, False, False, None, None) for m, k, n in DL_SHAPES]
            cases += [(m, k, n, ta, tb, None, None) for m, k, n in TRANSPOSED
                      for ta, tb in ((False, True), (True, False), (True, True))]
            cases += [(128, 512, 2048, False, False, "relu", None), (128, 512, 2048, False, False, "gelu_tanh", None),
                      (128, 64, 128, False, True, None, 96)]
            group = []
            for m, k, n, ta, tb, epi, batch in cases:
                name = f"{m}x{k}x{n}"
                if args.filter and args.filter not in name:
                    continue
                row = _case(rng, dtype, threads, m, k, n, ta, tb, epi, batch)
                row["% peak"] = 100 * row["ours"] / peak
                group.append(row)
            harness.print_table(group, UNIT)
            rows += group
    return rows
