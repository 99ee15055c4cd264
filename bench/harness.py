"""Small helpers shared by every benchmark suite (bench/bench_<family>.py).

A suite is a module with ``run(args) -> list of rows``; a row is a dict with
the keys ``case``, ``ref`` (reference name), ``ref_value``, ``ours`` and
``ratio`` (ours / ref, > 1 means nerve is faster when figures are rates), plus
any extra columns (e.g. ``torch``, ``% peak``) which the table prints as well.

- ``time_many({name: fn})``: interleaved timing, warm-up then the median of
  ``repeat`` rounds, each round long enough to be measured (the machine may be
  shared, so contenders are timed round by round rather than one after another).
- ``set_threads(n)``: the thread count of nerve, NumPy's OpenBLAS and PyTorch.
- ``validate(impls, wants, what)``: every contender's outputs against a (float64) reference.
- ``rate_rows(name, impls, passes, args)``: time every pass of every contender
  (interleaved) and turn the medians into rate rows (nerve vs PyTorch, or
  NumPy when PyTorch is absent, plus a NumPy column when there is one).
- ``print_table(rows, unit)``, ``machine_info()``, ``save(suite, rows, unit, info, notes, tag, command)``.
"""
import ctypes
import datetime
import json
import os
import platform
import statistics
import time

import numpy as np

import nerve
from nerve import _C

try:
    import torch
except ImportError:  # PyTorch is optional: its column is left out
    torch = None

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def time_many(fns, repeat=7, min_time=0.02, warmup=2, clock=time.perf_counter):
    """Median seconds per call of each callable in ``fns`` (a dict name -> fn).

    ``clock=time.thread_time`` counts only the CPU time of the calling thread:
    immune to other jobs on a shared machine, but valid only for single-threaded
    work that runs on the calling thread.
    """
    loops = {}
    for name, fn in fns.items():
        for _ in range(warmup):
            fn()
        t0 = clock()
        fn()
        once = max(clock() - t0, 1e-7)
        loops[name] = max(1, int(min_time / once))
    samples = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            n = loops[name]
            t0 = clock()
            for _ in range(n):
                fn()
            samples[name].append((clock() - t0) / n)
    return {name: statistics.median(s) for name, s in samples.items()}


def _as_tuple(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


def validate(impls, wants, what, tol=1e-4):
    """Check each contender against the reference before timing it.

    ``impls``: name -> one callable per pass (None where that contender has no
    such pass); each returns an array or a tuple of arrays. ``wants``: the
    reference outputs of each pass (an array or a tuple). The error is the
    largest absolute difference relative to the largest reference magnitude."""
    for name, fns in impls.items():
        for i, (fn, want) in enumerate(zip(fns, wants)):
            if fn is None:
                continue
            got, want = _as_tuple(fn()), _as_tuple(want)
            if len(got) != len(want):
                raise AssertionError(f"{what}: {name} pass {i} returned {len(got)} arrays, expected {len(want)}")
            for j, (a, b) in enumerate(zip(got, want)):
                a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
                if a.shape != b.shape:
                    raise AssertionError(f"{what}: {name} pass {i} output {j} has shape {a.shape}, expected {b.shape}")
                err = np.abs(a - b).max(initial=0.0) / max(np.abs(b).max(initial=0.0), 1e-30)
                if not err <= tol:
                    raise AssertionError(f"{what}: {name} pass {i} output {j} is wrong (relative error {err:.3g})")


def rate_rows(name, impls, passes, args, clock=None):
    """Rows "<name> <label>" in GB/s (or any per-second rate) for each pass.

    ``impls`` as in validate, with a "nerve" entry; ``passes``: one (label,
    amount) per pass, the amount (e.g. bytes) divided by the median time (and
    by 1e9). The reference is "torch" when present, else "numpy"; a "numpy"
    contender also gets its own columns ("-" for passes it lacks)."""
    if clock is None:
        clock = time.thread_time if getattr(args, "clock", "wall") == "cpu" else time.perf_counter
    rows = []
    for i, (label, amount) in enumerate(passes):
        fns = {n: f[i] for n, f in impls.items() if f[i] is not None}
        secs = time_many(fns, repeat=args.repeat, clock=clock)
        rate = {n: amount / s * 1e-9 for n, s in secs.items()}
        ref = "torch" if "torch" in rate else "numpy"
        row = {"case": f"{name} {label}", "ref": ref, "ref_value": rate.get(ref), "ours": rate["nerve"],
               "ratio": rate["nerve"] / rate[ref] if ref in rate else None}
        if "numpy" in impls:
            row["numpy"] = rate.get("numpy")
            row["ours/numpy"] = rate["nerve"] / rate["numpy"] if "numpy" in rate else None
        rows.append(row)
    return rows


def _openblas_setter():
    """openblas_set_num_threads from the OpenBLAS numpy loaded (any symbol suffix), or None."""
    with open("/proc/self/maps") as f:
        libs = {path for path in (line.split()[-1] for line in f) if "openblas" in path.lower() and ".so" in path}
    for path in libs:
        lib = ctypes.CDLL(path)
        for sym in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                    "openblas_set_num_threads64_", "openblas_set_num_threads"):
            if hasattr(lib, sym):
                return getattr(lib, sym)
    return None


def set_threads(n):
    """Use ``n`` threads in nerve, NumPy's OpenBLAS (when found) and PyTorch."""
    _C.set_num_threads(n)
    setter = _openblas_setter()
    if setter is not None:
        setter(ctypes.c_int(n))
    if torch is not None:
        torch.set_num_threads(n)


def machine_info():
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "isa": _C.isa(),
        "threads": _C.get_num_threads(),
        "numpy": np.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "nerve": nerve.__version__,
        "load average (1 min)": round(os.getloadavg()[0], 2),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.2f}" if abs(v) < 100 else f"{v:.1f}"
    return "-" if v is None else str(v)


def _columns(rows, unit):
    base = ["case", "ref", "ref_value", "ours", "ratio"]
    extra = [k for r in rows for k in r if k not in base]
    extra = list(dict.fromkeys(extra))
    heads = ["case", "reference", f"ref {unit}", f"ours {unit}", "ours/ref"] + extra
    return base + extra, heads


def table_lines(rows, unit, markdown=False):
    keys, heads = _columns(rows, unit)
    cells = [[_fmt(r.get(k)) for k in keys] for r in rows]
    if markdown:
        out = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
        return out + ["| " + " | ".join(c) + " |" for c in cells]
    width = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(heads)]
    line = lambda c: "  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(c, width)))
    return [line(heads), line(["-" * w for w in width])] + [line(c) for c in cells]


def print_table(rows, unit):
    print("\n".join(table_lines(rows, unit)), flush=True)


def save(suite, rows, unit, info, notes="", tag="", command=""):
    """Write bench/results/<suite>-<date>[-<tag>].json and .md; returns the two paths."""
    os.makedirs(RESULTS, exist_ok=True)
    stem = os.path.join(RESULTS, f"{suite}-{datetime.date.today().isoformat()}" + (f"-{tag}" if tag else ""))
    with open(stem + ".json", "w") as f:
        json.dump({"suite": suite, "unit": unit, "command": command, "machine": info, "rows": rows}, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(f"# {suite} benchmark\n\n")
        if command:
            f.write(f"Command: `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE {command}`\n\n")
        f.write("\n".join(f"- {k}: {v}" for k, v in info.items()) + "\n\n")
        if notes:
            f.write(notes.strip() + "\n\n")
        f.write("\n".join(table_lines(rows, unit, markdown=True)) + "\n")
    return stem + ".json", stem + ".md"
