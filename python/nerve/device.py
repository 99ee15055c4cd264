"""Devices: 'cpu' and 'cuda[:index]'."""


class device:
    """A device, as in ``nerve.device("cuda:0")``; compares equal to its string."""
    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index=None):
        if isinstance(spec, device):
            spec, index = spec.type, spec.index
        spec = str(spec)
        if ":" in spec:
            spec, idx = spec.split(":", 1)
            if not idx.isdigit():
                raise ValueError(f"device: invalid device string {spec}:{idx!r}, expected 'cpu' or 'cuda:N'")
            index = int(idx)
        if spec not in ("cpu", "cuda"):
            raise ValueError(f"device: unknown device type {spec!r}, expected 'cpu' or 'cuda'")
        if spec == "cuda" and index is None:
            index = 0
        self.type = spec
        self.index = index if spec == "cuda" else None

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except ValueError:
                return False
        return isinstance(other, device) and self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type='{self.type}'" + (f", index={self.index})" if self.index is not None else ")")


CPU = device("cpu")
