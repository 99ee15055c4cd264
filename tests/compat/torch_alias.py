"""``import nerve as torch`` for the compat programs: they read as PyTorch
code, and run on nerve only (PyTorch itself is never imported here, even
where it is installed). Use ``from tests.compat.torch_alias import torch, nn, F``."""
import nerve as torch
from nerve import nn, optim
from nerve.nn import functional as F
from nerve.utils import data

__all__ = ["torch", "nn", "F", "optim", "data"]
