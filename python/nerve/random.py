"""The one seeded random generator behind every random op (rand, randn,
dropout, init, DataLoader shuffling), so ``manual_seed`` makes runs
reproducible."""
import numpy as np

_generator = np.random.default_rng(0)
_seed = 0


def manual_seed(seed):
    """Reseed nerve's generator (and CuPy's, when it is loaded)."""
    global _generator, _seed
    _seed = int(seed)
    _generator = np.random.default_rng(_seed)
    import sys
    if "cupy" in sys.modules:
        sys.modules["cupy"].random.seed(_seed)
    return _generator


def initial_seed():
    return _seed


def generator():
    """The current numpy Generator."""
    return _generator
