"""Parameter: a leaf Tensor that a Module registers as learnable."""
from nerve.tensor import Tensor, empty


class Parameter(Tensor):
    """A Tensor that requires grad by default and is found by Module.parameters()."""

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = empty(0)
        array = data._data if isinstance(data, Tensor) else data
        self._init(array, requires_grad)
        if isinstance(data, Tensor):
            self._view_of(data)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
