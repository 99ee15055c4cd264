"""Parallel training wrappers."""
from nerve.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
