"""PyTorch's ``torch.utils`` layout: ``nerve.utils.data`` is nerve.data."""
from nerve.utils import data

__all__ = ["data"]
