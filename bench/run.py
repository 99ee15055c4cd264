"""Run benchmark suites: ``python -m bench gemm [--save] [--full] [--threads 1 2]``.

Each suite is bench/bench_<name>.py with ``run(args) -> rows``, ``UNIT`` (the
figure the rows report, e.g. "GFLOP/s") and optionally ``NOTES`` (Markdown put
above the table when saved). Run with
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`` so OpenBLAS picks its own kernel.
"""
import argparse
import importlib
import shlex
import sys

from bench import harness


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("suites", nargs="+", help="suite names (bench/bench_<name>.py): gemm, conv, layer_norm, embedding, pool, batch_norm, ...")
    p.add_argument("--save", action="store_true", help="write bench/results/<suite>-<date>[-<tag>].{json,md}")
    p.add_argument("--tag", default="", help="suffix for the saved file names (e.g. cpu-clock)")
    p.add_argument("--full", action="store_true", help="also the largest (slow) cases")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to run (default 1 2)")
    p.add_argument("--repeat", type=int, default=7, help="timed rounds per case; the median is reported")
    p.add_argument("--filter", default="", help="only cases whose name contains this")
    p.add_argument("--note", default="", help="text added to the saved table's notes (e.g. the machine's load)")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="cpu: CPU time of the calling thread (immune to other jobs; 1 thread only)")
    args = p.parse_args(argv)
    if args.clock == "cpu" and args.threads != [1]:
        p.error("--clock cpu measures the calling thread only: use it with --threads 1")
    info = harness.machine_info()
    info["threads"] = " ".join(map(str, args.threads))  # what the cases ran with (t<n> in each case name)
    print("  ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    for name in args.suites:
        suite = importlib.import_module(f"bench.bench_{name}")
        rows = suite.run(args)
        if args.save:
            notes = "\n\n".join(n for n in (getattr(suite, "NOTES", "").strip(), args.note.strip()) if n)
            for path in harness.save(name, rows, suite.UNIT, info, notes, args.tag,
                                     "python -m bench " + shlex.join(argv or sys.argv[1:])):
                print("wrote", path)


if __name__ == "__main__":
    main()
