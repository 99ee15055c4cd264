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


# ------------------------------------------------------------------ CUDA cases
# nerve._cuda.gemm on a GPU against PyTorch (cuBLAS) on the same CuPy buffers:
# SIMT fp32 vs cuBLAS fp32, TF32 tensor cores vs cuBLAS TF32, SIMT fp64 vs
# cuBLAS fp64; squares to 4096, DL shapes, transposes, a fused bias + GELU
# epilogue and a batched product. Suite `gemm_cuda` (bench/bench_gemm_cuda.py);
# run only where a GPU, CuPy, PyTorch with CUDA and nerve._cuda exist
# (tools/gpu_check.sh calls it), else it says why and returns no rows.
CUDA_UNIT = "GFLOP/s"
CUDA_NOTES = """GPU figures: GFLOP/s (2*M*N*K*batch / median time over CUDA events,
after warm-up), ours = nerve._cuda.gemm, ref = torch.matmul (cuBLAS) on the same
device buffers, with torch.backends.cuda.matmul.allow_tf32 matching the case
(fp32 = both exact fp32, tf32 = both TF32 tensor cores). Epilogue rows: ours
fuses bias + activation, torch runs matmul then add_ and gelu. Targets (issue 16):
SIMT fp32 >= 0.6x cuBLAS, TF32 >= 0.7x cuBLAS at 4096."""

CUDA_SQUARES = [1024, 2048, 4096]
CUDA_DL_SHAPES = [(4096, 1024, 4096), (8192, 4096, 1024), (128, 4096, 4096)]


def cuda_unavailable_reason():
    try:
        import cupy
        from nerve import _cuda
    except ImportError as e:
        return f"no CuPy / nerve._cuda ({e})"
    if _cuda.device_count() < 1:
        return "no CUDA device"
    if harness.torch is None or not harness.torch.cuda.is_available():
        return "no PyTorch with CUDA to compare with"
    del cupy
    return None


def _cuda_time(fn, repeat, warmup=3):
    import cupy
    for _ in range(warmup):
        fn()
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    times = []
    for _ in range(repeat):
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, stop) * 1e-3)
    return float(np.median(times))


def _cuda_case(args, mode, m, k, n, ta=False, tb=False, epilogue=None, batch=None):
    import cupy
    from nerve import _cuda
    torch = harness.torch
    dtype = np.float64 if mode == "fp64" else np.float32
    tf32 = mode == "tf32"
    rng = cupy.random.default_rng(0)
    lead = () if batch is None else (batch,)
    a = rng.standard_normal(lead + ((k, m) if ta else (m, k)), dtype=dtype)
    b = rng.standard_normal(((n, k) if tb else (k, n)), dtype=dtype)  # shared by the batch
    bias = rng.standard_normal(n, dtype=dtype) if epilogue else None
    out = cupy.empty(lead + (m, n), dtype)
    ta_t, tb_t = torch.as_tensor(a, device="cuda"), torch.as_tensor(b, device="cuda")
    opa = ta_t.transpose(-1, -2) if ta else ta_t
    opb = tb_t.transpose(-1, -2) if tb else tb_t
    tbias = torch.as_tensor(bias, device="cuda") if epilogue else None
    stream = cupy.cuda.get_current_stream().ptr

    def ours():
        _cuda.gemm(out, a, b, ta, tb, bias=bias, activation=epilogue or "none", allow_tf32=tf32, stream=stream)

    def theirs():
        r = torch.matmul(opa, opb)
        if epilogue:
            r = torch.nn.functional.gelu(r.add_(tbias), approximate="tanh" if epilogue == "gelu_tanh" else "none")
        return r

    torch.backends.cuda.matmul.allow_tf32 = tf32
    ours()
    ref = torch.matmul(opa.double(), opb.double())
    if epilogue:
        ref = torch.nn.functional.gelu(ref + tbias.double(), approximate="tanh" if epilogue == "gelu_tanh" else "none")
    got = torch.as_tensor(out, device="cuda").double()
    scale = torch.matmul(opa.double().abs(), opb.double().abs()).max().item()
    err = (got - ref).abs().max().item() / max(scale, 1e-30)
    limit = 2e-3 if tf32 else 1e-5 if dtype == np.float32 else 1e-12
    name = f"{mode} {m}x{k}x{n} " + ("T" if ta else "N") + ("T" if tb else "N")
    name += f" batch {batch}" if batch else ""
    name += f" +bias+{epilogue}" if epilogue else ""
    if not err <= limit:
        raise AssertionError(f"gemm cuda bench: case {name} is wrong, error {err:.2e} of the magnitude > {limit:.0e}")
    t_ours, t_theirs = _cuda_time(ours, args.repeat), _cuda_time(theirs, args.repeat)
    flops = 2.0 * m * n * k * (batch or 1) * 1e-9
    return {"case": name, "ref": "torch (cuBLAS)", "ref_value": flops / t_theirs, "ours": flops / t_ours,
            "ratio": t_theirs / t_ours}


def cuda_cases(full=False, filter=""):
    squares = CUDA_SQUARES + ([8192] if full else [])
    cases = []
    for mode in ("fp32", "tf32"):
        cases += [dict(mode=mode, m=s, k=s, n=s) for s in squares]
        cases += [dict(mode=mode, m=m, k=k, n=n) for m, k, n in CUDA_DL_SHAPES]
        cases += [dict(mode=mode, m=4096, k=4096, n=4096, ta=ta, tb=tb) for ta, tb in ((False, True), (True, False))]
        cases += [dict(mode=mode, m=4096, k=1024, n=4096, tb=True, epilogue="gelu_tanh"),
                  dict(mode=mode, m=512, k=64, n=512, tb=True, batch=64)]
    cases += [dict(mode="fp64", m=s, k=s, n=s) for s in (1024, 2048)]
    return [c for c in cases if filter in f"{c['mode']} {c['m']}x{c['k']}x{c['n']}"]


def run_cuda(args):
    reason = cuda_unavailable_reason()
    if reason:
        print(f"gemm_cuda: skipped: {reason}", flush=True)
        return []
    rows = []
    for case in cuda_cases(args.full, args.filter):
        rows.append(_cuda_case(args, **case))
        print(f"  {rows[-1]['case']}: ours {rows[-1]['ours']:.0f} GFLOP/s, torch {rows[-1]['ref_value']:.0f} "
              f"({rows[-1]['ratio']:.2f}x)", flush=True)
    harness.print_table(rows, CUDA_UNIT)
    return rows


def cuda_markdown(card, repeat):
    """The GPU table for tools/gpu_check.sh (bench/bench_cuda.py --family gemm)."""
    import datetime
    import types
    rows = run_cuda(types.SimpleNamespace(repeat=repeat, full=False, filter=""))
    torch = harness.torch
    lines = [f"# CUDA gemm: nerve vs PyTorch {getattr(torch, '__version__', '?')} (cuBLAS) on {card}", "",
             f"{datetime.date.today()}. " + " ".join(CUDA_NOTES.split()), "",
             "| case | nerve GFLOP/s | torch GFLOP/s | nerve / torch speed |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {r['case']} | {r['ours']:.0f} | {r['ref_value']:.0f} | {r['ratio']:.2f}x |" for r in rows]
    if not rows:
        lines.append(f"| skipped: {cuda_unavailable_reason()} | | | |")
    return lines
