"""``torch.utils.data.dataset``: nerve.data.dataset's names."""
from nerve.data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split"]
