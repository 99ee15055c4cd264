"""GEMM suite: nerve._C.gemm against NumPy (OpenBLAS) and PyTorch, in GFLOP/s.

bfloat16 (run_bf16, also ``python -m bench bf16``): a, b ml_dtypes.bfloat16,
float32 out, against PyTorch's bf16 matmul (oneDNN, AMX where the CPU has it)
and nerve float32 on the same shapes; columns for each bf16 path this CPU has
(amx, avx512_bf16, and the portable path under avx512).

Cases: square sizes, DL shapes (M, K, N), transpose combos, a fused bias +
activation epilogue and a batched (attention-like) product, in float32 and
float64, on each thread count of ``--threads``. Every figure is also given as
a percentage of the FMA peak that ``_C.peak_gflops`` measures on this machine,
and multi-thread rows give ours over ours on one thread timed in the same
rounds (``vs 1t``), so both see the same machine load.
"""
import time

import numpy as np

from bench import harness
from nerve import _C

UNIT = "GFLOP/s"
NOTES = """Figures are GFLOP/s (2*M*N*K / median time); `% peak` is ours over the
register-only FMA peak from `nerve._C.peak_gflops(dtype, threads)` (best of 3);
`torch` is PyTorch's figure when it is installed; `vs 1t` is ours on this many
threads over ours on one thread, timed in the same interleaved rounds. Case names: dtype, threads, MxKxN, op(a)op(b)
(N = as stored, T = transposed)."""

SQUARES = [64, 128, 256, 512, 1024, 2048]
DL_SHAPES = [(64, 784, 256), (128, 512, 2048), (32, 1024, 4096), (4096, 64, 4096), (256, 4096, 256)]
TRANSPOSED = [(256, 256, 256), (1024, 1024, 1024), (128, 512, 2048)]
ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0, out=x),
    "gelu_tanh": lambda x: np.multiply(0.5 * x, 1 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)), out=x),
}


def _check(name, got, want, dtype):
    tol = 1e-4 if dtype == np.float32 else 1e-10
    err = np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)
    if not err <= tol:
        raise AssertionError(f"gemm bench: case {name} is wrong, relative error {err:.2e} > {tol:.0e}")


def _case(args, rng, dtype, m, k, n, ta=False, tb=False, epilogue=None, batch=None):
    """One row: validate ours against NumPy, then time ours, NumPy and PyTorch side by side."""
    lead = () if batch is None else (batch,)
    a = rng.standard_normal(lead + ((k, m) if ta else (m, k))).astype(dtype)
    b = rng.standard_normal(lead + ((n, k) if tb else (k, n))).astype(dtype)
    opa, opb = (np.swapaxes(a, -1, -2) if ta else a), (np.swapaxes(b, -1, -2) if tb else b)
    out, ref = np.empty(lead + (m, n), dtype), np.empty(lead + (m, n), dtype)
    bias = rng.standard_normal(n).astype(dtype) if epilogue else None
    name = f"{m}x{k}x{n} " + ("T" if ta else "N") + ("T" if tb else "N")
    name += f" batch {batch}" if batch else ""
    name += f" +bias+{epilogue}" if epilogue else ""

    def ours():
        _C.gemm(out, a, b, ta, tb, bias=bias, activation=epilogue or "none")

    def numpy_ref():
        np.matmul(opa, opb, out=ref)
        if epilogue:
            ref.__iadd__(bias)
            ACTIVATIONS[epilogue](ref)

    fns = {"numpy": numpy_ref, "ours": ours}
    threads = _C.get_num_threads()
    if threads > 1:  # ours on one thread, timed in the same rounds (same machine load)

        def ours_1t():
            _C.set_num_threads(1)
            ours()
            _C.set_num_threads(threads)

        fns["ours 1t"] = ours_1t
    if harness.torch is not None:
        torch = harness.torch
        ta_, tb_, tout = torch.from_numpy(opa), torch.from_numpy(opb), torch.from_numpy(np.empty_like(out))
        tbias = torch.from_numpy(bias) if epilogue else None
        tact = {"relu": torch.relu_, "gelu_tanh": lambda x: torch.nn.functional.gelu(x, approximate="tanh")}

        def torch_ref():
            torch.matmul(ta_, tb_, out=tout)
            if epilogue:
                tact[epilogue](tout.add_(tbias))

        fns["torch"] = torch_ref
    ours()
    numpy_ref()
    _check(name, out, ref, dtype)
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    secs = harness.time_many(fns, repeat=args.repeat, clock=clock)
    rate = {key: 2.0 * m * n * k * (batch or 1) / s * 1e-9 for key, s in secs.items()}
    row = {"case": name, "ref": "numpy", "ref_value": rate["numpy"], "ours": rate["ours"],
           "ratio": rate["ours"] / rate["numpy"]}
    if "torch" in rate:
        row["torch"] = rate["torch"]
        row["ours/torch"] = rate["ours"] / rate["torch"]
    if "ours 1t" in rate:
        row["vs 1t"] = rate["ours"] / rate["ours 1t"]
    return row


