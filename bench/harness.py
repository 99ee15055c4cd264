"""Small helpers shared by every benchmark suite (bench/bench_<family>.py).

A suite is a module with ``run(args) -> list of rows``; a row is a dict with
the keys ``case``, ``ref`` (reference name), ``ref_value``, ``ours`` and
``ratio`` (ours / ref, > 1 means nerve is faster when figures are rates), plus
any extra columns (e.g. ``torch``, ``% peak``) which the table prints as well.

- ``time_many({name: fn})``: interleaved timing, warm-up then the median of
  ``repeat`` rounds, each round long enough to be measured (the machine may be
  shared, so contenders are timed round by round rather than one after another).
- ``set_threads(n)``: the thread count of nerve, NumPy's OpenBLAS and PyTorch.
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
