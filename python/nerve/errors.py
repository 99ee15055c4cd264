"""Exception types that PyTorch code catches.

PyTorch raises RuntimeError for shape and dtype mismatches, where nerve's
style (and numpy's) is ValueError/TypeError. Each class here subclasses
both, so ``except RuntimeError:`` in ported code and ``except ValueError:``
in nerve's own code catch the same error. Out-of-range indices raise
IndexError, as in both.
"""

__all__ = ["ShapeError", "DTypeError"]


class ShapeError(ValueError, RuntimeError):
    """Shapes that do not fit: broadcasting, matmul, cat/stack, view/reshape, expand."""


class DTypeError(TypeError, RuntimeError):
    """A dtype an op cannot take or produce (e.g. writing a float result into an int tensor in place)."""
