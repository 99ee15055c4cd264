"""Samplers and the DataLoader arguments PyTorch scripts pass (generator, batch_sampler, pin_memory...)."""
import numpy as np
import pytest

import nerve
from nerve.utils.data import (
    BatchSampler, DataLoader, RandomSampler, SequentialSampler, SubsetRandomSampler, TensorDataset,
    WeightedRandomSampler, random_split,
)


def _dataset(n=10):
    return TensorDataset(nerve.arange(n), nerve.arange(n) * 10)


def test_sequential_and_random_samplers():
    ds = _dataset()
    assert list(SequentialSampler(ds)) == list(range(10)) and len(SequentialSampler(ds)) == 10
    a = list(RandomSampler(ds, generator=nerve.Generator().manual_seed(3)))
    b = list(RandomSampler(ds, generator=nerve.Generator().manual_seed(3)))
    assert a == b and sorted(a) == list(range(10))
    s = RandomSampler(ds, replacement=True, num_samples=25, generator=nerve.Generator().manual_seed(0))
    assert len(list(s)) == len(s) == 25 and all(0 <= i < 10 for i in s)
    assert sorted(RandomSampler(ds, num_samples=15))[:2] == [0, 0]  # more than n: permutations back to back
    with pytest.raises(ValueError, match="num_samples"):
        RandomSampler(ds, num_samples=0)


def test_subset_weighted_and_batch_samplers():
    assert sorted(SubsetRandomSampler([5, 7, 9])) == [5, 7, 9]
    w = WeightedRandomSampler([0.0, 0.0, 1.0, 0.0], num_samples=6, generator=nerve.Generator())
    assert list(w) == [2] * 6 and len(w) == 6
    w = WeightedRandomSampler(nerve.tensor([1.0, 3.0]), 2000)
    assert 0.7 < np.mean(list(w)) < 0.8
    with pytest.raises(ValueError, match="without replacement"):
        WeightedRandomSampler([1.0, 0.0], 2, replacement=False)
    assert list(BatchSampler(range(7), 3, drop_last=False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, False)) == 3 and len(BatchSampler(range(7), 3, True)) == 2


def test_dataloader_with_generator_sampler_and_batch_sampler():
    ds = _dataset()
    def epoch(seed):
        return [x.tolist() for x, _ in DataLoader(ds, 4, shuffle=True, generator=nerve.Generator().manual_seed(seed))]

    first, again = epoch(1), epoch(1)
    assert first == again and sorted(sum(first, [])) == list(range(10)) and [len(b) for b in first] == [4, 4, 2]
    loader = DataLoader(ds, batch_size=3, sampler=SequentialSampler(ds), drop_last=True, pin_memory=True,
                        pin_memory_device="", collate_fn=None)
    assert [x.tolist() for x, _ in loader] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]] and len(loader) == 3
    loader = DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), 4, False))
    assert len(loader) == 3 and [y.tolist() for _, y in loader][-1] == [80, 90]
    with pytest.raises(ValueError, match="batch_sampler"):
        DataLoader(ds, batch_size=2, batch_sampler=BatchSampler(range(10), 4, False))
    with pytest.raises(ValueError, match="persistent_workers"):
        DataLoader(ds, persistent_workers=True)


def test_dataloader_accepts_worker_arguments():
    ds = _dataset(6)
    loader = DataLoader(ds, batch_size=2, num_workers=1, persistent_workers=True, prefetch_factor=4,
                        pin_memory=True, multiprocessing_context="fork")
    assert [x.tolist() for x, _ in loader] == [[0, 1], [2, 3], [4, 5]]


def test_random_split_with_generator():
    parts = random_split(range(10), [0.7, 0.3], generator=nerve.Generator().manual_seed(4))
    again = random_split(range(10), [7, 3], generator=nerve.Generator().manual_seed(4))
    assert [list(p) for p in parts] == [list(p) for p in again] and [len(p) for p in parts] == [7, 3]
    assert sorted(list(parts[0]) + list(parts[1])) == list(range(10))