def _cases(args):
    squares = SQUARES + ([4096] if args.full else [])
    cases = [dict(m=s, k=s, n=s) for s in squares]
    cases += [dict(m=m, k=k, n=n) for m, k, n in DL_SHAPES]
    cases += [dict(m=m, k=k, n=n, ta=ta, tb=tb) for m, k, n in TRANSPOSED
              for ta, tb in ((False, True), (True, False), (True, True))]
    cases += [dict(m=128, k=512, n=2048, epilogue="relu"), dict(m=128, k=512, n=2048, epilogue="gelu_tanh"),
              dict(m=128, k=64, n=128, tb=True, batch=96)]
    return [c for c in cases if args.filter in f"{c['m']}x{c['k']}x{c['n']}"]


BF16_SQUARES = [256, 512, 1024, 2048]
BF16_NOTES = """bfloat16 rows: a and b bfloat16, out float32, fp32 accumulation. `ours` is
the best ISA's bf16 path (named in the case), `ref` PyTorch's bf16 matmul (bf16
out), `f32` nerve float32 on the same shape, then every lower bf16 path
(`avx512_bf16` = VDPBF16PS, `avx512` = portable: widen to float32 + fp32 kernels)."""
NOTES = NOTES + "\n\n" + BF16_NOTES


def _bf16_case(args, rng, m, k, n, ta=False, tb=False):
    import ml_dtypes

    bf = ml_dtypes.bfloat16
    a32 = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b32 = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    a, b = a32.astype(bf), b32.astype(bf)
    out, out32 = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
    best = _C.isa()
    lower = [isa for isa in ("avx512_bf16", "avx512") if isa in _C.isas()[: _C.isas().index(best)]]

    def on(isa, fn):
        def call():
            _C.set_isa(isa)
            fn()
            _C.set_isa(best)
        return call

    fns = {"ours": lambda: _C.gemm(out, a, b, ta, tb), "f32": lambda: _C.gemm(out32, a32, b32, ta, tb)}
    for isa in lower:
        fns[isa] = on(isa, lambda: _C.gemm(out, a, b, ta, tb))
    if harness.torch is not None:
        torch = harness.torch
        ta_, tb_ = torch.from_numpy(a32).bfloat16(), torch.from_numpy(b32).bfloat16()
        ta_, tb_ = (ta_.T if ta else ta_), (tb_.T if tb else tb_)
        fns["torch"] = lambda: torch.matmul(ta_, tb_)
    _C.gemm(out, a, b, ta, tb)
    want = (a.astype(np.float64).T if ta else a.astype(np.float64)) @ (b.astype(np.float64).T if tb else b.astype(np.float64))
    err = np.abs(out - want).max() / max(np.abs(want).max(), 1e-30)
    if not err <= 1e-5:
        raise AssertionError(f"gemm bench: bf16 case {m}x{k}x{n} is wrong, relative error {err:.2e}")
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    secs = harness.time_many(fns, repeat=args.repeat, clock=clock)
    rate = {key: 2.0 * m * n * k / s * 1e-9 for key, s in secs.items()}
    name = f"bf16 {best} {m}x{k}x{n} " + ("T" if ta else "N") + ("T" if tb else "N")
    ref = "torch bf16" if "torch" in rate else "nerve f32"
    row = {"case": name, "ref": ref, "ref_value": rate.get("torch", rate["f32"]), "ours": rate["ours"],
           "ratio": rate["ours"] / rate.get("torch", rate["f32"]), "f32": rate["f32"],
           "ours/f32": rate["ours"] / rate["f32"]}
    for isa in lower:
        row[isa] = rate[isa]
    return row


def run_bf16(args):
    rng = np.random.default_rng(0)
    rows = []
    squares = BF16_SQUARES + ([4096] if args.full else [])
    cases = [dict(m=s, k=s, n=s) for s in squares] + [dict(m=m, k=k, n=n) for m, k, n in DL_SHAPES]
    cases += [dict(m=1024, k=1024, n=1024, tb=True), dict(m=1024, k=1024, n=1024, ta=True)]
    cases = [c for c in cases if args.filter in f"{c['m']}x{c['k']}x{c['n']}"]
    for threads in args.threads:
        harness.set_threads(threads)
        print(f"\nbfloat16, {threads} thread(s), {args.clock} clock, best ISA {_C.isa()} (AMX: {_C.amx_status()})",
              flush=True)
        group = []
        for case in cases:
            row = _bf16_case(args, rng, **case)
            row["case"] = f"t{threads} {row['case']}"
            group.append(row)
        harness.print_table(group, UNIT)
        rows += group
    return rows


def run(args):
    rng = np.random.default_rng(0)
    rows = []
    for threads in args.threads:
        harness.set_threads(threads)
        for dtype in (np.float32, np.float64):
            dname = np.dtype(dtype).name
            peak = max(_C.peak_gflops(dname, threads) for _ in range(3))
            print(f"\n{dname}, {threads} thread(s), {args.clock} clock: FMA peak {peak:.1f} GFLOP/s", flush=True)
            group = []
            for case in _cases(args):
                row = _case(args, rng, dtype, **case)
                row["case"] = f"{dname} t{threads} {row['case']}"
                row["% peak"] = 100 * row["ours"] / peak
                group.append(row)
            harness.print_table(group, UNIT)
            rows += group
    return rows + run_bf16(args)
