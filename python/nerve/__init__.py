"""nerve: a deep-learning library with hand-written CPU and CUDA kernels."""
__version__ = "0.1.0"
from nerve import _C
