"""``torch.backends.mkldnn``: nerve does not use oneDNN; the flag is kept but changes nothing."""
__all__ = ["enabled", "is_available"]

enabled = True


def is_available():
    return False
