"""GEMM on the GPU: nerve._cuda.gemm (SIMT fp32/fp64, TF32 tensor cores) against
PyTorch's cuBLAS, ``python -m bench gemm_cuda --save --tag <card>``; the cases
and notes are in bench/bench_gemm.py (run_cuda). Returns no rows, saying why,
without a GPU, CuPy, PyTorch with CUDA or nerve._cuda."""
from bench.bench_gemm import CUDA_NOTES as NOTES
from bench.bench_gemm import CUDA_UNIT as UNIT
from bench.bench_gemm import run_cuda as run

__all__ = ["NOTES", "UNIT", "run"]
