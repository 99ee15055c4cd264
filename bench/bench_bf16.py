"""bfloat16 suite (``python -m bench bf16``): the bf16 GEMM against PyTorch's
bf16 matmul and nerve float32 (bench_gemm.run_bf16). Conv, attention and
training steps under autocast join here as their bf16 kernels land."""
from bench import bench_gemm

UNIT = bench_gemm.UNIT
NOTES = bench_gemm.BF16_NOTES


def run(args):
    return bench_gemm.run_bf16(args)
