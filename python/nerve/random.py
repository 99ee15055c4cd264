"""Random number generators.

``Generator`` is PyTorch's: ``manual_seed``, ``seed``, ``initial_seed``,
``get_state``/``set_state``, passed as ``generator=`` to random ops,
samplers, ``DataLoader`` and ``random_split``. It wraps a NumPy Generator
(PCG64), so its numbers differ from PyTorch's for one seed; the same seed
gives the same numbers on every run.

``default_generator`` is the one behind every random op that gets no
generator (rand, randn, dropout, init, DataLoader shuffling), so
``manual_seed`` makes runs reproducible.
"""
import pickle
import secrets
import sys

import numpy as np

__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed", "get_rng_state",
           "set_rng_state", "generator", "numpy_generator"]


_Tensor = None  # nerve.tensor.Tensor, set by register_tensor_class (tensor.py imports this module)


def register_tensor_class(cls):
    global _Tensor
    _Tensor = cls


class Generator:
    """A seeded source of random numbers (``device`` is accepted; numbers are drawn on the CPU)."""

    def __init__(self, device="cpu"):
        self.device = device
        self.manual_seed(0)

    def manual_seed(self, seed):
        """Reseed; returns self, so ``g = Generator().manual_seed(42)`` works."""
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed & 0xFFFF_FFFF_FFFF_FFFF)
        return self

    def seed(self):
        """Reseed from the OS's entropy; returns the new seed."""
        s = secrets.randbits(63)
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._seed

    def get_state(self):
        """The state as a uint8 tensor (PyTorch's ByteTensor), to save or pass to set_state."""
        blob = pickle.dumps((self._seed, self._rng.bit_generator.state))
        return _Tensor._wrap(np.frombuffer(blob, dtype=np.uint8).copy())

    def set_state(self, state):
        blob = np.asarray(state.array if isinstance(state, _Tensor) else state, dtype=np.uint8).tobytes()
        self._seed, bit_state = pickle.loads(blob)  # noqa: S301 - our own get_state's bytes
        self._rng = np.random.default_rng()
        self._rng.bit_generator.state = bit_state
        return self

    @property
    def numpy(self):
        """The NumPy Generator that draws the numbers."""
        return self._rng

    def __repr__(self):
        return f"<nerve.Generator seed={self._seed}>"


default_generator = Generator()


def manual_seed(seed):
    """Reseed the default generator (and CuPy's, when it is loaded); returns it."""
    default_generator.manual_seed(seed)
    if "cupy" in sys.modules:
        sys.modules["cupy"].random.seed(int(seed) % 2 ** 32)
    return default_generator


def seed():
    """Reseed the default generator from the OS's entropy; returns the seed."""
    return default_generator.seed()


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state):
    default_generator.set_state(state)


def generator():
    """The default generator's NumPy Generator."""
    return default_generator._rng


def numpy_generator(gen=None):
    """The NumPy Generator behind ``gen``: a nerve.Generator, a NumPy Generator, or None for the default."""
    if gen is None:
        return default_generator._rng
    if isinstance(gen, Generator):
        return gen._rng
    if isinstance(gen, np.random.Generator):
        return gen
    raise TypeError(f"generator: expected a nerve.Generator, got {type(gen).__name__}")
