"""``torch.utils.data.dataloader``: nerve.data.dataloader's names."""
from nerve.data.dataloader import DataLoader, WorkerInfo, default_collate, get_worker_info

__all__ = ["DataLoader", "WorkerInfo", "default_collate", "get_worker_info"]
