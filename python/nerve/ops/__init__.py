"""Differentiable ops, one module per family. Each op is a Function whose
forward/backward work on raw arrays and call backend kernels."""
