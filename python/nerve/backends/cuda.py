"""``torch.backends.cuda``: ``matmul.allow_tf32`` (float32 GEMMs on the GPU run on TF32 tensor cores when set,
as in PyTorch; off by default) and friends, kept but unused."""
import types

__all__ = ["matmul", "is_built"]

matmul = types.SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True,
                               allow_bf16_reduced_precision_reduction=True)


def is_built():
    """True when nerve's CUDA kernels (nerve._cuda) were compiled."""
    try:
        from nerve import _cuda  # noqa: F401
        return True
    except ImportError:
        return False
