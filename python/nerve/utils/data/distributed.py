"""``torch.utils.data.distributed``: DistributedSampler (nerve.distributed.sampler)."""
from nerve.distributed.sampler import DistributedSampler

__all__ = ["DistributedSampler"]
