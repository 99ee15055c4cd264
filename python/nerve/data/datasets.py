"""Built-in data that works offline (files in nerve/data/files, see README.md there)."""
import gzip
from pathlib import Path

import numpy as np

FILES = Path(__file__).resolve().parent / "files"


def _file(name):
    path = FILES / name
    if not path.is_file():
        raise FileNotFoundError(f"nerve.data: built-in data file {path} is missing (broken installation?)")
    return path


def load_digits():
    """The 1,797 8x8 handwritten digits (UCI, via scikit-learn's copy).

    Returns ``(images, labels)``: float32 ``(1797, 1, 8, 8)`` scaled from 0..16
    to [0, 1], and int64 ``(1797,)`` in 0..9.
    """
    with gzip.open(_file("digits.csv.gz"), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.shape != (1797, 65):
        raise ValueError(f"nerve.data.load_digits: expected a 1797 x 65 table, got {table.shape}")
    images = (table[:, :64].astype(np.float32) / np.float32(16)).reshape(-1, 1, 8, 8)
    return images, np.ascontiguousarray(table[:, 64])


def load_text_corpus(name="shakespeare"):
    """A plain-text corpus for character-level language models, as one str.

    ``"shakespeare"``: nine public-domain plays, ~1.1 million characters.
    """
    if name != "shakespeare":
        raise ValueError(f"nerve.data.load_text_corpus: unknown corpus {name!r}, available: 'shakespeare'")
    with gzip.open(_file("shakespeare.txt.gz"), "rt", encoding="utf-8") as f:
        return f.read()


def train_test_split(*arrays, test_size=0.2, seed=0, stratify=None):
    """Deterministic split of equally long arrays (or tensors) into train and test parts.

    ``test_size``: a fraction in (0, 1) or a count. With ``stratify`` (labels),
    each class keeps its proportion. The shuffle uses its own generator seeded
    with ``seed``, so the split depends on nothing else. Returns
    ``[a_train, a_test, b_train, b_test, ...]`` like scikit-learn.
    """
    if not arrays:
        raise ValueError("train_test_split: give at least one array")
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"train_test_split: arrays have different lengths {[len(a) for a in arrays]}")
    n_test = int(round(test_size * n)) if isinstance(test_size, float) else int(test_size)
    if not 0 < n_test < n:
        raise ValueError(f"train_test_split: test_size={test_size!r} leaves {n_test} of {n} samples for the test set; "
                         "expected at least one in each part")
    rng = np.random.default_rng(seed)
    if stratify is None:
        perm = rng.permutation(n)
        test, train = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    else:
        labels = np.asarray(stratify)
        test_parts = []
        for c in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == c))
            test_parts.append(idx[:int(round(len(idx) * n_test / n))])
        test = np.sort(np.concatenate(test_parts))
        train = np.setdiff1d(np.arange(n), test)
    out = []
    for a in arrays:
        out += [a[train], a[test]]
    return out
