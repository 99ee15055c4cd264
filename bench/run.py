"""Run benchmark suites: ``python -m bench gemm [--save] [--full] [--threads 1 2]``.

Each suite is bench/bench_<name>.py with ``run(args) -> rows``, ``UNIT`` (the
figure the rows report, e.g. "GFLOP/s") and optionally ``NOTES`` (Markdown put
above the table when saved). Run with
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`` so OpenBLAS picks its own kernel.
"""
import argparse
import importlib
import pathlib
import shlex
import sys


def suites():
    """The suite names: every bench/bench_<name>.py."""
    return sorted(path.stem[len("bench_"):] for path in pathlib.Path(__file__).parent.glob("bench_*.py"))


def main(argv=None):
    known = suites()
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0],
                                epilog="suites: " + ", ".join(known))
    p.add_argument("suites", nargs="+", metavar="suite",
                   help=f"one or more of: {', '.join(known)} (bench/bench_<suite>.py)")
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
    unknown = [name for name in args.suites if name not in known]
    if unknown:
        p.error(f"unknown suite {', '.join(map(repr, unknown))}; choose from {', '.join(known)}")
    if args.clock == "cpu" and args.threads != [1]:
        p.error("--clock cpu measures the calling thread only: use it with --threads 1")
    from bench import harness  # after the arguments are checked: it imports nerve and (if present) torch
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
