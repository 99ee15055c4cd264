"""PyTorch's ``torch.cpu`` names that nerve has: ``nerve.cpu.amp.autocast`` (autocast on the CPU,
bfloat16 by default) and ``nerve.cpu.amp.GradScaler``."""
import types

from nerve.amp import GradScaler, cpu_autocast

__all__ = ["amp"]

amp = types.SimpleNamespace(autocast=cpu_autocast, GradScaler=GradScaler)
