"""Datasets, DataLoader (collate, shuffling, workers and their seeds) and the built-in data."""
import collections
import os

import numpy as np
import pytest

import nerve
from nerve.data import (ConcatDataset, DataLoader, Dataset, Subset, TensorDataset, default_collate, get_worker_info,
                        load_digits, load_text_corpus, random_split, train_test_split)


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"x": np.full(2, i, np.float32), "y": i * i, "name": f"s{i}"}


class RandomAugment(Dataset):
    """Each sample draws from nerve's generator, as a random augmentation would."""

    def __len__(self):
        return 16

    def __getitem__(self, i):
        info = get_worker_info()
        return i, float(nerve.random.generator().random()), -1 if info is None else info.id


class Failing(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            raise KeyError("sample 5 is broken")
        return i


def test_tensor_dataset_and_batches():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    ds = TensorDataset(nerve.from_numpy(x), y)
    assert len(ds) == 10
    a, b = ds[3]
    np.testing.assert_array_equal(a.numpy(), x[3])
    assert int(b) == 3
    batches = list(DataLoader(ds, batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(batches[1][0].numpy(), x[4:8])
    assert len(DataLoader(ds, batch_size=4)) == 3 and len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    assert [len(b[1]) for b in DataLoader(ds, batch_size=4, drop_last=True)] == [4, 4]
    with pytest.raises(ValueError, match="tensor 1 has shape \\(9,\\), expected first dimension 10"):
        TensorDataset(x, y[:9])


def test_fast_path_matches_collate():
    x = np.random.default_rng(0).standard_normal((13, 3)).astype(np.float32)
    ds = TensorDataset(x, np.arange(13))
    fast = list(DataLoader(ds, batch_size=5))
    slow = list(DataLoader(ds, batch_size=5, collate_fn=lambda b: default_collate(b)))
    for (a, b), (c, d) in zip(fast, slow):
        np.testing.assert_array_equal(a.numpy(), c.numpy())
        np.testing.assert_array_equal(b.numpy(), d.numpy())


def test_shuffle_is_seeded_and_covers_everything():
    ds = TensorDataset(np.arange(50))
    nerve.manual_seed(3)
    first = np.concatenate([b[0].numpy() for b in DataLoader(ds, batch_size=8, shuffle=True)])
    second = np.concatenate([b[0].numpy() for b in DataLoader(ds, batch_size=8, shuffle=True)])
    nerve.manual_seed(3)
    again = np.concatenate([b[0].numpy() for b in DataLoader(ds, batch_size=8, shuffle=True)])
    assert sorted(first) == list(range(50))
    assert not np.array_equal(first, np.arange(50)) and not np.array_equal(first, second)
    np.testing.assert_array_equal(first, again)
    gen = np.random.default_rng(1)
    own = np.concatenate([b[0].numpy() for b in DataLoader(ds, batch_size=8, shuffle=True, generator=gen)])
    assert sorted(own) == list(range(50))


def test_default_collate_structures():
    batch = default_collate([Squares(4)[i] for i in range(3)])
    assert set(batch) == {"x", "y", "name"}
    assert batch["x"].shape == (3, 2) and batch["x"].dtype == nerve.float32
    assert batch["y"].dtype == nerve.int64 and batch["y"].tolist() == [0, 1, 4]
    assert batch["name"] == ["s0", "s1", "s2"]
    pair = default_collate([(1.5, True, nerve.ones(2)), (2.5, False, nerve.zeros(2))])
    assert pair[0].dtype == nerve.float64 and pair[1].dtype == nerve.bool_ and pair[2].shape == (2, 2)
    Point = collections.namedtuple("Point", "a b")
    pts = default_collate([Point(1, np.float32(2)), Point(3, np.float32(4))])
    assert isinstance(pts, Point) and pts.a.tolist() == [1, 3] and pts.b.dtype == nerve.float32
    assert isinstance(default_collate([[1, 2], [3, 4]]), list)
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object()])


def test_batch_size_none_yields_samples():
    assert [s["y"] for s in DataLoader(Squares(3), batch_size=None)] == [0, 1, 4]


def test_subset_concat_random_split():
    ds = Squares(10)
    sub = Subset(ds, [7, 2])
    assert len(sub) == 2 and sub[0]["y"] == 49
    cat = ds + Squares(3)
    assert isinstance(cat, ConcatDataset) and len(cat) == 13 and cat[11]["y"] == 1 and cat[-1]["y"] == 4
    a, b = random_split(ds, [7, 3])
    assert sorted(a.indices + b.indices) == list(range(10))
    parts = random_split(ds, [0.5, 0.3, 0.2])
    assert [len(p) for p in parts] == [5, 3, 2]
    with pytest.raises(ValueError, match="sum of input lengths"):
        random_split(ds, [3, 3])


@pytest.mark.parametrize("bad,msg", [(dict(batch_size=0), "batch_size"), (dict(num_workers=-1), "num_workers")])
def test_bad_loader_arguments(bad, msg):
    with pytest.raises(ValueError, match=msg):
        DataLoader(Squares(3), **bad)


def test_workers_match_single_process_and_keep_order():
    ds = TensorDataset(np.arange(37, dtype=np.float32).reshape(37, 1), np.arange(37))
    single = list(DataLoader(ds, batch_size=5))
    multi = list(DataLoader(ds, batch_size=5, num_workers=2))
    assert len(single) == len(multi) == 8
    for (a, b), (c, d) in zip(single, multi):
        np.testing.assert_array_equal(a.numpy(), c.numpy())
        np.testing.assert_array_equal(b.numpy(), d.numpy())
    dicts = list(DataLoader(Squares(9), batch_size=4, num_workers=3))
    assert [d["y"].tolist() for d in dicts] == [[0, 1, 4, 9], [16, 25, 36, 49], [64]]


def _draws(loader):
    out = {}
    for idx, value, worker in loader:
        for i, v, w in zip(idx.tolist(), value.tolist(), worker.tolist()):
            out[i] = (v, w)
    return out


def test_worker_seeds_differ_across_workers_and_epochs_and_repeat_with_seed():
    loader = DataLoader(RandomAugment(), batch_size=2, num_workers=2)
    nerve.manual_seed(11)
    epoch1, epoch2 = _draws(loader), _draws(loader)
    assert {w for _, w in epoch1.values()} == {0, 1}
    values = [v for v, _ in epoch1.values()]
    assert len(set(values)) == len(values)  # no augmentation repeats across workers
    assert not set(values) & {v for v, _ in epoch2.values()}  # nor across epochs
    nerve.manual_seed(11)
    assert _draws(loader) == epoch1  # reproducible


def _record_init(worker_id):
    info = get_worker_info()
    assert info.id == worker_id and info.num_workers == 2
    os.environ["NERVE_TEST_WORKER_SEED"] = str(info.seed)


class SeedEcho(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return int(os.environ["NERVE_TEST_WORKER_SEED"]), get_worker_info().seed


def test_worker_init_fn_and_seeds():
    seeds = [(a.tolist(), b.tolist()) for a, b in DataLoader(SeedEcho(), batch_size=1, num_workers=2,
                                                              worker_init_fn=_record_init)]
    assert all(a == b for a, b in seeds)
    assert len({a[0] for a, _ in seeds}) == 2 and abs(seeds[0][0][0] - seeds[1][0][0]) == 1  # base_seed + id
    assert get_worker_info() is None


def test_worker_error_is_reported():
    with pytest.raises(RuntimeError, match="(?s)in DataLoader worker .*sample 5 is broken"):
        list(DataLoader(Failing(), batch_size=2, num_workers=2))
    with pytest.raises(KeyError, match="sample 5 is broken"):
        list(DataLoader(Failing(), batch_size=2))


def test_load_digits():
    images, labels = load_digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == np.float32
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    np.testing.assert_array_equal(np.bincount(labels), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    # the first image is a zero: a ring of ink around an empty middle
    assert labels[0] == 0 and images[0, 0, 3:5, 3:5].max() < 0.2 and images[0, 0, 1, 2:6].max() > 0.8


def test_train_test_split_is_deterministic_and_stratified():
    images, labels = load_digits()
    xtr, xte, ytr, yte = train_test_split(images, labels, test_size=0.2, seed=0, stratify=labels)
    assert len(xtr) + len(xte) == 1797 and abs(len(xte) - 359) <= 5
    counts = np.bincount(yte, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 37
    nerve.manual_seed(99)  # the split ignores nerve's generator
    xtr2, xte2, _, _ = train_test_split(images, labels, test_size=0.2, seed=0, stratify=labels)
    np.testing.assert_array_equal(xte, xte2)
    _, other, _, _ = train_test_split(images, labels, test_size=0.2, seed=1)
    assert not np.array_equal(xte[:50], other[:50])
    with pytest.raises(ValueError, match="different lengths"):
        train_test_split(images, labels[:5])
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(labels, test_size=0.0)


def test_load_text_corpus():
    text = load_text_corpus()
    assert 1_000_000 < len(text) < 1_300_000
    assert text.startswith("Bernardo:\nWho's there?\n")
    assert "To be, or not to be" in text
    assert len(set(text)) < 70
    with pytest.raises(ValueError, match="unknown corpus"):
        load_text_corpus("war-and-peace")


def test_workers_stop_when_iteration_is_abandoned():
    import gc
    it = iter(DataLoader(TensorDataset(np.zeros((64, 1000), np.float32)), batch_size=4, num_workers=2))
    next(it)
    workers = list(it.workers)
    del it
    gc.collect()
    for w in workers:
        w.join(timeout=10)
        assert not w.is_alive()
