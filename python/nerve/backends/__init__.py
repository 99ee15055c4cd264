"""``torch.backends``' flags that training scripts set: accepted and kept.

nerve's CPU kernels compute in full float32 (no TF32) and have no cuDNN, so
these flags change nothing; they are plain module attributes, so that
``import nerve.backends.cudnn as cudnn; cudnn.benchmark = True`` and reading
them back work. ``mps.is_available()`` is False (nerve has no Metal backend).
"""
from nerve.backends import cuda, cudnn, mkldnn, mps

__all__ = ["cuda", "cudnn", "mkldnn", "mps"]
