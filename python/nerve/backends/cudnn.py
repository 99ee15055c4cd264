"""``torch.backends.cudnn``'s flags: nerve has no cuDNN, so they are kept but change nothing."""
__all__ = ["enabled", "benchmark", "deterministic", "allow_tf32", "is_available", "version"]

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available():
    return False


def version():
    return None
