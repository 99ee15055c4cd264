"""``torch.utils.data``'s names, which live in nerve.data: datasets, the
DataLoader and samplers (``from nerve.utils.data import DataLoader``)."""
from nerve.data import (
    BatchSampler, ConcatDataset, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler, Subset,
    SubsetRandomSampler, TensorDataset, WeightedRandomSampler, WorkerInfo, default_collate, get_worker_info,
    random_split,
)
from nerve.distributed.sampler import DistributedSampler
from nerve.utils.data import dataloader, dataset, distributed, sampler

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader", "default_collate",
           "get_worker_info", "WorkerInfo", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler", "DistributedSampler", "dataloader", "dataset", "distributed",
           "sampler"]
