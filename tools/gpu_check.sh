#!/usr/bin/env bash
# Everything that must happen on a lent GPU machine (H100/H200), in one run of
# under 7 minutes: run it first whenever a GPU is available.
#
#   tools/gpu_check.sh [RESULTS_DIR]        (default gpu-results/; run from anywhere)
#   DRY_RUN=1 tools/gpu_check.sh            prints every step's command, runs none (no GPU needed)
#
# Steps, each under its own time box (a broken kernel costs only its own box),
# all within one overall deadline (GPU_CHECK_SECONDS, default 400 s); each
# writes RESULTS_DIR/<step>.log as it goes and a line to RESULTS_DIR/summary.txt:
#   1 versions   GPU, driver, nvcc, CuPy, PyTorch
#   2 build      pip install --no-build-isolation . with NERVE_CUDA=ON (no registry
#                there: scikit-build-core, pybind11, cmake and ninja must be installed)
#   3 smoke      a few kernels on a non-default stream against the CPU backend
#     nccl       DistributedDataParallel over NCCL at world size 1 (mpirun -np 1 when there is
#                an mpirun, else MPI's singleton init); skips, saying so, without mpi4py
#   4 test_<f>   pytest -m cuda, one kernel family per process (an illegal address
#                poisons the whole CUDA context), families smallest first
#   5 memcheck_<f>, racecheck_<f>   compute-sanitizer on each passing family's smallest case
#   6 bench      the passing families against PyTorch -> bench/results/cuda-<family>-<card>.md
# Exit status: 0 when every step passed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-gpu-results}"
DRY_RUN="${DRY_RUN:-0}"
DEADLINE=$((SECONDS + ${GPU_CHECK_SECONDS:-400}))
mkdir -p "$OUT"
: > "$OUT/summary.txt"
PY="${PYTHON:-python}"
export PY OUT

# Kernel families with CUDA kernels, smallest first, and each one's smallest test case (pytest -k).
FAMILIES=(activation optim loss gemm)
declare -A SMALLEST=(
  [activation]="test_gelu_matches_cpu and 17 and float32"
  [optim]="test_step_matches_cpu and adam_step and shape3 and float32"
  [loss]="test_cross_entropy_matches_cpu and (17-33 or 4-257) and float32"
  [gemm]="test_matmul_matches_cpu and False-False-float32"
)
FAILED=0
PASSED_FAMILIES=()

# step NAME SECONDS FUNCTION: runs FUNCTION under `timeout`, at most SECONDS and never past the deadline.
step() {
  local name=$1 limit=$2 fn=$3 left=$((DEADLINE - SECONDS)) rc
  if [ "$DRY_RUN" = 1 ]; then
    echo "== $name (${limit}s): $(declare -f "$fn" | sed '1,2d;$d' | sed 's/^ *//' | tr '\n' ' ')"
    return 0
  fi
  if [ "$left" -lt 10 ]; then
    echo "$name SKIPPED (overall deadline reached)" | tee -a "$OUT/summary.txt"
    FAILED=1
    return 124
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (time box ${limit}s)"
  local t0=$SECONDS
  timeout --kill-after=5 "$limit" bash -c "$fn" > "$OUT/$name.log" 2>&1
  rc=$?
  local verdict=PASS
  [ $rc -ne 0 ] && verdict="FAIL rc=$rc" && FAILED=1
  [ $rc -eq 124 ] && verdict="TIMEOUT after ${limit}s"
  echo "$name $verdict $((SECONDS - t0))s" | tee -a "$OUT/summary.txt"
  return $rc
}

versions() {
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
  nvcc --version | tail -2
  "$PY" -c 'import cupy; print("cupy", cupy.__version__, "cuda runtime", cupy.cuda.runtime.runtimeGetVersion())'
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' || echo "torch: absent"
  "$PY" --version
}

build() {
  NERVE_CUDA=ON "$PY" -m pip install --no-build-isolation --no-deps -v . 2>&1 | tail -40
  "$PY" -c 'import nerve._cuda as k; print("nerve._cuda", k.device_count(), "device(s)")'
}

