"""Datasets, the DataLoader and built-in offline data (digits, Shakespeare)."""
from nerve.data.dataloader import DataLoader, WorkerInfo, default_collate, get_worker_info
from nerve.data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from nerve.data.sampler import (
    BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler, WeightedRandomSampler,
)
from nerve.data.datasets import load_digits, load_text_corpus, train_test_split

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader", "default_collate",
           "get_worker_info", "WorkerInfo", "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler", "load_digits", "load_text_corpus",
           "train_test_split"]
