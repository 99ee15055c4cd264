"""Data-parallel training across processes and machines, PyTorch's torch.distributed subset.

Start one process per rank with ``mpirun -np N python train.py``; in each,
``init_process_group('mpi')`` (CPU tensors, via mpi4py) or
``init_process_group('nccl')`` (CUDA tensors, via CuPy's NCCL). Then wrap the
model in ``nerve.nn.parallel.DistributedDataParallel`` and give the data
loader a ``DistributedSampler``. Importing this package needs neither
mpi4py nor CuPy; init_process_group says what is missing.
"""
from nerve.distributed.process_group import (
    ReduceOp, all_gather, all_reduce, barrier, broadcast, destroy_process_group, get_backend, get_rank,
    get_world_size, init_process_group, is_available, is_initialized, is_mpi_available, is_nccl_available,
)
from nerve.distributed.sampler import DistributedSampler

__all__ = [
    "ReduceOp", "DistributedSampler", "all_gather", "all_reduce", "barrier", "broadcast", "destroy_process_group",
    "get_backend", "get_rank", "get_world_size", "init_process_group", "is_available", "is_initialized",
    "is_mpi_available", "is_nccl_available",
]