smoke() {
  "$PY" - <<'PYEOF'
import numpy as np, cupy as cp
from nerve.backend import cpu, cuda
rng = np.random.default_rng(0)
x = rng.standard_normal((33, 300)).astype(np.float32)
t = rng.integers(0, 300, 33)
with cp.cuda.Stream(non_blocking=True) as s:  # the bindings launch on CuPy's current stream
    assert cuda._stream() == s.ptr != 0
    y = cuda.gelu_forward(cp.asarray(x))
    loss, lse = cuda.cross_entropy_forward(cp.asarray(x), cp.asarray(t))
    s.synchronize()
np.testing.assert_allclose(cp.asnumpy(y), cpu.gelu_forward(x), rtol=1e-5, atol=1e-6)
np.testing.assert_allclose(cp.asnumpy(loss), cpu.cross_entropy_forward(x, t)[0], rtol=1e-5, atol=1e-6)
print("smoke: gelu and cross entropy on a non-default stream match the CPU")
PYEOF
}

nccl() {
  "$PY" -c 'import mpi4py' 2>/dev/null || { echo "SKIP: mpi4py is not installed (pip install nerve[distributed])"; return 0; }
  local launch=()
  command -v mpirun >/dev/null && launch=(mpirun -np 1 --allow-run-as-root --oversubscribe)
  "${launch[@]}" "$PY" - <<'PYEOF'
import numpy as np, cupy as cp
import nerve
from nerve import distributed as dist, nn
dist.init_process_group("nccl")
assert dist.get_world_size() == 1
x = nerve.tensor(np.arange(6, dtype=np.float32), device="cuda")
dist.all_reduce(x)  # world size 1: sum over one rank leaves it unchanged
np.testing.assert_array_equal(cp.asnumpy(x.array), np.arange(6, dtype=np.float32))
nerve.manual_seed(0)
model = nn.Linear(17, 3).to("cuda")
ref = nn.Linear(17, 3).to("cuda")
ref.load_state_dict(model.state_dict())
ddp = nn.parallel.DistributedDataParallel(model)
inp = nerve.randn(5, 17, device="cuda")
ddp(inp).square().sum().backward()
ref(inp).square().sum().backward()
for a, b in zip(model.parameters(), ref.parameters()):
    np.testing.assert_allclose(cp.asnumpy(a.grad.array), cp.asnumpy(b.grad.array), rtol=1e-5, atol=1e-6)
dist.destroy_process_group()
print("nccl: all_reduce and a DDP step at world size 1 match plain training")
PYEOF
}

if [ "$DRY_RUN" != 1 ]; then export -f versions build smoke nccl; fi
step versions 30 versions
CARD=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr ' ' '-')
echo "card: ${CARD:-unknown}" >> "$OUT/summary.txt"
step build 170 build || { echo "build failed: see $OUT/build.log"; [ "$DRY_RUN" = 1 ] || exit 1; }
step smoke 30 smoke
step nccl 40 nccl

for fam in "${FAMILIES[@]}"; do
  eval "test_$fam() { \"\$PY\" -m pytest -m cuda tests/cuda_emu/test_$fam.py -x -q -p no:cacheprovider; }"
  [ "$DRY_RUN" = 1 ] || export -f "test_$fam"
  step "test_$fam" 40 "test_$fam" && PASSED_FAMILIES+=("$fam")
done

for fam in "${PASSED_FAMILIES[@]}"; do
  for tool in memcheck racecheck; do
    eval "${tool}_$fam() { compute-sanitizer --tool $tool --error-exitcode 1 \"\$PY\" -m pytest -m cuda \
      tests/cuda_emu/test_$fam.py -k \"${SMALLEST[$fam]}\" -x -q -p no:cacheprovider; }"
    [ "$DRY_RUN" = 1 ] || export -f "${tool}_$fam"
    step "${tool}_$fam" 30 "${tool}_$fam"
  done
done

if [ ${#PASSED_FAMILIES[@]} -gt 0 ]; then
  fams=""
  for fam in "${PASSED_FAMILIES[@]}"; do fams="$fams --family $fam"; done
  eval "bench() { \"\$PY\" -m bench.bench_cuda $fams --out bench/results && cp bench/results/cuda-*.md \"\$OUT\"/; }"
  [ "$DRY_RUN" = 1 ] || export -f bench
  step bench 90 bench
fi

echo "passing families: ${PASSED_FAMILIES[*]:-none}" | tee -a "$OUT/summary.txt"
echo "results in $OUT/ (summary.txt, one log per step); tables in bench/results/cuda-*.md"
exit $FAILED
