"""tools/gpu_check.sh (the one script a lent GPU machine runs) stays runnable without a GPU: bash parses it,
and its dry run lists every step, each family's tests, sanitizer runs and benchmarks."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "gpu_check.sh"


def test_script_parses():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_dry_run_lists_every_step(tmp_path):
    out = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "results")], capture_output=True, text=True,
                         env=dict(os.environ, DRY_RUN="1"), timeout=60, check=True).stdout
    for step in ["versions", "build", "smoke", "test_activation", "test_loss", "test_optim", "memcheck_loss",
                 "racecheck_loss", "bench"]:
        assert f"== {step} (" in out, step
    assert "pip install --no-build-isolation" in out and "-m cuda" in out
    assert (tmp_path / "results" / "summary.txt").exists()


def test_benchmark_cases_dry_run():
    out = subprocess.run([sys.executable, "-m", "bench.bench_cuda", "--family", "activation", "--family", "loss",
                          "--family", "optim", "--dry-run"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=True).stdout
    assert "cross_entropy" in out and "adam" in out and "gelu" in out
