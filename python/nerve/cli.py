"""The ``nerve`` command: ``nerve info``, ``nerve train <model>``, ``nerve bench``."""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="nerve", description="nerve: deep learning with hand-written kernels")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="version, SIMD variant, threads, CUDA status")
    args = parser.parse_args(argv)
    if args.command == "info":
        from nerve.info import info
        info()
    return 0


if __name__ == "__main__":
    sys.exit(main())
