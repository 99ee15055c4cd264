"""nerve benchmarks: ``python -m bench <suite> [--save]`` (see bench/run.py)."""
