"""DistributedSampler: each rank iterates its own share of a dataset's indices.

PyTorch's semantics: the indices (shuffled with ``seed + epoch`` when
``shuffle``, the same permutation on every rank) are padded by repeating the
first ones, or cut when ``drop_last``, to a multiple of ``num_replicas``;
rank r takes every ``num_replicas``-th index from r. Call ``set_epoch(e)``
before each epoch so the shuffle changes between epochs. The permutation
comes from NumPy's generator, so it differs from PyTorch's for one seed.
"""
import math

import numpy as np

__all__ = ["DistributedSampler"]


class DistributedSampler:
    """Indices of ``dataset`` (anything with ``len``) for one rank; pass it as a DataLoader's ``sampler``."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            from nerve.distributed import process_group as pg
            if not pg.is_initialized():
                raise RuntimeError("DistributedSampler: pass num_replicas and rank, or call "
                                   "nerve.distributed.init_process_group() first")
            num_replicas = pg.get_world_size() if num_replicas is None else num_replicas
            rank = pg.get_rank() if rank is None else rank
        num_replicas, rank = int(num_replicas), int(rank)
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % num_replicas != 0:
            self.num_samples = n // num_replicas  # drop the tail so every rank gets the same count
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch):
        """Make the next iteration use the shuffle of this epoch (same on every rank)."""
        self.epoch = int(epoch)

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            indices = np.arange(n)
        if self.total_size > n:  # pad by repeating from the start (several times if n is tiny)
            indices = np.resize(indices, self.total_size)
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas].tolist())

    def __len__(self):
        return self.num_samples
